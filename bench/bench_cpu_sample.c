/*
 * The cost of one CPU sample to the sampled thread: a thread does a fixed
 * amount of work with sampling off and at 1000 Hz, alternately, and the
 * extra CPU time divided by the samples taken is the cost of one (signal
 * delivery, unwinding, stack interning, counter, ring record).
 *   bench_cpu_sample [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/internal.h"
#include "profiles/cpu.h"
#include "stacks/stack.h"

static volatile uint64_t sink;

static double thread_cpu(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A few frames deep, like real code. */
__attribute__((noinline)) static void leaf(uint64_t n)
{
	uint64_t x = sink;
	for (uint64_t i = 0; i < n; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	sink = x;
}
__attribute__((noinline)) static void mid(uint64_t n) { leaf(n); sink++; }
__attribute__((noinline)) static void top(uint64_t n) { mid(n); sink++; }

static uint64_t total_samples(uint64_t *buf)
{
	cprof_cpu_counts(buf);
	uint64_t n = 0;
	for (uint32_t i = 0; i <= CPROF_STACK_IDS; i++)
		n += buf[i];
	return n;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 5;
	uint64_t *buf = malloc((CPROF_STACK_IDS + 1) * sizeof *buf);
	const uint64_t work = 1600000000; /* ~2 s */
	cprof_cpu_configure(1000);
	double best_off = 1e9, best_on = 1e9, per[64];
	int nper = 0;
	for (int r = 0; r < rounds; r++) {
		double t0 = thread_cpu();
		top(work);
		double off = thread_cpu() - t0;
		uint64_t s0 = total_samples(buf);
		cprof_cpu_start();
		t0 = thread_cpu();
		top(work);
		double on = thread_cpu() - t0;
		cprof_cpu_stop();
		uint64_t n = total_samples(buf) - s0;
		double per_one = n ? (on - off) / (double)n * 1e9 : 0;
		printf("round %d: off %.3f s, on %.3f s, %llu samples: %.0f ns per sample\n", r, off, on,
		       (unsigned long long)n, per_one);
		if (off < best_off)
			best_off = off;
		if (on < best_on)
			best_on = on;
		if (n && nper < 64)
			per[nper++] = per_one;
	}
	/* median of the rounds' per-sample costs (the machine is shared: noisy) */
	for (int i = 1; i < nper; i++)
		for (int j = i; j > 0 && per[j - 1] > per[j]; j--) {
			double x = per[j];
			per[j] = per[j - 1];
			per[j - 1] = x;
		}
	double med = nper ? per[nper / 2] : 0;
	printf("median %.1f us per sample: %.3f%% of a CPU-bound thread at 100 Hz (best of rounds: off %.3f s, on %.3f s)\n",
	       med / 1e3, med / 1e9 * 100 * 100, best_off, best_on);
	free(buf);
	return 0;
}
