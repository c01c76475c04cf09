/*
 * Blocking events, waiters and wake-ups, fd classification (block.h).
 *
 * Workload: wrappers run on every interposed call, so the common case (the
 * call did not block) costs two clock reads and a compare; everything else
 * here runs only for calls that blocked, or on release paths that found a
 * registered waiter. Nothing here locks; the waiter table is lock-free
 * (CAS on slot keys); run-queue samples are rate-limited per thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interpose/block.h"

int cprof_interpose_on = 1;
static uint64_t min_block_ns = 1000;
_Atomic uint64_t cprof_threshold_ticks; /* 0 until the clock is calibrated */
static _Atomic uint64_t runq_period_ticks; /* at most one run-queue sample per thread per 10 ms */
static int runq_enabled = 1;

void cprof_block_configure(uint64_t ns, int runq)
{
	min_block_ns = ns;
	runq_enabled = runq;
}

uint64_t cprof_block_threshold_slow(void)
{
	uint64_t per_sec;
	if (!cprof_clock_tsc)
		per_sec = 1000000000u;
	else if (cprof_clock_calibrated())
		per_sec = cprof_clock_ticks_per_sec();
	else
		return min_block_ns * 3; /* first 20 ms: assume at most 3 ticks a ns */
	uint64_t t = (uint64_t)((double)min_block_ns * (double)per_sec / 1e9);
	atomic_store_explicit(&runq_period_ticks, per_sec / 100, memory_order_relaxed);
	atomic_store_explicit(&cprof_threshold_ticks, t ? t : 1, memory_order_relaxed);
	return t ? t : 1;
}

/* Kernel run-queue wait of this thread, ns (schedstat field 2), or -1. */
static int64_t runq_wait_ns(void)
{
	char buf[96];
	if (!cprof_read_small("/proc/thread-self/schedstat", buf, sizeof buf))
		return -1;
	unsigned long long run, wait;
	if (sscanf(buf, "%llu %llu", &run, &wait) != 2)
		return -1;
	return (int64_t)wait;
}

/* Samples the run-queue wait at most once per period; returns the wait
 * since the previous sample (ns), or 0. The /proc read is the tracer's own
 * (busy is set by the caller); recording is the caller's, after. */
static uint64_t runq_sample(struct cprof_thread *self, uint64_t now)
{
	uint64_t period = atomic_load_explicit(&runq_period_ticks, memory_order_relaxed);
	if (!period)
		period = 30000000u;
	if (self->runq_last_ticks && now - self->runq_last_ticks < period)
		return 0;
	self->runq_last_ticks = now;
	int64_t w = runq_wait_ns();
	if (w < 0)
		return 0;
	uint64_t delta = self->runq_last_ns && (uint64_t)w > self->runq_last_ns ? (uint64_t)w - self->runq_last_ns : 0;
	self->runq_last_ns = (uint64_t)w;
	return delta;
}

__attribute__((noinline)) void cprof_block_record(struct cprof_site *what, unsigned category, uint64_t object,
						  uint64_t t0, uint64_t t1, int extra)
{
	struct cprof_thread *self = cprof_me();
	if (self->busy)
		return;
	int saved = errno;
	self->busy = 1; /* interning, unwinding, fstat, /proc reads are the tracer's own */
	if (category == CPROF_BLOCK_BY_FD)
		category = cprof_fd_category((int)object);
	/* skip 1: this function; the leaf frame is the interposed call */
	uint64_t args[4] = {category, object, cprof_site_id(what), cprof_stack_here(1 + extra)};
	self->busy = 0;
	cprof_record_block(t0, args, t1); /* one reservation: the pair stays whole */
	if (runq_enabled) {
		self->busy = 1;
		uint64_t delay = runq_sample(self, t1);
		self->busy = 0;
		if (delay)
			cprof_record(CPROF_EV_RUNQ_DELAY, &delay, NULL, 0);
	}
	errno = saved;
}

