/*
 * Kernel scheduling records: when each thread of the program ran, where,
 * and why it stopped, as the kernel saw it, without privilege.
 *
 * Two sources, chosen once at load (CPROF_TRACE_SCHED=perf|schedstat|off,
 * default: perf when the kernel allows it, else schedstat):
 *
 *  perf       perf_event_open software events (PERF_COUNT_SW_DUMMY with
 *             context_switch, sample_id_all, TID|TIME|CPU, use_clockid =
 *             CLOCK_MONOTONIC) give a PERF_RECORD_SWITCH for every switch-in
 *             and switch-out of the process's threads; a switch-out flagged
 *             PREEMPT left the thread runnable. One event per CPU on the main
 *             thread with inherit + inherit_thread follows every thread
 *             created afterwards with one fd per CPU (not per thread: a
 *             program with thousands of threads would exhaust RLIMIT_NOFILE);
 *             threads that existed before the library loaded get one event
 *             each, by tid (cpu = -1, not inherited: the kernel does not
 *             allow mmap on inherited per-thread events). Events are opened
 *             disabled at load and enabled only while a drain capture runs:
 *             with no capture the kernel writes nothing. The drainer reads
 *             their mmap rings every pass; kernel-side overflow is counted
 *             (PERF_RECORD_LOST) and reported.
 *  schedstat  where the kernel refuses (perf_event_paranoid 3 or 4, seccomp,
 *             containers): every 10 ms the drainer reads each traced
 *             thread's /proc/self/task/TID/schedstat (cumulative ns on CPU
 *             and waiting on a run queue; ~1-2 us a pread through a kept fd)
 *             and records it when it changed.
 *
 * Records are queued per thread and handed to the capture, which merges
 * them into that thread's batch in timestamp order with the thread's own
 * events (see sched.h and format/FORMAT.md, "Kernel records").
 *
 * Workload: a busy server switches 10-50 k times a second per CPU; a record
 * is 40 bytes in the kernel ring and ~4 bytes in the file. Everything here
 * runs on the capture's thread under the capture lock, except
 * cprof_sched_init (constructor) and the fork handler.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "sched/sched.h"

/* Per CPU ring: up to 1 MiB (~32000 records of 32 bytes: a server
 * switching 200 k times a second per CPU fills it in 160 ms, the drainer
 * reads it every 10 ms at most). Unprivileged users may lock
 * perf_event_mlock_kb (516 KiB) in all: mmap refuses beyond, and the rings
 * are halved until it accepts.
 *
 * A tree capture's descendants (CPROF_TRACE_TREE set at load: cc, cc1, as
 * under make) get PERF_TREE_PAGES a CPU (4096 records: 20 ms of slack at
 * 200 k switches a second per CPU): the kernel zeroes and maps every page
 * at mmap, ~1 us a page, and 2 x 1 MiB was 10% of a traced git --version's
 * CPU; such processes switch tens of times in their life. The ring cannot
 * grow later without stalling the program: redirecting an event's output
 * to a larger ring (PERF_EVENT_IOC_SET_OUTPUT) waits for an RCU grace
 * period (6-100 ms) under the event context's mutex, which every clone of
 * the process then waits for. Overflow is counted and reported as ever. */
#define PERF_DATA_PAGES_MAX 256u
#define PERF_TREE_PAGES 32u
#define PERF_TOTAL_MAX (16u << 20) /* bytes for all CPUs' rings: many-CPU machines get smaller ones */
#define SCHEDSTAT_PERIOD_NS 10000000u /* one schedstat sample per thread per 10 ms */
#define SCHEDSTAT_FDS_MAX 1024u      /* kept open; beyond, open/read/close each time */
#define UNCLAIMED_NS 100000000u      /* records no ring claimed for 100 ms: checked */
#define UNCLAIMED_MAX 4096u          /* kept per live thread without a ring */

/* One kernel ring: per CPU (tid 0) or per pre-existing thread. */
struct kring {
	int fd;
	uint32_t tid; /* 0: a per-CPU event inherited by new threads */
	struct perf_event_mmap_page *meta;
	uint8_t *data;
	uint64_t size; /* bytes of data, a power of two */
	size_t map_len;
};

