/*
 * bench_fib_thread: a lone fib(N) on a fresh thread, its thread CPU time
 * (CLOCK_THREAD_CPUTIME_ID, so preemption on a shared machine does not
 * count), median of R threads; with OFFSET, the thread's routine first
 * moves its stack down by OFFSET bytes (alloca), to see whether where the
 * recursion's frames fall (alignment, 4K aliasing) explains a difference
 * between threads started plainly and through the tracer's
 * pthread_create trampoline (run it plain and under LD_PRELOAD).
 *   bench_fib_thread [N] [R] [OFFSET...]
 */
#include <alloca.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

__attribute__((noinline)) static long fib(int n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static int N = 30;

struct job {
	long offset;
	double ms;
	uintptr_t sp;
};

static double thread_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

__attribute__((noinline)) static void run(struct job *j)
{
	volatile long r;
	j->sp = (uintptr_t)__builtin_frame_address(0);
	double t0 = thread_ms();
	r = fib(N);
	j->ms = thread_ms() - t0;
	(void)r;
}

static void *routine(void *arg)
{
	struct job *j = arg;
	char *p = alloca((size_t)j->offset + 1);
	__asm__ volatile("" : : "r"(p) : "memory");
	run(j);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	N = argc > 1 ? atoi(argv[1]) : 30;
	int R = argc > 2 ? atoi(argv[2]) : 7;
	int nofs = argc > 3 ? argc - 3 : 1;
	for (int o = 0; o < nofs; o++) {
		long off = argc > 3 ? atol(argv[3 + o]) : 0;
		double v[64];
		uintptr_t sp = 0;
		for (int r = 0; r < R && r < 64; r++) {
			struct job j = {off, 0, 0};
			pthread_t t;
			pthread_create(&t, NULL, routine, &j);
			pthread_join(t, NULL);
			v[r] = j.ms;
			sp = j.sp;
		}
		qsort(v, (size_t)R, sizeof *v, cmp);
		printf("offset %5ld: fib(%d) %.2f ms thread CPU (median of %d; min %.2f), frame at sp %% 4096 = %4lu\n", off, N,
		       v[R / 2], R, v[0], (unsigned long)(sp % 4096));
	}
	return 0;
}