/* ---- waiters ----
 *
 * A fixed table of WAIT_BUCKETS x WAIT_WAYS slots; a waiter takes a free
 * slot in its object's home bucket (CAS on key), a waker scans that bucket.
 * A waiter that finds its home bucket full spills into the next
 * WAIT_SPILL - 1 buckets and counts itself in its home bucket's `spilled`;
 * wakers scan those buckets only while that count is nonzero. So one object
 * keeps up to WAIT_WAYS x WAIT_SPILL waiters (more go without a wake-up edge
 * or a mutex-profile charge, their block still recorded) at the cost of one
 * bucket's scan when nobody spilled.
 * Waking one models the kernel's FIFO futex queue: the longest waiter
 * (smallest `order`) is woken and requeued at the tail, since an unfair
 * lock may let it lose the race and sleep again; its block's last wake-up
 * is the one that counts.
 */

#define WAIT_BUCKETS 256u
#define WAIT_WAYS 8u
#define WAIT_SPILL 8u /* buckets a waiter may use: its home and the next 7 */
_Static_assert(WAIT_WAYS * WAIT_SPILL == CPROF_WAITERS_MAX, "a wake plan holds every waiter of an object");

/* A bucket's keys share one cache line (wakers and the mutex profile scan
 * them on every release while anyone waits anywhere); the rest of a slot
 * is read only where the key matches. */
struct waiter {
	_Atomic uint32_t tid;
	_Atomic uint64_t order; /* queue position: smaller waited longer */
	_Atomic uint64_t since; /* ticks: its wait not yet charged to a releaser began here (mutex profile) */
};

static _Atomic uint64_t waiter_keys[WAIT_BUCKETS * WAIT_WAYS] __attribute__((aligned(64))); /* 0 free, else the object */
static struct waiter waiters[WAIT_BUCKETS * WAIT_WAYS];
static _Atomic uint32_t spilled[WAIT_BUCKETS]; /* waiters of this home bucket placed in later ones */
struct cprof_waiting cprof_waiting = {.n = 0, .next_order = 1};

/* The first slot of key's home bucket. */
static uint32_t bucket_of(uint64_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 56) % WAIT_BUCKETS * WAIT_WAYS;
}

/* The number of slots from key's home bucket's first a waker scans:
 * WAIT_WAYS, or every spill bucket's while a waiter of that home spilled.
 * Acquire: pairs with waiter_enter's release of the count. */
static uint32_t scan_span(uint32_t home)
{
	return atomic_load_explicit(&spilled[home / WAIT_WAYS], memory_order_acquire) ? WAIT_WAYS * WAIT_SPILL
										 : WAIT_WAYS;
}

static struct waiter *waiter_at(uint32_t home, uint32_t i)
{
	return &waiters[(home + i) % (WAIT_BUCKETS * WAIT_WAYS)];
}

static _Atomic uint64_t *key_at(uint32_t home, uint32_t i)
{
	return &waiter_keys[(home + i) % (WAIT_BUCKETS * WAIT_WAYS)];
}

int cprof_waiter_enter(uint64_t key)
{
	if (!key)
		return 0;
	struct cprof_thread *self = cprof_me();
	uint32_t tid = self->ring ? self->ring->tid : 0;
	if (!tid)
		return 0; /* not attached yet: nobody could name it */
	uint32_t b = bucket_of(key);
	for (uint32_t i = 0; i < WAIT_WAYS * WAIT_SPILL; i++) {
		struct waiter *w = waiter_at(b, i);
		uint64_t expect = 0;
		if (atomic_load_explicit(key_at(b, i), memory_order_relaxed) != 0)
			continue;
		if (!atomic_compare_exchange_strong_explicit(key_at(b, i), &expect, key, memory_order_acquire,
							     memory_order_relaxed))
			continue;
		atomic_store_explicit(&w->tid, tid, memory_order_relaxed);
		atomic_store_explicit(&w->since, cprof_clock_now(), memory_order_relaxed);
		atomic_store_explicit(&w->order, atomic_fetch_add(&cprof_waiting.next_order, 1), memory_order_relaxed);
		if (i >= WAIT_WAYS) /* Release: a waker that sees the count sees our slot. */
			atomic_fetch_add_explicit(&spilled[b / WAIT_WAYS], 1, memory_order_release);
		/* Release: a waker that counts us sees our slot complete. */
		atomic_fetch_add_explicit(&cprof_waiting.n, 1, memory_order_release);
		return (int)((b + i) % (WAIT_BUCKETS * WAIT_WAYS)) + 1;
	}
	return 0; /* every spill bucket full: this wait goes without a wake-up edge */
}

