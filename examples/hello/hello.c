/*
 * hello: a short batch program traced with CPROF_TRACE_FILE.
 *
 *   CPROF_TRACE_FILE=dumps/hello.trace ./hello && cprof-trace -dump dumps/hello.trace
 *
 * Four workers take jobs from a shared counter; each job is a task with a
 * "parse" and a "compute" region; the main thread logs progress.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <cprof/trace.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define WORKERS 4
#define JOBS 200

static atomic_int next_job;
static atomic_ulong checksum;

static unsigned long compute(unsigned long n)
{
	TRACE_REGION("compute");
	unsigned long a = 0, b = 1;
	for (unsigned long i = 0; i < n; i++) {
		unsigned long t = a + b;
		a = b;
		b = t;
	}
	return a;
}

static void *worker(void *arg)
{
	char name[16];
	snprintf(name, sizeof name, "worker-%d", (int)(intptr_t)arg);
	pthread_setname_np(pthread_self(), name);
	TRACE_LOG("worker", "%s ready", name);
	for (int job; (job = atomic_fetch_add(&next_job, 1)) < JOBS;) {
		uint64_t task = TRACE_TASK_BEGIN("job");
		{
			TRACE_REGION("parse");
			TRACE_LOG("job", "job %d parsed", job);
		}
		atomic_fetch_add(&checksum, compute(1000 + (unsigned long)job * 10));
		TRACE_TASK_END(task);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[WORKERS];
	TRACE_LOG("main", "starting %d workers", WORKERS);
	for (int i = 0; i < WORKERS; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i)) {
			perror("pthread_create");
			return 1;
		}
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	TRACE_LOG("main", "done, checksum %lu", (unsigned long)checksum);
	printf("hello: %d jobs, checksum %lu\n", JOBS, (unsigned long)checksum);
	return 0;
}
