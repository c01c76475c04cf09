/*
 * The cost of one CPU sample to the sampled thread: the thread queues
 * itself the signal a timer expiry delivers (cprof_cpu_sample_self), from
 * a few frames deep, N times; the time per call is signal delivery, the
 * handler's unwinding, stack interning, the counter and the ring record.
 * Compared with the same loop delivering an empty handler's signal, which
 * is the floor any signal-based sampler pays.
 *   bench_cpu_sample [N]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "profiles/cpu.h"
#include "stacks/stack.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void empty(int sig)
{
	(void)sig;
}

typedef void (*fn)(long);
__attribute__((noinline)) static void sample_loop(long n)
{
	for (long i = 0; i < n; i++)
		cprof_cpu_sample_self();
}
__attribute__((noinline)) static void empty_loop(long n)
{
	for (long i = 0; i < n; i++)
		syscall(SYS_tgkill, (long)getpid(), (long)cprof_gettid(), (long)SIGUSR1);
}
/* Some depth, like a real program's stack. */
__attribute__((noinline)) static void d3(fn f, long n) { f(n); __asm__ volatile(""); }
__attribute__((noinline)) static void d2(fn f, long n) { d3(f, n); __asm__ volatile(""); }
__attribute__((noinline)) static void d1(fn f, long n) { d2(f, n); __asm__ volatile(""); }

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	signal(SIGUSR1, empty);
	cprof_cpu_configure(100);
	if (cprof_cpu_start()) {
		fprintf(stderr, "bench_cpu_sample: cannot start sampling\n");
		return 1;
	}
	d1(sample_loop, 1000); /* warm: stack table, unwinder caches, ring */
	double best_s = 1e9, best_e = 1e9;
	for (int r = 0; r < 5; r++) {
		double t0 = now();
		d1(sample_loop, n);
		double s = (now() - t0) / (double)n * 1e9;
		t0 = now();
		d1(empty_loop, n);
		double e = (now() - t0) / (double)n * 1e9;
		printf("round %d: sample %.0f ns, empty signal %.0f ns\n", r, s, e);
		if (s < best_s)
			best_s = s;
		if (e < best_e)
			best_e = e;
	}
	cprof_cpu_stop();
	uint64_t *c = malloc((CPROF_STACK_IDS + 1) * sizeof *c), total = 0;
	cprof_cpu_counts(c);
	for (uint32_t i = 0; i <= CPROF_STACK_IDS; i++)
		total += c[i];
	free(c);
	printf("%llu samples counted (want %ld)\n", (unsigned long long)total, 5 * n + 1000);
	printf("one sample: %.2f us (an empty signal: %.2f us); at 100 Hz: %.3f%% of a CPU-bound thread\n",
	       best_s / 1e3, best_e / 1e3, best_s / 1e9 * 100 * 100);
	return 0;
}