/* A queued record (ts in ticks). */
struct srec {
	uint64_t ts;
	uint64_t a0, a1;
	uint8_t kind;
};

/* Per-thread queue: [head, len) are pending, sorted by ts after collect.
 * Invariants: head <= len <= cap; entries are never shared between tids. */
struct squeue {
	uint32_t tid;        /* 0: empty slot */
	uint32_t head, len, cap;
	struct srec *v;
	uint64_t claimed_ticks;  /* last pass a ring with this tid took records */
	int stat_fd;             /* schedstat: kept fd, -1 none */
	uint64_t stat_oncpu, stat_runq; /* last values recorded, ns */
	uint8_t stat_seen;       /* a sample was recorded this capture */
	uint8_t unsorted;        /* records appended out of order */
	uint8_t gone_seen;       /* pass_end found the thread gone, records unclaimed */
};

static int source = CPROF_SCHED_SOURCE_OFF;
static struct kring *krings;
static uint32_t nkrings;
static int active;            /* a capture has the source enabled */
static uint64_t start_ticks;  /* the capture's start: older records are not its */
static uint64_t lost;         /* kernel records lost this capture */
static uint64_t tail_lost;    /* the ended capture's, for its tail */
static uint32_t stat_fds;     /* schedstat fds kept open */
static uint64_t last_stat_ns; /* CLOCK_MONOTONIC of the last schedstat round */
static uint64_t collected_ticks; /* when the kernel rings were last read, 0: not this capture */
static uint64_t stale_ticks;     /* re-read them when older than this (0.1 ms) */

/* The capture's clock: ticks = anchor_ticks + (mono_ns - anchor_mono) * tps
 * / 1e9. Taken from the header, or, when the kernel rings must be read
 * before the header is written (a long first drain pass), read here once
 * the clock is calibrated and then imposed on the header, so both agree. */
static struct {
	int ok;
	uint64_t tps, anchor_ticks, anchor_mono, anchor_real;
} clk;

static struct squeue *queues; /* open addressing by tid */
static uint32_t qcap, qused;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- per-thread queues ---- */

static struct squeue *queue_find(uint32_t tid)
{
	if (!qcap)
		return NULL;
	for (uint32_t i = tid * 2654435761u & (qcap - 1);; i = (i + 1) & (qcap - 1)) {
		if (queues[i].tid == tid)
			return &queues[i];
		if (!queues[i].tid)
			return NULL;
	}
}

static struct squeue *queue_get(uint32_t tid)
{
	struct squeue *q = queue_find(tid);
	if (q)
		return q;
	if ((qused + 1) * 2 > qcap) { /* grow, keeping load under 1/2 */
		uint32_t ncap = qcap ? qcap * 2 : 256;
		struct squeue *n = calloc(ncap, sizeof *n);
		if (!n)
			return NULL;
		for (uint32_t i = 0; i < qcap; i++) {
			if (!queues[i].tid)
				continue;
			uint32_t j = queues[i].tid * 2654435761u & (ncap - 1);
			while (n[j].tid)
				j = (j + 1) & (ncap - 1);
			n[j] = queues[i];
		}
		free(queues);
		queues = n;
		qcap = ncap;
	}
	uint32_t j = tid * 2654435761u & (qcap - 1);
	while (queues[j].tid)
		j = (j + 1) & (qcap - 1);
	queues[j] = (struct squeue){.tid = tid, .stat_fd = -1};
	qused++;
	return &queues[j];
}

/* Removes q, re-inserting the rest of its probe run (no tombstones). */
static void queue_remove(struct squeue *q)
{
	free(q->v);
	if (q->stat_fd >= 0) {
		close(q->stat_fd);
		stat_fds--;
	}
	uint32_t i = (uint32_t)(q - queues);
	queues[i] = (struct squeue){0};
	qused--;
	for (uint32_t j = (i + 1) & (qcap - 1); queues[j].tid; j = (j + 1) & (qcap - 1)) {
		struct squeue e = queues[j];
		queues[j] = (struct squeue){0};
		uint32_t k = e.tid * 2654435761u & (qcap - 1);
		while (queues[k].tid)
			k = (k + 1) & (qcap - 1);
		queues[k] = e;
	}
}

