/*
 * bench_record: the cost of recording, beside the cost of the clock.
 *
 * Prints ns per TRACE_REGION begin+end pair on one thread and on every
 * core at once (flight-recorder mode, and while a capture drains to a
 * file), the cost of a bare rdtsc and of clock_gettime(CLOCK_MONOTONIC)
 * measured in the same run, and bytes per event in the written file.
 * Each figure is the best of 5 runs of N iterations.
 *
 * "capture, burst" records pairs back to back while a capture drains, as
 * many as fit the ring (run with a large one, CPROF_TRACE_BUFFER=64m, for
 * nothing to drop): the pair's cost with a capture active, then each
 * begin's and end's latency (rdtsc before and after the call, so one
 * rdtsc is included) as p50, p99.9 and maximum, and the minor page faults
 * the recording thread took meanwhile (0: the ring was pre-faulted).
 *
 *   build/bench/bench_record [iterations]
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <cprof/trace.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long iters = 5000000;

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static inline uint64_t rdtsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
#else
	return 0;
#endif
}

static volatile uint64_t sink;

static double run_rdtsc(void)
{
	double t0 = now_ns();
	uint64_t s = 0;
	for (long i = 0; i < iters; i++)
		s += rdtsc();
	sink = s;
	return (now_ns() - t0) / iters;
}

static double run_clock(void)
{
	double t0 = now_ns();
	uint64_t s = 0;
	for (long i = 0; i < iters; i++) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		s += (uint64_t)ts.tv_nsec;
	}
	sink = s;
	return (now_ns() - t0) / iters;
}

static double run_regions(void)
{
	double t0 = now_ns();
	for (long i = 0; i < iters; i++) {
		TRACE_REGION("bench");
	}
	return (now_ns() - t0) / iters;
}

static double best(double (*fn)(void))
{
	double b = 1e30;
	for (int k = 0; k < 5; k++) {
		double v = fn();
		if (v < b)
			b = v;
	}
	return b;
}

static void *thread_regions(void *arg)
{
	*(double *)arg = best(run_regions);
	return NULL;
}

/* ns per pair with every core recording at once (mean over threads). */
static double all_cores(int n)
{
	pthread_t t[256];
	double res[256];
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, thread_regions, &res[i]);
	double sum = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		sum += res[i];
	}
	return sum / n;
}

/* Captures `pairs` region pairs with `spin` iterations of work between
 * them into a file and prints ns per pair, events/s, drops and file bytes
 * per delivered event. */
static void capture_run(const char *label, long pairs, int spin)
{
	char path[] = "/tmp/cprof-bench-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return;
	close(fd);
	uint64_t dropped = cprof_trace_dropped();
	if (cprof_trace_start_file(path))
		return;
	double t0 = now_ns();
	for (long i = 0; i < pairs; i++) {
		TRACE_REGION("bench");
		for (volatile int s = 0; s < spin; s++)
			;
	}
	double per = (now_ns() - t0) / pairs;
	cprof_trace_stop();
	struct stat st;
	stat(path, &st);
	unlink(path);
	uint64_t lost = cprof_trace_dropped() - dropped;
	double events = 2.0 * pairs;
	printf("  capture, %-22s %6.1f ns/pair, %5.1f M events/s, %5.2f%% dropped, %4.2f bytes/event\n", label,
	       per, events / per / pairs * 1e3, 100.0 * (double)lost / events,
	       (double)st.st_size / (events - (double)lost));
}

static long minflt(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_minflt;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Pairs back to back with a capture draining to a file, on a new thread
 * (a fresh ring: its first time round); `pairs` must fit the ring for
 * nothing to be dropped. */
struct burst {
	long pairs;
	double tsc_ns;
};
static void *capture_burst_thread(void *arg)
{
	long pairs = ((struct burst *)arg)->pairs;
	double tsc_ns = ((struct burst *)arg)->tsc_ns;
	char path[] = "/tmp/cprof-bench-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	close(fd);
	uint64_t *lat = malloc(2 * (size_t)pairs * sizeof *lat);
	if (!lat)
		return NULL;
	for (long i = 0; i < 2 * pairs; i++)
		lat[i] = 0; /* faulted in before the measurement */
	uint64_t dropped = cprof_trace_dropped();
	if (cprof_trace_start_file(path))
		return NULL;
	usleep(20000); /* the drainer is up */
	long f0 = minflt();
	double t0 = now_ns();
	uint64_t c0 = rdtsc();
	for (long i = 0; i < pairs; i++) {
		TRACE_REGION("burst");
	}
	uint64_t c1 = rdtsc();
	double per = (now_ns() - t0) / pairs;
	long f1 = minflt();
	usleep(50000);
	/* the same again, each call timed */
	for (long i = 0; i < pairs; i++) {
		uint64_t a = rdtsc();
		TRACE_REGION_BEGIN("burst_timed");
		uint64_t b = rdtsc();
		TRACE_REGION_END();
		uint64_t c = rdtsc();
		lat[2 * i] = b - a;
		lat[2 * i + 1] = c - b;
	}
	long f2 = minflt();
	cprof_trace_stop();
	unlink(path);
	uint64_t lost = cprof_trace_dropped() - dropped;
	double ns_per_tick = (per * pairs) / (double)(c1 - c0);
	qsort(lat, 2 * (size_t)pairs, sizeof *lat, cmp_u64);
	size_t n = 2 * (size_t)pairs;
	printf("  capture, burst of %ld pairs:     %6.2f ns/pair  (%.2fx two rdtsc), %llu dropped, %ld page faults\n",
	       pairs, per, per / (2 * tsc_ns), (unsigned long long)lost, (f1 - f0) + (f2 - f1));
	printf("  record latency (+1 rdtsc):     p50 %.0f ns, p99.9 %.0f ns, max %.0f ns\n",
	       (double)lat[n / 2] * ns_per_tick, (double)lat[n - n / 1000 - 1] * ns_per_tick,
	       (double)lat[n - 1] * ns_per_tick);
	free(lat);
	return NULL;
}

static void capture_burst(long pairs, double tsc_ns)
{
	struct burst b = {pairs, tsc_ns};
	pthread_t t;
	if (pthread_create(&t, NULL, capture_burst_thread, &b) == 0)
		pthread_join(t, NULL);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		iters = atol(argv[1]);
	int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
	double tsc = best(run_rdtsc), clk = best(run_clock);
	/* first, so its thread's ring is a fresh one (later threads reuse
	 * exited threads' rings, faulted in long ago) */
	capture_burst(iters / 10, tsc);
	run_regions(); /* warm: attach the ring, intern the name */
	double one = best(run_regions), all = all_cores(cores);
	printf("bench_record: %ld iterations, best of 5\n", iters);
	printf("  rdtsc                          %6.2f ns\n", tsc);
	printf("  clock_gettime(MONOTONIC)       %6.2f ns\n", clk);
	printf("  region begin+end, 1 thread     %6.2f ns  (%.2fx two rdtsc)\n", one, one / (2 * tsc));
	printf("  region begin+end, %d threads    %6.2f ns per thread\n", cores, all);

	capture_run("tight loop:", iters, 0);
	capture_run("~0.1 us of work:", iters / 4, 30);
	capture_run("~1 us of work:", iters / 20, 300);
	return 0;
}
