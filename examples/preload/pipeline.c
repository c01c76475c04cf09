/*
 * pipeline: an ordinary program that knows nothing of cprof-trace. A
 * producer thread writes numbered lines into a pipe; a reader splits them
 * to three counting threads through a mutex + condition variable queue;
 * the counters share one mutex-protected table and sleep a little, like I/O.
 *
 *   LD_PRELOAD=libcproftrace.so CPROF_TRACE_FILE=dumps/pipeline.trace ./pipeline
 *   cprof-trace -report=sync dumps/pipeline.trace
 *
 * (examples/preload/run.sh does exactly that.)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINES 2000
#define COUNTERS 3

static int fds[2];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER, table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready = PTHREAD_COND_INITIALIZER;
static long queue[64];
static int head, tail, done;
static long table[16];

static void *producer(void *arg)
{
	(void)arg;
	FILE *out = fdopen(fds[1], "w");
	for (int i = 0; i < LINES; i++) {
		fprintf(out, "%d\n", i);
		if (i % 100 == 99) {
			fflush(out);
			usleep(500);
		}
	}
	fclose(out);
	return NULL;
}

static void *counter(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&lock);
		while (head == tail && !done)
			pthread_cond_wait(&ready, &lock);
		if (head == tail) {
			pthread_mutex_unlock(&lock);
			return NULL;
		}
		long v = queue[tail++ % 64];
		pthread_mutex_unlock(&lock);
		pthread_mutex_lock(&table_lock);
		table[v % 16]++;
		struct timespec ts = {0, 20000}; /* 20 us "work" while holding the table */
		nanosleep(&ts, NULL);
		pthread_mutex_unlock(&table_lock);
	}
}

int main(void)
{
	if (pipe(fds)) {
		perror("pipe");
		return 1;
	}
	pthread_t p, c[COUNTERS];
	pthread_create(&p, NULL, producer, NULL);
	for (int i = 0; i < COUNTERS; i++)
		pthread_create(&c[i], NULL, counter, NULL);
	FILE *in = fdopen(fds[0], "r");
	char line[64];
	while (fgets(line, sizeof line, in)) {
		pthread_mutex_lock(&lock);
		while (head - tail == 64) { /* full: let the counters catch up */
			pthread_mutex_unlock(&lock);
			usleep(100);
			pthread_mutex_lock(&lock);
		}
		queue[head++ % 64] = atol(line);
		pthread_cond_signal(&ready);
		pthread_mutex_unlock(&lock);
	}
	pthread_mutex_lock(&lock);
	done = 1;
	pthread_cond_broadcast(&ready);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < COUNTERS; i++)
		pthread_join(c[i], NULL);
	pthread_join(p, NULL);
	long sum = 0;
	for (int i = 0; i < 16; i++)
		sum += table[i];
	printf("pipeline: %ld lines counted\n", sum);
	return sum == LINES ? 0 : 1;
}