/* Appends to q (never moves the table: safe while iterating it). */
static void queue_append(struct squeue *q, uint64_t ts, unsigned kind, uint64_t a0, uint64_t a1)
{
	if (q->head == q->len) {
		q->head = q->len = 0;
	} else if (q->head > q->cap / 2) { /* compact */
		memmove(q->v, q->v + q->head, (q->len - q->head) * sizeof *q->v);
		q->len -= q->head;
		q->head = 0;
	}
	if (q->len == q->cap) {
		uint32_t ncap = q->cap ? q->cap * 2 : 64;
		void *p = realloc(q->v, ncap * sizeof *q->v);
		if (!p)
			return;
		q->v = p;
		q->cap = ncap;
	}
	if (q->len > q->head && q->v[q->len - 1].ts > ts)
		q->unsorted = 1;
	q->v[q->len++] = (struct srec){.ts = ts, .a0 = a0, .a1 = a1, .kind = (uint8_t)kind};
}

static void queue_push(uint32_t tid, uint64_t ts, unsigned kind, uint64_t a0, uint64_t a1)
{
	struct squeue *q = queue_get(tid);
	if (q)
		queue_append(q, ts, kind, a0, a1);
}

/* Records from different CPUs' rings interleave: insertion sort (they are
 * nearly sorted), stable so a switch-out stays before the next switch-in of
 * the same timestamp. */
static void queue_sort(struct squeue *q)
{
	for (uint32_t i = q->head + 1; i < q->len; i++) {
		struct srec x = q->v[i];
		uint32_t j = i;
		while (j > q->head && q->v[j - 1].ts > x.ts) {
			q->v[j] = q->v[j - 1];
			j--;
		}
		q->v[j] = x;
	}
	q->unsorted = 0;
}

/* ---- perf ---- */

static uint32_t self_tid; /* the thread that collects: its switches are not the program's */

static int perf_open(pid_t pid, int cpu, int inherit)
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
	a.disabled = 1;
	a.use_clockid = 1;
	a.clockid = CLOCK_MONOTONIC;
	a.inherit = (unsigned)inherit;
	/* Threads only: a forked (and exec'd) child must not write into our
	 * rings. Kernels before 5.13 refuse the bit: retried without it. */
	a.inherit_thread = (unsigned)inherit;
	int fd = (int)syscall(SYS_perf_event_open, &a, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0 && inherit && errno == EINVAL) {
		a.inherit_thread = 0;
		fd = (int)syscall(SYS_perf_event_open, &a, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	}
	return fd;
}

static int kring_add(int fd, uint32_t tid, uint32_t pages)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = (1 + pages) * page;
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	void *p = realloc(krings, (nkrings + 1) * sizeof *krings);
	if (!p) {
		munmap(m, len);
		return -ENOMEM;
	}
	krings = p;
	krings[nkrings++] = (struct kring){
		.fd = fd, .tid = tid, .meta = m, .data = (uint8_t *)m + page, .size = pages * page, .map_len = len};
	return 0;
}

static void perf_close_all(void)
{
	for (uint32_t i = 0; i < nkrings; i++) {
		munmap(krings[i].meta, krings[i].map_len);
		close(krings[i].fd);
	}
	free(krings);
	krings = NULL;
	nkrings = 0;
}

/* Opens one event per CPU on the main thread (inherited by threads created
 * later) and one per other existing thread. Returns 0 or -errno (then
 * nothing stays open). */
