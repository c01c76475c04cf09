/*
 * event_cost: the workload of bench/event_cost.sh, whose whole CPU time
 * (recording, draining, encoding, compressing, writing) the script
 * compares with and without a capture.
 *
 * Two threads run ITERS iterations each of: a task, an outer region with
 * two nested inner regions, a log line every 16th iteration, and every
 * 64th a contended lock (both threads take one mutex and hold it ~2 µs,
 * so the interposed lock records blocking events with stacks); with
 * `mixed`, also a 20 µs nanosleep every 256th iteration (a syscall block
 * with its stack). About 7.3 events an iteration.
 *
 *   build/bench/event_cost [ITERS] [mixed]
 */
#include <cprof/trace.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long iters = 680000;
static int mixed;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile uint64_t sink;

static void spin(int n)
{
	uint64_t s = 0;
	for (int i = 0; i < n; i++)
		s += (uint64_t)i * 2654435761u;
	sink += s;
}

static __attribute__((noinline)) void inner(long i)
{
	TRACE_REGION("inner");
	spin((int)(i & 7));
}

static __attribute__((noinline)) void locked_work(void)
{
	pthread_mutex_lock(&lock);
	spin(2000);
	pthread_mutex_unlock(&lock);
}

static void *worker(void *arg)
{
	long id = (long)(intptr_t)arg;
	for (long i = 0; i < iters; i++) {
		uint64_t task = TRACE_TASK_BEGIN("job");
		{
			TRACE_REGION("outer");
			inner(i);
			inner(i + 1);
			if ((i & 15) == 0)
				TRACE_LOG("job", "worker %ld iteration %ld", id, i);
		}
		if ((i & 63) == 0)
			locked_work();
		if (mixed && (i & 255) == 0) {
			struct timespec ts = {0, 20000};
			nanosleep(&ts, NULL);
		}
		TRACE_TASK_END(task);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		iters = strtol(argv[1], NULL, 10);
	mixed = argc > 2 && strcmp(argv[2], "mixed") == 0;
	pthread_t t[2];
	for (long i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("event_cost: 2 threads x %ld iterations%s\n", iters, mixed ? " (mixed)" : "");
	return 0;
}
