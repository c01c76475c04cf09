/*
 * The one workload every tracer in bench/compare.sh instruments: THREADS
 * threads (pthreads; main only starts and joins them), each calling
 * work() ITERS times. work() is a small function with one event pair:
 *
 *   -DUSE_CPROF   TRACE_REGION("work")          (begin + end)
 *   -DUSE_LTTNG   tracepoint(cmp, work_entry/exit, i)  (two tracepoints)
 *   -DUSE_PG      nothing in the source: work.c is built with -pg and
 *                 uftrace records its entry and exit
 *   (none)        the baseline: the same loop, nothing recorded
 *
 * Prints one line of key=value: ns per call (per thread, loop wall time /
 * ITERS, median over threads), the CPU time the worker threads used
 * (CLOCK_THREAD_CPUTIME_ID), and under USE_CPROF the events the library
 * dropped.
 *
 *   work ITERS THREADS [SPIN]    (SPIN: multiply-add steps in work(), 0)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifdef USE_CPROF
#include <cprof/trace.h>
#endif
#ifdef USE_LTTNG
#include "tp.h"
#endif

static long iters;
static int spin; /* multiply-add steps of work per call: 0 = a tight loop */
static volatile uint64_t sink;

__attribute__((noinline)) uint64_t work(uint64_t i)
{
#ifdef USE_CPROF
	TRACE_REGION("work");
#endif
#ifdef USE_LTTNG
	tracepoint(cmp, work_entry, (int)i);
#endif
	uint64_t x = i * 0x9E3779B97F4A7C15ull;
	for (int k = 0; k < spin; k++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	x ^= x >> 29;
#ifdef USE_LTTNG
	tracepoint(cmp, work_exit, (int)i);
#endif
	return x;
}

struct worker {
	pthread_t t;
	double ns_per_call, cpu_s;
};

static double now(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t s = 0;
	double c0 = now(CLOCK_THREAD_CPUTIME_ID), t0 = now(CLOCK_MONOTONIC);
	for (long i = 0; i < iters; i++)
		s += work((uint64_t)i);
	double t1 = now(CLOCK_MONOTONIC);
	sink += s;
	w->ns_per_call = (t1 - t0) * 1e9 / (double)iters;
	w->cpu_s = now(CLOCK_THREAD_CPUTIME_ID) - c0;
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s ITERS THREADS [SPIN]\n", argv[0]);
		return 2;
	}
	iters = atol(argv[1]);
	int n = atoi(argv[2]);
	if (argc > 3)
		spin = atoi(argv[3]);
	if (iters <= 0 || n <= 0 || n > 64)
		return 2;
	struct worker w[64];
	for (int i = 0; i < n; i++)
		pthread_create(&w[i].t, NULL, worker_main, &w[i]);
	double ns[64], cpu = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(w[i].t, NULL);
		ns[i] = w[i].ns_per_call;
		cpu += w[i].cpu_s;
	}
	qsort(ns, (size_t)n, sizeof ns[0], cmp_double);
	double med = n % 2 ? ns[n / 2] : (ns[n / 2 - 1] + ns[n / 2]) / 2;
	printf("ns_per_call=%.2f worker_cpu=%.4f", med, cpu);
#ifdef USE_CPROF
	printf(" dropped=%llu", (unsigned long long)cprof_trace_dropped());
#endif
	printf("\n");
	return 0;
}
