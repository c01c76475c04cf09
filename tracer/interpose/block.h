/*
 * Blocking events and wake-up edges, for the interposed functions.
 * Internal.
 *
 * A wrapper calls the real function, and only when it took at least the
 * threshold (CPROF_TRACE_MIN_BLOCK_NS) records BLOCK_BEGIN (at the call's
 * start) and BLOCK_END (at its return) with the call's stack. A thread about
 * to wait on an object registers as its waiter; the thread that releases
 * the object (unlock, signal, post, write to a pipe's other end, thread
 * exit) records WAKEUP for the waiter it finds.
 */
#ifndef CPROF_BLOCK_H
#define CPROF_BLOCK_H

#include <errno.h>

#include "core/internal.h"
#include "stacks/stack.h"

/* Nonzero unless CPROF_TRACE_INTERPOSE=0 or tracing is off. */
extern int cprof_interpose_on CPROF_INTERNAL;

/* Whether this thread's calls are to be observed: not the tracer's own
 * threads, not the tracer's own calls (busy), not after thread exit. */
static inline struct cprof_thread *cprof_observed(void)
{
	struct cprof_thread *self = cprof_me();
	if (unlikely(!cprof_interpose_on || self->busy || self->status >= THREAD_DEAD))
		return NULL;
	return self;
}

/* Category meaning "classify `object` as a file descriptor". */
#define CPROF_BLOCK_BY_FD 0u

/* extra: frames between the interposed call's own frame and the caller
 * of cprof_block_end (0 but in out-of-line slow paths), so the stack's
 * leaf stays the interposed call. */
void cprof_block_record(struct cprof_site *what, unsigned category, uint64_t object, uint64_t t0,
			uint64_t t1, int extra) CPROF_INTERNAL;
uint64_t cprof_block_threshold_slow(void) CPROF_INTERNAL;
extern _Atomic uint64_t cprof_threshold_ticks CPROF_INTERNAL;

/* Threshold in ticks (calibrated lazily). */
static inline uint64_t cprof_block_threshold(void)
{
	uint64_t t = atomic_load_explicit(&cprof_threshold_ticks, memory_order_relaxed);
	return likely(t) ? t : cprof_block_threshold_slow();
}

/* Begins a call that may block: returns its start (ticks) and notes the
 * call on the thread's ring, for a capture that ends while it waits. */
static inline uint64_t cprof_call_begin(struct cprof_site *what, unsigned category, uint64_t object)
{
	uint64_t t0 = cprof_clock_now();
	struct ring *r = cprof_me()->ring;
	if (likely(r != NULL)) {
		atomic_store_explicit(&r->call_t0, t0, memory_order_relaxed);
		atomic_store_explicit(&r->call_object, object, memory_order_relaxed);
		atomic_store_explicit(&r->call_category, category, memory_order_relaxed);
		atomic_store_explicit(&r->call_site, (void *)what, memory_order_release);
	}
	return t0;
}

/* The call noted by cprof_call_begin returned. */
static inline void cprof_call_done(void)
{
	struct ring *r = cprof_me()->ring;
	if (likely(r != NULL))
		atomic_store_explicit(&r->call_site, NULL, memory_order_relaxed);
}

/* Ends a call that began at t0 (ticks, from cprof_call_begin): records it
 * when it lasted at least the threshold. what: the call's name site.
 * Preserves errno. The common case is a clock read and a compare. */
static inline void cprof_block_end_x(struct cprof_site *what, unsigned category, uint64_t object, uint64_t t0,
				     int extra)
{
	cprof_call_done();
	uint64_t t1 = cprof_clock_now();
	if (unlikely(t1 - t0 >= cprof_block_threshold()))
		cprof_block_record(what, category, object, t0, t1, extra);
}
static inline void cprof_block_end(struct cprof_site *what, unsigned category, uint64_t object, uint64_t t0)
{
	cprof_block_end_x(what, category, object, t0, 0);
}
void cprof_block_configure(uint64_t min_block_ns, int runq) CPROF_INTERNAL;

/* Waiters: returns a slot handle (0: not registered). One object keeps
 * up to CPROF_WAITERS_MAX registered waiters (block.c: the table's ways
 * times its spill buckets). */
#define CPROF_WAITERS_MAX 64u
int cprof_waiter_enter(uint64_t key) CPROF_INTERNAL;
void cprof_waiter_leave(int slot) CPROF_INTERNAL;
/* Waiting, process-wide: written on every wait's enter and leave, read by
 * every release wrapper (n) and so kept on a cache line of its own (the
 * struct's size is its alignment). It used to share one with `fds` and the
 * block threshold, read by every blocking call, and the queue counter with
 * the wrappers' flags: each wait then evicted those lines from the other
 * cores. */
struct cprof_waiting {
	_Alignas(64) _Atomic int n;  /* registered waiters, all objects */
	_Atomic uint64_t next_order; /* the next waiter queue position (block.c), from 1 */
};
extern struct cprof_waiting cprof_waiting CPROF_INTERNAL;
/* A release call's wake-ups, chosen before the real call (a woken waiter
 * may run and leave before the call returns) and recorded after it. */
struct wake_plan {
	uint64_t ts;    /* when the release began, ticks */
	uint32_t n;     /* targets, 0 when nobody waits on the object */
	uint32_t tids[CPROF_WAITERS_MAX];
};
#define WAKE_ONE 0
#define WAKE_ALL 1

void cprof_wake_plan_slow(uint64_t key, int all, struct wake_plan *plan) CPROF_INTERNAL;
void cprof_wake_commit_slow(uint64_t key, const struct wake_plan *plan, int extra) CPROF_INTERNAL;

/* Chooses the waiters on key that the release will wake (the longest
 * waiter, or all). One load when nobody waits anywhere. */
static inline void cprof_wake_plan(uint64_t key, int all, struct wake_plan *plan)
{
	plan->n = 0;
	if (unlikely(atomic_load_explicit(&cprof_waiting.n, memory_order_relaxed) > 0))
		cprof_wake_plan_slow(key, all, plan);
}

/* Records the planned wake-ups (after the release succeeded). Preserves errno. */
static inline void cprof_wake_commit_x(uint64_t key, const struct wake_plan *plan, int extra)
{
	if (unlikely(plan->n))
		cprof_wake_commit_slow(key, plan, extra);
}
static inline void cprof_wake_commit(uint64_t key, const struct wake_plan *plan)
{
	cprof_wake_commit_x(key, plan, 0);
}

/* File descriptors: cheap classification for the net/syscall split. */
enum fd_kind {
	FD_UNKNOWN = 0,
	FD_SOCKET = 1,
	FD_OTHER = 2,       /* files, pipes, ttys, ... */
	FD_NET_WATCHER = 3, /* an epoll instance that watches a socket */
};
unsigned cprof_fd_category(int fd) CPROF_INTERNAL;     /* CPROF_BLOCK_NET or _SYSCALL */
void cprof_fd_set(int fd, enum fd_kind kind, int partner) CPROF_INTERNAL;
void cprof_fd_forget(int fd) CPROF_INTERNAL;
/* The wake-up key of a pipe or socketpair end (shared by both ends), or 0. */
uint64_t cprof_fd_pair_key(int fd) CPROF_INTERNAL;

#endif
