/*
 * Block and mutex profile tables (contention.h).
 *
 * Workload: only contended sync calls get here (an uncontended lock never
 * does), so each entry costs one stack capture (libunwind, the same
 * capture a recorded blocking event pays, plus the stack table's lookup)
 * and two relaxed atomic adds to the stack's counters. The tables are indexed by stack id, so two threads
 * adding to one stack share a cache line and nothing else; readers (HTTP
 * threads) read the counters without stopping anyone, a profile being a
 * sum of monotone counters read at slightly different instants.
 */
#include <errno.h>
#include <stdio.h>

#include "interpose/block.h"
#include "interpose/contention.h"
#include "stacks/stack.h"

uint64_t cprof_blockprof_rate_ns = 1;
uint32_t cprof_mutexprof_fraction = 1;
_Atomic uint64_t cprof_blockprof_rate_ticks;

/* Zero pages until touched: 1 MiB each (16 bytes per stack id). */
static struct cprof_contention block_table[CPROF_STACK_IDS + 1];
static struct cprof_contention mutex_table[CPROF_STACK_IDS + 1];

void cprof_contention_configure(uint64_t block_rate_ns, uint32_t mutex_fraction)
{
	cprof_blockprof_rate_ns = block_rate_ns;
	cprof_mutexprof_fraction = mutex_fraction;
	atomic_store_explicit(&cprof_blockprof_rate_ticks, 0, memory_order_relaxed);
}

/* The rate in ticks; before the clock is calibrated (first 20 ms) assume
 * at most 3 ticks a ns, as block.c's threshold does. */
uint64_t cprof_blockprof_rate_slow(void)
{
	if (!cprof_clock_tsc)
		return cprof_blockprof_rate_ns;
	if (!cprof_clock_calibrated())
		return cprof_blockprof_rate_ns * 3;
	uint64_t t = (uint64_t)((double)cprof_blockprof_rate_ns * (double)cprof_clock_ticks_per_sec() / 1e9);
	if (!t)
		t = 1;
	atomic_store_explicit(&cprof_blockprof_rate_ticks, t, memory_order_relaxed);
	return t;
}

__attribute__((noinline)) void cprof_blockprof_record(uint64_t ticks, int extra)
{
	struct cprof_thread *self = cprof_me();
	if (self->busy)
		return;
	int saved = errno;
	self->busy = 1;
	uint32_t id = cprof_stack_here(1 + extra); /* 0 when the stack table is full */
	self->busy = 0;
	/* Relaxed: counters, summed by readers; no ordering with anything. */
	atomic_fetch_add_explicit(&block_table[id].count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&block_table[id].ticks, ticks, memory_order_relaxed);
	errno = saved;
}

__attribute__((noinline)) void cprof_mutexprof_release_slow(uint64_t key, int extra)
{
	struct cprof_thread *self = cprof_me();
	if (self->busy || self->status >= THREAD_DEAD || !cprof_interpose_on)
		return;
	uint32_t n = 0;
	uint64_t ticks = cprof_waiters_charge(key, &n);
	if (!n || !ticks)
		return;
	uint32_t f = cprof_mutexprof_fraction;
	if (f > 1) { /* sample 1/f of the events (Go's fastrandn(rate) == 0), scaled by f */
		uint64_t x = cprof_clock_now() * 0x9e3779b97f4a7c15ull;
		if ((x >> 33) % f)
			return;
	}
	int saved = errno;
	self->busy = 1;
	uint32_t id = cprof_stack_here(1 + extra); /* the leaf is the releasing wrapper */
	self->busy = 0;
	atomic_fetch_add_explicit(&mutex_table[id].count, f, memory_order_relaxed);
	atomic_fetch_add_explicit(&mutex_table[id].ticks, ticks * f, memory_order_relaxed);
	errno = saved;
}

const struct cprof_contention *cprof_blockprof_table(void)
{
	return block_table;
}

const struct cprof_contention *cprof_mutexprof_table(void)
{
	return mutex_table;
}