void cprof_waiter_leave(int slot)
{
	if (!slot)
		return;
	struct waiter *w = &waiters[slot - 1];
	uint32_t home = bucket_of(atomic_load_explicit(&waiter_keys[slot - 1], memory_order_relaxed));
	/* slots [home, home + WAIT_WAYS) are the home bucket's, cyclically */
	int spill = ((uint32_t)(slot - 1) - home) % (WAIT_BUCKETS * WAIT_WAYS) >= WAIT_WAYS;
	/* `since` is cleared before the slot is freed: a charger racing with
	 * the next waiter's enter (key set, since not yet) must not charge the
	 * time since this waiter's last charge to it. */
	atomic_store_explicit(&w->since, 0, memory_order_relaxed);
	atomic_store_explicit(&w->tid, 0, memory_order_relaxed);
	atomic_store_explicit(&waiter_keys[slot - 1], 0, memory_order_release);
	if (spill)
		atomic_fetch_sub_explicit(&spilled[home / WAIT_WAYS], 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&cprof_waiting.n, 1, memory_order_relaxed);
}

/* The mutex profile's charge (interpose/contention.h): each waiter's
 * `since` moves to now by exchange, so two releasers never charge the same
 * interval twice. */
uint64_t cprof_waiters_charge(uint64_t key, uint32_t *nwaiters)
{
	*nwaiters = 0;
	if (!key)
		return 0;
	atomic_thread_fence(memory_order_acquire); /* pairs with waiter_enter's release */
	uint32_t b = bucket_of(key), span = scan_span(b);
	uint64_t now = cprof_clock_now(), sum = 0;
	for (uint32_t i = 0; i < span; i++) {
		struct waiter *w = waiter_at(b, i);
		if (atomic_load_explicit(key_at(b, i), memory_order_relaxed) != key)
			continue;
		/* Only forward in time, and only a registered wait's start (0:
		 * the slot is between waiters). */
		uint64_t since = atomic_load_explicit(&w->since, memory_order_relaxed);
		if (since && since < now &&
		    atomic_compare_exchange_strong_explicit(&w->since, &since, now, memory_order_relaxed,
							    memory_order_relaxed)) {
			sum += now - since;
			++*nwaiters;
		}
	}
	return sum;
}

__attribute__((noinline)) void cprof_wake_plan_slow(uint64_t key, int all, struct wake_plan *plan)
{
	struct cprof_thread *self = cprof_me();
	if (!key || self->busy || self->status >= THREAD_DEAD || !cprof_interpose_on)
		return;
	atomic_thread_fence(memory_order_acquire); /* pairs with waiter_enter's release */
	uint32_t b = bucket_of(key), me = self->ring ? self->ring->tid : 0, span = scan_span(b);
	struct waiter *oldest = NULL;
	uint64_t oldest_order = UINT64_MAX;
	for (uint32_t i = 0; i < span; i++) {
		struct waiter *w = waiter_at(b, i);
		if (atomic_load_explicit(key_at(b, i), memory_order_relaxed) != key)
			continue;
		uint32_t tid = atomic_load_explicit(&w->tid, memory_order_relaxed);
		uint64_t order = atomic_load_explicit(&w->order, memory_order_relaxed);
		if (!tid || tid == me)
			continue;
		if (all) {
			if (plan->n < CPROF_WAITERS_MAX)
				plan->tids[plan->n++] = tid;
		}
		else if (order < oldest_order)
			oldest = w, oldest_order = order, plan->tids[0] = tid, plan->n = 1;
	}
	if (oldest) /* requeued at the tail, as the kernel does with a loser */
		atomic_store_explicit(&oldest->order, atomic_fetch_add(&cprof_waiting.next_order, 1), memory_order_relaxed);
	if (plan->n)
		plan->ts = cprof_clock_now();
}

