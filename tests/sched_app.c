/*
 * Test program for kernel scheduling records and CPU samples.
 *
 *   sched_app burn SECONDS   one thread burns CPU in burn_a and burn_b in a
 *                            3:1 ratio (same loop, 3x the iterations)
 *   sched_app mixed [K]      4 threads alternate ~1 ms of CPU and ~1 ms of
 *                            sleep 60*K times; 4 more are CPU-bound for
 *                            0.3*K s (2 vCPUs: they preempt each other)
 *
 * Every thread logs its own /proc/thread-self/schedstat just before it
 * ends (TRACE_LOG "schedstat", "ONCPU RUNQ"), the oracle tests/check_sched
 * compares the trace's kernel records with. With CPROF_TRACE_ADDR set, the
 * address is printed as "port N" on stdout.
 */
#define _GNU_SOURCE
#include <cprof/trace.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Thread_local volatile uint64_t sink; /* per thread: the threads share no data */

#define SPIN(n)                                                                \
	do {                                                                   \
		uint64_t x = sink;                                             \
		for (uint64_t i = 0; i < (n); i++)                             \
			x = x * 6364136223846793005ull + 1442695040888963407ull; \
		sink = x;                                                      \
	} while (0)

__attribute__((noinline)) void burn_a(uint64_t n)
{
	SPIN(3 * n);
}

__attribute__((noinline)) void burn_b(uint64_t n)
{
	SPIN(n);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void log_schedstat(void)
{
	char buf[128] = "";
	FILE *f = fopen("/proc/thread-self/schedstat", "r");
	if (f) {
		if (!fgets(buf, sizeof buf, f))
			buf[0] = 0;
		fclose(f);
	}
	unsigned long long on = 0, rq = 0;
	sscanf(buf, "%llu %llu", &on, &rq);
	TRACE_LOG("schedstat", "%llu %llu", on, rq);
}

static double burn_seconds;
static int scale = 1; /* mixed: how many times longer */

static void *burner(void *arg)
{
	(void)arg;
	double end = now_s() + burn_seconds;
	uint64_t seed = 12345;
	while (now_s() < end) {
		/* A varying length per round (exactly 3:1 within each), so that
		 * the sampling period cannot phase-lock with the loop's. */
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t n = 50000 + (seed >> 33) % 200000;
		burn_a(n);
		burn_b(n);
	}
	log_schedstat();
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (int i = 0; i < 60 * scale; i++) {
		SPIN(300000); /* ~1 ms */
		usleep(1000);
	}
	log_schedstat();
	return NULL;
}

static void *hog(void *arg)
{
	(void)arg;
	double end = now_s() + 0.3 * scale;
	while (now_s() < end)
		SPIN(10000);
	log_schedstat();
	return NULL;
}

int main(int argc, char **argv)
{
	const char *addr = cprof_http_address();
	if (addr) {
		const char *colon = strrchr(addr, ':');
		printf("port %s\n", colon ? colon + 1 : addr);
		fflush(stdout);
	}
	if (argc >= 3 && strcmp(argv[1], "burn") == 0) {
		burn_seconds = atof(argv[2]);
		pthread_t t;
		pthread_create(&t, NULL, burner, NULL);
		pthread_join(t, NULL);
	} else if (argc >= 2 && strcmp(argv[1], "mixed") == 0) {
		if (argc >= 3 && atoi(argv[2]) > 0)
			scale = atoi(argv[2]);
		pthread_t t[8];
		for (int i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, sleeper, NULL);
		for (int i = 4; i < 8; i++)
			pthread_create(&t[i], NULL, hog, NULL);
		for (int i = 0; i < 8; i++)
			pthread_join(t[i], NULL);
	} else {
		fprintf(stderr, "usage: sched_app burn SECONDS | mixed\n");
		return 2;
	}
	log_schedstat();
	return 0;
}
