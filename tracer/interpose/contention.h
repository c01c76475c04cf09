/*
 * The block and mutex profiles' tables (Go's /debug/pprof/block and
 * /debug/pprof/mutex), filled by the sync wrappers. Internal.
 *
 * block: every contended wait in an interposed sync call (mutex, rwlock,
 *   condition variable, semaphore, barrier, join, spin) that lasted at least
 *   CPROF_TRACE_BLOCK_RATE ns (default 1: every contended wait; 0: off) adds
 *   one contention and its delay to the waiting stack.
 * mutex: at each release of a mutex or rwlock that has registered waiters,
 *   the releasing stack is charged the waiters' time since they began
 *   waiting or since the previous release charged them, whichever is later:
 *   each waiter's wait is split among the holders that made it wait (Go's
 *   semantics: the delay goes to the unlock). CPROF_TRACE_MUTEX_FRACTION=n
 *   records 1/n of those events on average, scaled by n (default 1; 0: off).
 *
 * Both are cumulative since start, recorded whether or not a capture runs,
 * in per-stack-id counters (relaxed atomic adds: no lock anywhere).
 */
#ifndef CPROF_CONTENTION_H
#define CPROF_CONTENTION_H

#include <stdint.h>

#include "core/internal.h"
#include "interpose/block.h"

struct cprof_contention {        /* one per stack id (CPROF_STACK_IDS + 1) */
	_Atomic uint64_t count;  /* contentions */
	_Atomic uint64_t ticks;  /* delay, clock ticks (ns = ticks * 1e9 / ticks_per_sec) */
};

extern uint64_t cprof_blockprof_rate_ns CPROF_INTERNAL;     /* 0: off */
extern uint32_t cprof_mutexprof_fraction CPROF_INTERNAL;    /* 0: off */
extern _Atomic uint64_t cprof_blockprof_rate_ticks CPROF_INTERNAL; /* 0 until computed */

void cprof_contention_configure(uint64_t block_rate_ns, uint32_t mutex_fraction) CPROF_INTERNAL;
uint64_t cprof_blockprof_rate_slow(void) CPROF_INTERNAL;
/* Adds a wait of `ticks` to the caller's caller's stack (the wrapper's). */
/* extra: frames between the wrapper's and the caller's (see
 * cprof_block_record) */
void cprof_blockprof_record(uint64_t ticks, int extra) CPROF_INTERNAL;
void cprof_mutexprof_release_slow(uint64_t key, int extra) CPROF_INTERNAL;

/* A contended wait in a sync wrapper began at t0 (ticks) and just ended.
 * Preserves errno. Must be called from the wrapper itself (its stack). */
static inline void cprof_blockprof_wait_x(uint64_t t0, int extra)
{
	if (!cprof_blockprof_rate_ns)
		return;
	uint64_t d = cprof_clock_now() - t0;
	uint64_t r = atomic_load_explicit(&cprof_blockprof_rate_ticks, memory_order_relaxed);
	if (d >= (likely(r) ? r : cprof_blockprof_rate_slow()))
		cprof_blockprof_record(d, extra);
}
static inline void cprof_blockprof_wait(uint64_t t0)
{
	cprof_blockprof_wait_x(t0, 0);
}

/* The wrapper is about to release the mutex or rwlock `key`: charges its
 * stack for the waiters' delay. One load when nobody waits anywhere. */
static inline void cprof_mutexprof_release_x(uint64_t key, int extra)
{
	if (unlikely(atomic_load_explicit(&cprof_waiting.n, memory_order_relaxed) > 0) && cprof_mutexprof_fraction)
		cprof_mutexprof_release_slow(key, extra);
}
static inline void cprof_mutexprof_release(uint64_t key)
{
	cprof_mutexprof_release_x(key, 0);
}

/* The live tables (CPROF_STACK_IDS + 1 entries), read with relaxed loads
 * by the profile builders on HTTP threads. */
const struct cprof_contention *cprof_blockprof_table(void) CPROF_INTERNAL;
const struct cprof_contention *cprof_mutexprof_table(void) CPROF_INTERNAL;

/* block.c: the delay of every registered waiter on key since it began
 * waiting or was last charged, in ticks, and the number of such waiters;
 * moves their charge mark to now. */
uint64_t cprof_waiters_charge(uint64_t key, uint32_t *nwaiters) CPROF_INTERNAL;

#endif