__attribute__((noinline)) void cprof_wake_commit_slow(uint64_t key, const struct wake_plan *plan, int extra)
{
	struct cprof_thread *self = cprof_me();
	if (self->busy)
		return;
	int saved = errno;
	self->busy = 1;
	uint64_t stack = cprof_stack_here(1 + extra); /* the leaf frame is the releasing call */
	self->busy = 0;
	for (uint32_t i = 0; i < plan->n; i++) {
		uint64_t args[3] = {plan->tids[i], key, stack};
		cprof_record_at(plan->ts, CPROF_EV_WAKEUP, args, NULL, 0);
	}
	errno = saved;
}

/* ---- file descriptors ---- */

#define FD_TABLE 65536

struct fd_info {
	uint8_t kind;    /* enum fd_kind */
	int32_t partner; /* the other end of a pipe/socketpair + 1, 0 none */
};

static void *_Atomic fds; /* struct fd_info[FD_TABLE] */

static struct fd_info *fd_table(void)
{
	return cprof_map_once(&fds, FD_TABLE * sizeof(struct fd_info));
}

/* The table is advisory (a stale entry misfiles one event's category), so
 * entries are plain bytes written with relaxed atomics. */
void cprof_fd_set(int fd, enum fd_kind kind, int partner)
{
	struct fd_info *t;
	if (fd < 0 || fd >= FD_TABLE || !(t = fd_table()))
		return;
	__atomic_store_n(&t[fd].kind, (uint8_t)kind, __ATOMIC_RELAXED);
	__atomic_store_n(&t[fd].partner, partner >= 0 ? partner + 1 : 0, __ATOMIC_RELAXED);
}

void cprof_fd_forget(int fd)
{
	struct fd_info *t = atomic_load_explicit(&fds, memory_order_acquire);
	if (fd >= 0 && fd < FD_TABLE && t) {
		__atomic_store_n(&t[fd].kind, FD_UNKNOWN, __ATOMIC_RELAXED);
		__atomic_store_n(&t[fd].partner, 0, __ATOMIC_RELAXED);
	}
}

unsigned cprof_fd_category(int fd)
{
	struct fd_info *t = fd_table();
	uint8_t kind = FD_UNKNOWN;
	if (t && fd >= 0 && fd < FD_TABLE)
		kind = __atomic_load_n(&t[fd].kind, __ATOMIC_RELAXED);
	if (kind == FD_UNKNOWN) {
		struct stat st;
		int saved = errno;
		kind = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? FD_SOCKET : FD_OTHER;
		errno = saved;
		if (t && fd >= 0 && fd < FD_TABLE)
			__atomic_store_n(&t[fd].kind, kind, __ATOMIC_RELAXED);
	}
	return kind == FD_SOCKET || kind == FD_NET_WATCHER ? CPROF_BLOCK_NET : CPROF_BLOCK_SYSCALL;
}

uint64_t cprof_fd_pair_key(int fd)
{
	struct fd_info *t = atomic_load_explicit(&fds, memory_order_acquire);
	if (!t || fd < 0 || fd >= FD_TABLE)
		return 0;
	int32_t partner = __atomic_load_n(&t[fd].partner, __ATOMIC_RELAXED);
	if (!partner)
		return 0;
	int lo = fd < partner - 1 ? fd : partner - 1;
	return 0x5000000000000000ull | (uint64_t)lo; /* not an address: high bits set */
}
