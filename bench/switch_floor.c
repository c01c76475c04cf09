/*
 * The kernel's own cost of context-switch records, without our library:
 * the floor under what CPROF_TRACE_SCHED=perf can cost. Two threads pinned
 * to one CPU ping-pong a byte over two pipes (each round trip is two
 * context switches, so four switch records: an out and an in for each),
 * first with no perf event, then with the event the tracer opens (a
 * software dummy event, context_switch = 1, sample_id_all, TID|TIME|CPU,
 * inherited by threads, one per CPU) and the cheapest possible consumer:
 * the pinging thread moves data_tail to data_head every 64 round trips, so
 * the kernel never finds the ring full and nothing is decoded.
 *   bench/switch_floor [ROUNDTRIPS] [REPEATS]     (200000, 5)
 * Prints ns per round trip for both, their difference per switch record,
 * and records lost (must be 0 for the figure to hold). Interleaved
 * repeats, medians. Needs perf_event_paranoid <= 2 (own process).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { RING_PAGES = 64 }; /* 256 KiB: within an unprivileged user's perf_event_mlock_kb */

static int ping[2], pong[2];
static long rounds = 200000;

static void pin_cpu0(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *echo(void *arg)
{
	(void)arg;
	pin_cpu0();
	char c;
	for (long i = 0; i < rounds; i++)
		if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1)
			break;
	return NULL;
}

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int switch_event(void)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_DUMMY;
	a.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU;
	a.sample_id_all = 1;
	a.context_switch = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	a.use_clockid = 1;
	a.clockid = CLOCK_MONOTONIC;
	a.inherit = 1;
	return (int)syscall(SYS_perf_event_open, &a, 0, 0, -1, PERF_FLAG_FD_CLOEXEC);
}

/* One run: ns per round trip; *lost gets the kernel's PERF_RECORD_LOST total. */
static double run(int with_records, uint64_t *lost)
{
	int fd = -1;
	struct perf_event_mmap_page *meta = NULL;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = (1 + RING_PAGES) * page;
	*lost = 0;
	if (with_records) {
		fd = switch_event(); /* before the echo thread: it inherits the event */
		if (fd < 0) {
			fprintf(stderr, "switch_floor: perf_event_open: %s\n", strerror(errno));
			exit(2);
		}
		meta = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (meta == MAP_FAILED) {
			fprintf(stderr, "switch_floor: mmap: %s\n", strerror(errno));
			exit(2);
		}
	}
	pthread_t t;
	pthread_create(&t, NULL, echo, NULL);
	char c = 'x';
	double t0 = now_ns();
	for (long i = 0; i < rounds; i++) {
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
			break;
		if (meta && (i & 63) == 63) {
			/* the consumer: acquire the head, release the tail (perf's protocol) */
			uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
			__atomic_store_n(&meta->data_tail, head, __ATOMIC_RELEASE);
		}
	}
	double dt = now_ns() - t0;
	pthread_join(t, NULL);
	if (meta) {
		/* count PERF_RECORD_LOST in what is left (a full ring would show here) */
		uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE), tail = meta->data_tail;
		uint8_t *data = (uint8_t *)meta + page;
		size_t size = RING_PAGES * page;
		while (tail + sizeof(struct perf_event_header) <= head) {
			struct perf_event_header h;
			for (size_t k = 0; k < sizeof h; k++)
				((uint8_t *)&h)[k] = data[(tail + k) % size];
			if (h.size == 0)
				break;
			if (h.type == PERF_RECORD_LOST) {
				uint64_t n = 0;
				for (size_t k = 0; k < 8; k++)
					((uint8_t *)&n)[k] = data[(tail + sizeof h + 8 + k) % size];
				*lost += n;
			}
			tail += h.size;
		}
		munmap(meta, len);
		close(fd);
	}
	return dt / (double)rounds;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		rounds = atol(argv[1]);
	int repeats = argc > 2 ? atoi(argv[2]) : 5;
	if (rounds < 1000 || rounds > 100000000 || repeats < 1 || repeats > 99) {
		fprintf(stderr, "usage: switch_floor [ROUNDTRIPS 1000..1e8] [REPEATS 1..99]\n");
		return 2;
	}
	if (pipe(ping) || pipe(pong))
		return 1;
	pin_cpu0();
	double plain[99], rec[99];
	uint64_t lost_total = 0;
	for (int r = 0; r < repeats; r++) {
		uint64_t lost;
		plain[r] = run(0, &lost);
		rec[r] = run(1, &lost);
		lost_total += lost;
	}
	qsort(plain, (size_t)repeats, sizeof *plain, cmp);
	qsort(rec, (size_t)repeats, sizeof *rec, cmp);
	double p = plain[repeats / 2], w = rec[repeats / 2];
	printf("no event: %.0f ns per round trip; switch records on: %.0f ns (+%.0f ns per round trip, "
	       "%.0f ns per switch, %.0f ns per record); records lost %llu (median of %d)\n",
	       p, w, w - p, (w - p) / 2, (w - p) / 4, (unsigned long long)lost_total, repeats);
	return 0;
}
