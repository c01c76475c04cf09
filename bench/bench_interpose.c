/*
 * bench_interpose: what interposition costs the calls it wraps. Built
 * without the tracer; bench/interpose.sh runs it plain and under
 * LD_PRELOAD=libcproftrace.so and prints the ratios.
 *
 * Prints ns per operation (best of 5):
 *   mutex    uncontended pthread_mutex_lock + unlock
 *   handoff  two threads passing a token through a mutex + condition
 *            variable (a contended, blocking round trip)
 *   pipe     write 1 byte + read it back on a pipe, one thread
 *
 * `bench_interpose mutex` runs only the mutex loop (for perf stat: cycles
 * and instructions of the loop, which preemption on a shared machine does
 * not inflate as it does wall time). `bench_interpose threaded` does the
 * same with a second, sleeping thread alive: glibc (x86-64) drops the
 * `lock` prefix of its mutex fast paths while a process has one thread,
 * so any second thread (a capture's drainer, say) makes the pair cost
 * what it costs in a threaded program (~20 ns against ~7 on this VM).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

static double run_mutex(long n)
{
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		pthread_mutex_lock(&m);
		pthread_mutex_unlock(&m);
	}
	return (now_ns() - t0) / n;
}

static pthread_mutex_t hm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hc = PTHREAD_COND_INITIALIZER;
static long turn, rounds;

static void *other(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&hm);
	for (long i = 0; i < rounds; i++) {
		while (turn != 1)
			pthread_cond_wait(&hc, &hm);
		turn = 0;
		pthread_cond_signal(&hc);
	}
	pthread_mutex_unlock(&hm);
	return NULL;
}

static double run_handoff(long n)
{
	rounds = n;
	turn = 0;
	pthread_t t;
	pthread_create(&t, NULL, other, NULL);
	double t0 = now_ns();
	pthread_mutex_lock(&hm);
	for (long i = 0; i < n; i++) {
		turn = 1;
		pthread_cond_signal(&hc);
		while (turn != 0)
			pthread_cond_wait(&hc, &hm);
	}
	pthread_mutex_unlock(&hm);
	double per = (now_ns() - t0) / n;
	pthread_join(t, NULL);
	return per;
}

static int fds[2];

static double run_pipe(long n)
{
	char c = 'x';
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		if (write(fds[1], &c, 1) != 1 || read(fds[0], &c, 1) != 1)
			abort();
	}
	return (now_ns() - t0) / n;
}

static double best(double (*fn)(long), long n)
{
	double b = 1e30;
	for (int k = 0; k < 5; k++) {
		double v = fn(n);
		if (v < b)
			b = v;
	}
	return b;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	if (pipe(fds))
		return 1;
	if (argc > 1 && argv[1][0] == 't') {
		pthread_t t;
		if (pthread_create(&t, NULL, sleeper, NULL))
			return 1;
		argv[1] = "m";
	}
	printf("mutex %.2f\n", best(run_mutex, 5000000));
	if (argc > 1 && argv[1][0] == 'm') {
		for (int k = 0; k < 20; k++)
			run_mutex(5000000);
		return 0;
	}
	printf("handoff %.1f\n", best(run_handoff, 20000));
	printf("pipe %.1f\n", best(run_pipe, 200000));
	return 0;
}
