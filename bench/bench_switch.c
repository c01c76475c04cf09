/*
 * The cost of kernel context-switch records: two threads on one CPU
 * ping-pong a byte over two pipes (every round trip is two context
 * switches) while a capture runs to /dev/null; run it with
 * CPROF_TRACE_SCHED=off and =perf and compare the ns per round trip.
 *   taskset -c 0 bench_switch [ROUNDTRIPS]     (pin: every hand-off switches)
 * Prints: sched source, ns per round trip, kernel records lost.
 */
#define _GNU_SOURCE
#include <cprof/trace.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int ping[2], pong[2];
static long n = 200000;

static void *echo(void *arg)
{
	(void)arg;
	char c;
	for (long i = 0; i < n; i++)
		if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1)
			break;
	return NULL;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		n = atol(argv[1]);
	if (pipe(ping) || pipe(pong))
		return 1;
	int rc = cprof_trace_start_file("/dev/null");
	if (rc)
		fprintf(stderr, "bench_switch: capture: %d\n", rc);
	pthread_t t;
	pthread_create(&t, NULL, echo, NULL);
	char c = 'x';
	double t0 = now();
	for (long i = 0; i < n; i++)
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
			break;
	double dt = now() - t0;
	pthread_join(t, NULL);
	cprof_trace_stop();
	const char *s = getenv("CPROF_TRACE_SCHED");
	printf("sched=%s: %.0f ns per round trip (2 context switches)\n", s ? s : "default", dt / (double)n * 1e9);
	return 0;
}
