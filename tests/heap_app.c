/*
 * Known allocation sites for the heap and allocs profiles, run under
 * LD_PRELOAD (not linked to the tracer):
 *   alloc_a: 3 parts of the churned bytes (malloc + free at once)
 *   alloc_b: 1 part (calloc + free)
 *   alloc_c: 2 parts through realloc, posix_memalign and aligned_alloc
 *   keep_d:  32 MiB kept until exit (dominates inuse_space)
 * It allocates before main (a constructor), in a signal handler, from
 * many short threads, and forks a child that allocates too; then prints
 * "ready" and waits SECONDS.
 *   heap_app SECONDS [THREADS]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;
static void **kept;

__attribute__((constructor)) static void early(void)
{
	for (int i = 0; i < 100; i++)
		free(malloc(100 + i));
}

__attribute__((noinline)) static void alloc_a(size_t n)
{
	char *p = malloc(n);
	p[0] = 1;
	sink = p;
	free(p);
	sink = NULL;
}

__attribute__((noinline)) static void alloc_b(size_t n)
{
	char *p = calloc(1, n);
	sink = p;
	free(p);
	sink = NULL;
}

__attribute__((noinline)) static void alloc_c(size_t n)
{
	/* 2 parts: realloc 1/2 of n, posix_memalign 1/4, aligned_alloc 1/4 */
	char *p = realloc((void *)sink, n / 2); /* sink: freed (NULL) or reused by the compiler: never folded */
	sink = p;
	free(p);
	sink = NULL;
	void *q = NULL;
	if (posix_memalign(&q, 64, n / 4) == 0) {
		sink = q;
		free(q);
	}
	q = aligned_alloc(64, n / 4);
	sink = q;
	free(q);
	sink = NULL;
}

__attribute__((noinline)) static void keep_d(int i)
{
	kept[i] = malloc(65536);
	memset(kept[i], 1, 65536);
}

static void on_signal(int sig)
{
	(void)sig;
	free(malloc(1000)); /* not async-signal-safe in general: counted, not crashed */
}

static void *short_thread(void *a)
{
	(void)a;
	free(malloc(200));
	return NULL;
}

int main(int argc, char **argv)
{
	int secs = argc > 1 ? atoi(argv[1]) : 5;
	int nthreads = argc > 2 ? atoi(argv[2]) : 0;
	signal(SIGUSR1, on_signal);
	kept = calloc(512, sizeof *kept);
	for (int i = 0; i < 512; i++)
		keep_d(i);
	/* 1 GiB churned in 3:1:2 */
	for (int i = 0; i < 40000; i++) {
		alloc_a(3 * 4096);
		alloc_b(4096);
		alloc_c(2 * 4096);
		if (i % 1000 == 0)
			raise(SIGUSR1);
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, short_thread, NULL) == 0)
			pthread_join(t, NULL);
	}
	pid_t child = fork();
	if (child == 0) {
		for (int i = 0; i < 1000; i++)
			alloc_a(4096);
		_exit(0);
	}
	int st = 0;
	waitpid(child, &st, 0);
	printf("ready child=%d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	fflush(stdout);
	sleep(secs);
	return 0;
}