static int perf_setup(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	if (ncpu < 1)
		ncpu = 1;
	uint32_t pages = getenv("CPROF_TRACE_TREE") ? PERF_TREE_PAGES : PERF_DATA_PAGES_MAX;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	while (pages > 1 && (size_t)ncpu * (pages + 1) * page > PERF_TOTAL_MAX)
		pages /= 2;
	pid_t pid = getpid();
	int opened = 0;
retry:
	for (long cpu = 0; cpu < ncpu; cpu++) {
		int fd = perf_open(pid, (int)cpu, 1);
		if (fd < 0) {
			if (errno == ENODEV || errno == ENOENT) /* an offline CPU */
				continue;
			int e = errno;
			perf_close_all();
			return -e;
		}
		int rc = kring_add(fd, 0, pages);
		if (rc) {
			close(fd);
			perf_close_all();
			if ((rc == -EPERM || rc == -ENOMEM) && pages > 1) { /* over the lock budget */
				pages /= 2;
				opened = 0;
				goto retry;
			}
			return rc;
		}
		opened++;
	}
	if (!opened)
		return -ENODEV;
	/* Threads that exist already (the library was dlopen'ed, or a
	 * constructor started threads): one event each, by tid. Only when
	 * there are any: see cprof_only_thread. */
	DIR *d = cprof_only_thread() ? NULL : opendir("/proc/self/task");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		long tid = strtol(e->d_name, NULL, 10);
		if (tid <= 0 || tid == pid)
			continue;
		int fd = perf_open((pid_t)tid, -1, 0);
		if (fd >= 0 && kring_add(fd, (uint32_t)tid, pages > 4 ? 4 : pages))
			close(fd);
	}
	if (d)
		closedir(d);
	return 0;
}

static void perf_enable(int on)
{
	for (uint32_t i = 0; i < nkrings; i++)
		ioctl(krings[i].fd, on ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, 0);
}

static uint64_t mono_to_ticks(uint64_t ns)
{
	if (!cprof_clock_tsc)
		return ns;
	int64_t d = (int64_t)(ns - clk.anchor_mono);
	return clk.anchor_ticks + (uint64_t)(int64_t)((double)d * (double)clk.tps / 1e9);
}

/* Copies n bytes at ring offset off (wrapping). */
static void kring_copy(const struct kring *k, uint64_t off, void *dst, size_t n)
{
	uint64_t o = off & (k->size - 1);
	size_t first = n < k->size - o ? n : (size_t)(k->size - o);
	memcpy(dst, k->data + o, first);
	if (first < n)
		memcpy((uint8_t *)dst + first, k->data, n - first);
}

/* The sample_id trailer with TID|TIME|CPU: pid, tid, time, cpu, res. */
struct sample_id {
	uint32_t pid, tid;
	uint64_t time;
	uint32_t cpu, res;
};

