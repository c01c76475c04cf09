/*
 * The malloc interposer's cost: ns per malloc+free pair of 64 B and of
 * 4 KiB, single thread, and of 64 B on 2 threads at once. Prints
 * "op ns" lines; bench/malloc.sh runs it plain and under the preload.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N 20000000L
static void *volatile sink;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static void *loop(void *arg)
{
	size_t n = (size_t)arg;
	for (long i = 0; i < N; i++) {
		void *p = malloc(n);
		sink = p;
		free(p);
	}
	return NULL;
}

int main(void)
{
	size_t sizes[] = {64, 4096};
	const char *names[] = {"pair64", "pair4k"};
	for (int k = 0; k < 2; k++) {
		double t0 = now();
		loop((void *)sizes[k]);
		printf("%s %.1f\n", names[k], (now() - t0) / N);
	}
	pthread_t t[2];
	double t0 = now();
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, loop, (void *)64);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("pair64x2 %.1f\n", (now() - t0) / N);
	return 0;
}
