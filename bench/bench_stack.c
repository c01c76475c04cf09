/*
 * bench_stack: what a blocking event's stack costs: capture + deduplicate
 * (cprof_stack_here, the tracer's path) from a call chain 10 frames deep
 * (the loop, 8 levels, main), against a bare libunwind unw_backtrace of
 * the same stack.
 *   bench_stack [N]
 * Prints ns per call for each round and the median of 7 rounds, and the
 * depth captured.
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "stacks/cfi.h"
#include "stacks/stack.h"

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static volatile uint32_t sink;
static volatile int depth_seen;

typedef void (*fn)(long);
__attribute__((noinline)) static void here_loop(long n)
{
	for (long i = 0; i < n; i++)
		sink = cprof_stack_here(0);
	__asm__ volatile("");
}
__attribute__((noinline)) static void unw_loop(long n)
{
	void *buf[64];
	for (long i = 0; i < n; i++)
		depth_seen = unw_backtrace(buf, 64);
	__asm__ volatile("");
}

#define LEVEL(k, next)                                \
	__attribute__((noinline)) static void k(fn f, long n) \
	{                                             \
		next(f, n);                           \
		__asm__ volatile("");                 \
	}
static void call(fn f, long n) { f(n); }
LEVEL(d8, call)
LEVEL(d7, d8)
LEVEL(d6, d7)
LEVEL(d5, d6)
LEVEL(d4, d5)
LEVEL(d3, d4)
LEVEL(d2, d3)
LEVEL(d1, d2)

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median_ns(fn f, long n, const char *what)
{
	double v[7];
	f(1000); /* warm: caches, table */
	for (int r = 0; r < 7; r++) {
		double t0 = now_ns();
		d1(f, n);
		v[r] = (now_ns() - t0) / (double)n;
	}
	qsort(v, 7, sizeof *v, cmp);
	printf("%-28s min %6.1f  median %6.1f  max %6.1f ns\n", what, v[0], v[3], v[6]);
	return v[3];
}

/* The first stack of a fresh process (every frame new to the unwinder's
 * caches: what a short process of a traced tree pays), ns; run in a child
 * exec'd per sample ("cold cfi" or "cold libunwind"). */
static int cold(const char *mode)
{
	cprof_stacks_init();
	cprof_cfi_enabled = strcmp(mode, "cfi") == 0;
	cprof_stack_cache_enabled = 0;
	double t0 = now_ns();
	d1(here_loop, 1);
	printf("%.0f\n", now_ns() - t0);
	return 0;
}

static double cold_median(const char *self, const char *mode)
{
	double v[15];
	for (int i = 0; i < 15; i++) {
		char cmd[4200];
		snprintf(cmd, sizeof cmd, "'%s' cold %s", self, mode);
		FILE *p = popen(cmd, "r");
		if (!p || fscanf(p, "%lf", &v[i]) != 1)
			v[i] = 0;
		if (p)
			pclose(p);
	}
	qsort(v, 15, sizeof *v, cmp);
	return v[7];
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "cold") == 0)
		return cold(argv[2]);
	long n = argc > 1 ? atol(argv[1]) : 200000;
	cprof_stacks_init();
	double h = median_ns(here_loop, n, "cprof_stack_here (+intern)");
	cprof_stack_cache_enabled = 0;
	double o = median_ns(here_loop, n, "  the same, cache off");
	cprof_stack_cache_enabled = 1;
	double u = median_ns(unw_loop, n, "unw_backtrace (bare)");
	uint32_t depth = 0;
	d1((fn)here_loop, 1);
	cprof_stack_get(sink, &depth);
	d1((fn)unw_loop, 1);
	printf("frames: cprof_stack_here %u, unw_backtrace %d (includes its caller's)\n", depth, depth_seen);
	printf("stack, captured and deduplicated: %.1f ns (%.2fx a bare unw_backtrace; cache off %.1f ns, %.2fx)\n", h,
	       h / u, o, o / u);
	char self[4096];
	ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
	if (len > 0) {
		self[len] = 0;
		printf("first stack of a fresh process (median of 15): our CFI walk %.1f us, libunwind %.1f us\n",
		       cold_median(self, "cfi") / 1e3, cold_median(self, "libunwind") / 1e3);
	}
	return 0;
}