static void kring_read(struct kring *k, int keep)
{
	/* Acquire: the kernel's record stores are visible before its head. */
	uint64_t head = __atomic_load_n(&k->meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = k->meta->data_tail;
	while (tail + sizeof(struct perf_event_header) <= head) {
		struct perf_event_header h;
		kring_copy(k, tail, &h, sizeof h);
		if (h.size < sizeof h || tail + h.size > head)
			break;
		uint8_t rec[64];
		if (keep && h.size <= sizeof rec) {
			kring_copy(k, tail, rec, h.size);
			if (h.type == PERF_RECORD_SWITCH && h.size >= sizeof h + sizeof(struct sample_id)) {
				struct sample_id s;
				memcpy(&s, rec + sizeof h, sizeof s);
				uint64_t ts = mono_to_ticks(s.time);
				if (ts >= start_ticks && s.tid != self_tid) {
					if (h.misc & PERF_RECORD_MISC_SWITCH_OUT)
						queue_push(s.tid, ts, CPROF_EV_SCHED_SWITCH_OUT, s.cpu,
							   h.misc & PERF_RECORD_MISC_SWITCH_OUT_PREEMPT ? CPROF_SCHED_PREEMPTED
												     : CPROF_SCHED_SLEEPING);
					else
						queue_push(s.tid, ts, CPROF_EV_SCHED_SWITCH_IN, s.cpu, 0);
				}
			} else if (h.type == PERF_RECORD_LOST && h.size >= sizeof h + 16) {
				uint64_t n;
				memcpy(&n, rec + sizeof h + 8, sizeof n);
				lost += n;
			}
		}
		tail += h.size;
	}
	/* Release: our reads are done before the kernel may overwrite. */
	__atomic_store_n(&k->meta->data_tail, tail, __ATOMIC_RELEASE);
}

/* ---- schedstat ---- */

/* Reads tid's schedstat (on-CPU ns, run-queue ns); 0 on success. */
static int stat_read(struct squeue *q, uint64_t *oncpu, uint64_t *runq)
{
	char path[64], buf[96];
	snprintf(path, sizeof path, "/proc/self/task/%u/schedstat", q->tid);
	ssize_t n;
	if (q->stat_fd < 0 && stat_fds < SCHEDSTAT_FDS_MAX) {
		q->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (q->stat_fd >= 0)
			stat_fds++;
	}
	if (q->stat_fd >= 0) {
		n = pread(q->stat_fd, buf, sizeof buf - 1, 0);
	} else {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
	}
	if (n <= 0)
		return -1;
	buf[n] = 0;
	unsigned long long a, b;
	if (sscanf(buf, "%llu %llu", &a, &b) != 2)
		return -1;
	*oncpu = a;
	*runq = b;
	return 0;
}

/* Samples every thread the capture has met (cprof_sched_next registers
 * them: the capture reads a ring's tid only when that is safe). A thread
 * that is gone and has nothing queued is forgotten (its fd closed). */
static void stat_round(void)
{
	for (uint32_t i = 0; i < qcap;) {
		struct squeue *q = &queues[i];
		uint64_t oncpu, runq;
		if (!q->tid) {
			i++;
			continue;
		}
		uint64_t before = cprof_clock_now();
		if (stat_read(q, &oncpu, &runq)) {
			if (q->head == q->len) {
				queue_remove(q);
				continue; /* slot i was refilled by the probe run */
			}
			i++;
			continue;
		}
		i++;
		uint64_t ts = cprof_clock_now();
		/* The figures hold at some instant inside [before, ts]: a reading
		 * the drainer was preempted in (over 50 us) would date them late
		 * and stretch the interval they close; the next round reads again. */
		if (stale_ticks && ts - before > stale_ticks / 2)
			continue;
		if (q->stat_seen && oncpu == q->stat_oncpu && runq == q->stat_runq)
			continue; /* nothing happened: a sleeping thread costs nothing */
		q->stat_seen = 1;
		q->stat_oncpu = oncpu;
		q->stat_runq = runq;
		queue_append(q, ts, CPROF_EV_SCHED_STAT, oncpu, runq);
	}
}

/* A thread's last figures, read by the thread itself as it exits (its
 * /proc entry is gone by the next round): the interval after the last
 * round ends with them, not with a guess. An own event, in its ring. */
static void stat_at_exit(void)
{
	if (!__atomic_load_n(&active, __ATOMIC_RELAXED))
		return;
	struct cprof_thread *self = cprof_me();
	char buf[96];
	self->busy++; /* the tracer's own open and read */
	size_t n = cprof_read_small("/proc/thread-self/schedstat", buf, sizeof buf);
	self->busy--;
	unsigned long long on, rq;
	if (n && sscanf(buf, "%llu %llu", &on, &rq) == 2) {
		uint64_t args[2] = {on, rq};
		cprof_record(CPROF_EV_SCHED_STAT, args, NULL, 0);
	}
}

/* ---- the capture's interface ---- */

int cprof_sched_fill(void)
{
	int fullest = 0;
	if (!active || source != CPROF_SCHED_SOURCE_PERF)
		return 0;
	for (uint32_t i = 0; i < nkrings; i++) {
		const struct kring *k = &krings[i];
		uint64_t head = __atomic_load_n(&k->meta->data_head, __ATOMIC_ACQUIRE);
		int fill = (int)((head - k->meta->data_tail) * 1024 / k->size);
		if (fill > fullest)
			fullest = fill;
	}
	return fullest;
}

void cprof_sched_describe(struct cprof_header *h)
{
	h->sched_source = (uint8_t)source;
}

void cprof_sched_init(const char *mode)
{
	int want = 0; /* 0 auto */
	if (mode && *mode) {
		if (strcmp(mode, "perf") == 0)
			want = CPROF_SCHED_SOURCE_PERF;
		else if (strcmp(mode, "schedstat") == 0)
			want = CPROF_SCHED_SOURCE_SCHEDSTAT;
		else if (strcmp(mode, "off") == 0 || strcmp(mode, "0") == 0)
			want = CPROF_SCHED_SOURCE_OFF;
		else
			fprintf(stderr, "cprof-trace: ignoring CPROF_TRACE_SCHED=%s (want perf, schedstat or off)\n",
				mode);
	}
	source = CPROF_SCHED_SOURCE_OFF;
	if (want == CPROF_SCHED_SOURCE_OFF)
		return;
	if (want == 0 || want == CPROF_SCHED_SOURCE_PERF) {
		int rc = perf_setup();
		if (!rc) {
			source = CPROF_SCHED_SOURCE_PERF;
			return;
		}
		if (want == CPROF_SCHED_SOURCE_PERF)
			fprintf(stderr,
				"cprof-trace: CPROF_TRACE_SCHED=perf: the kernel refuses context-switch events (%s; "
				"perf_event_paranoid above 2, seccomp or a container?): sampling schedstat instead\n",
				strerror(-rc));
	}
	source = CPROF_SCHED_SOURCE_SCHEDSTAT;
	cprof_on_thread_exit(stat_at_exit);
}

int cprof_sched_source(void)
{
	return source;
}

static void clock_from(const struct cprof_header *h)
{
	clk.tps = h->ticks_per_sec;
	clk.anchor_ticks = h->anchor_ticks;
	clk.anchor_mono = h->anchor_monotonic_ns;
	clk.anchor_real = h->anchor_realtime_ns;
	clk.ok = 1;
	stale_ticks = clk.tps / 10000; /* 0.1 ms */
}

void cprof_sched_header(struct cprof_header *h)
{
	h->sched_source = (uint8_t)(active ? source : CPROF_SCHED_SOURCE_OFF);
	if (active && clk.ok) { /* records were converted with these already */
		h->ticks_per_sec = clk.tps;
		h->anchor_ticks = clk.anchor_ticks;
		h->anchor_monotonic_ns = clk.anchor_mono;
		h->anchor_realtime_ns = clk.anchor_real;
		return;
	}
	clock_from(h);
}

void cprof_sched_capture_begin(uint64_t ticks)
{
	start_ticks = ticks;
	lost = 0;
	last_stat_ns = 0;
	collected_ticks = 0;
	clk.ok = 0; /* until this capture's header */
	for (uint32_t i = 0; i < qcap; i++) {
		queues[i].head = queues[i].len = 0;
		queues[i].stat_seen = 0;
	}
	if (source == CPROF_SCHED_SOURCE_OFF)
		return;
	active = 1;
	if (source == CPROF_SCHED_SOURCE_PERF) {
		for (uint32_t i = 0; i < nkrings; i++) /* what an earlier capture left */
			kring_read(&krings[i], 0);
		perf_enable(1);
	}
}


void cprof_sched_capture_end(void)
{
	if (!active)
		return;
	active = 0;
	tail_lost = lost;
	if (source == CPROF_SCHED_SOURCE_PERF)
		perf_enable(0);
	/* Free what threads left behind; the next capture starts clean. */
	for (uint32_t i = 0; i < qcap;) {
		if (queues[i].tid) {
			queue_remove(&queues[i]);
			continue; /* slot i was refilled by the probe run */
		}
		i++;
	}
}

static void perf_collect(void)
{
	for (uint32_t i = 0; i < nkrings; i++)
		kring_read(&krings[i], 1);
	for (uint32_t i = 0; i < qcap; i++)
		if (queues[i].tid && queues[i].unsorted)
			queue_sort(&queues[i]);
}

uint64_t cprof_sched_collect(void)
{
	if (!active)
		return 0;
	uint64_t now = cprof_clock_now();
	if (collected_ticks && now - collected_ticks < stale_ticks)
		return collected_ticks;
	/* Only a tracer thread (the drainer) is left out: the last collection
	 * of a capture ended at exit runs on the exiting program thread, whose
	 * records must stay (they were all dropped: a single-threaded
	 * program's main thread lost every switch still in the kernel ring). */
	if (cprof_me()->status == THREAD_INTERNAL)
		self_tid = cprof_gettid();
	if (source == CPROF_SCHED_SOURCE_PERF) {
		if (!clk.ok) {
			/* No header yet: the clock is read here (the header will
			 * carry the same), once calibrating it cannot sleep. */
			if (!cprof_clock_calibrated())
				return 0; /* the kernel keeps the records meanwhile */
			struct cprof_header h = {0};
			cprof_clock_header(&h);
			clock_from(&h);
		}
		collected_ticks = now;
		perf_collect();
	} else if (source == CPROF_SCHED_SOURCE_SCHEDSTAT) {
		collected_ticks = now;
		uint64_t ns = mono_ns();
		if (ns - last_stat_ns >= SCHEDSTAT_PERIOD_NS) {
			last_stat_ns = ns;
			stat_round();
		}
	}
	return collected_ticks;
}

uint64_t cprof_sched_next(uint32_t tid)
{
	struct squeue *q = NULL;
	if (active) /* schedstat: the capture's threads are the ones to sample */
		q = source == CPROF_SCHED_SOURCE_SCHEDSTAT ? queue_get(tid) : queue_find(tid);
	return q && q->head < q->len ? q->v[q->head].ts : UINT64_MAX;
}

uint64_t cprof_sched_take(uint32_t tid, uint64_t upto, cprof_sched_emit_fn emit, void *ctx)
{
	struct squeue *q = active ? queue_find(tid) : NULL;
	if (!q)
		return UINT64_MAX;
	q->claimed_ticks = upto;
	q->gone_seen = 0;
	while (q->head < q->len && q->v[q->head].ts <= upto) {
		const struct srec *s = &q->v[q->head++];
		uint64_t args[2] = {s->a0, s->a1};
		emit(ctx, s->kind, s->ts, args);
	}
	return q->head < q->len ? q->v[q->head].ts : UINT64_MAX;
}

void cprof_sched_pass_end(uint64_t pass_ticks)
{
	if (!active || !qcap)
		return;
	uint64_t keep = (uint64_t)((double)UNCLAIMED_NS * (double)(clk.tps ? clk.tps : 1000000000u) / 1e9);
	for (uint32_t i = 0; i < qcap;) {
		struct squeue *q = &queues[i];
		/* Every pass takes a traced thread's records up to the pass start:
		 * records 100 ms old belong to a thread without a ring. */
		if (q->tid && q->head < q->len && q->v[q->head].ts + keep < pass_ticks) {
			if (syscall(SYS_tgkill, (long)getpid(), (long)q->tid, 0L) != 0 && q->gone_seen++) {
				/* Gone, and still unclaimed a pass later: a thread that
				 * claimed a ring during the last pass and exited at once
				 * had its ring visited since. Forget it. */
				q->head = q->len = 0;
				if (q->stat_fd < 0) {
					queue_remove(q);
					continue;
				}
			} else if (!q->gone_seen && q->len - q->head > UNCLAIMED_MAX) {
				/* Alive and not (yet) traced: the main thread before its
				 * first event, or a tracer thread. Keep the newest. */
				q->head = q->len - UNCLAIMED_MAX;
			}
		}
		i++;
	}
}

void cprof_sched_write_tail(struct trace_writer *w)
{
	if (tail_lost)
		trace_writer_sched_lost(w, tail_lost);
	tail_lost = 0; /* a later flight snapshot is not this capture */
}

void cprof_sched_after_fork_child(void)
{
	/* The child's events: the parent's fds are closed here and the
	 * child's only thread gets its own per-CPU events. */
	int was = source;
	perf_close_all();
	for (uint32_t i = 0; i < qcap; i++)
		if (queues[i].tid && queues[i].stat_fd >= 0)
			close(queues[i].stat_fd);
	free(queues);
	queues = NULL;
	qcap = qused = stat_fds = 0;
	active = 0;
	if (was == CPROF_SCHED_SOURCE_PERF)
		cprof_sched_init("perf");
	else
		source = was;
}
