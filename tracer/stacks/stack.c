/*
 * Stacks: capture on the blocking path, deduplicate into process-wide ids.
 *
 * Workload: a stack is captured only for an event that asks for one (a call
 * that blocked past the threshold, a thread creation), so at most a few
 * hundred thousand a second; distinct stacks number in the hundreds to tens
 * of thousands. Capture is libunwind's unw_backtrace (local, per-thread
 * cache: async-signal-safe). The table is lock-free open addressing: a slot
 * goes EMPTY -> WRITING (CAS, by the inserter) -> READY (store-release after
 * its PCs are written); it never changes again, so readers (the drainer)
 * need only an acquire load of the state. Ids are slot index + 1. When the
 * table is full, new stacks get id 0 (no stack), counted in stack_overflow.
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <string.h>
#include <sys/mman.h>

#include "core/internal.h"
#include "stacks/stack.h"

#define TABLE_SLOTS (1u << 16)
#define PROBES 64

enum { SLOT_EMPTY = 0, SLOT_WRITING = 1, SLOT_READY = 2 };

/* hash and depth are read by probing inserters before they know the slot
 * is theirs to compare: relaxed atomics, so no compiler hoists those loads
 * above the state check (pcs are compared only after it, by memcmp). */
struct stack_slot {
	_Atomic uint32_t state;
	_Atomic uint32_t depth;
	_Atomic uint64_t hash;
	uintptr_t pcs[CPROF_STACK_DEPTH];
};

static void *_Atomic table; /* struct stack_slot[TABLE_SLOTS] */
static _Atomic uint64_t stack_overflow;
int cprof_stacks_enabled = 1;

void cprof_stacks_init(void)
{
	cprof_unwind_fds_guard(); /* before libunwind opens its pipe */
#ifdef __SANITIZE_THREAD__
	/* TSan tears a thread down before libunwind's per-thread cache
	 * destructor runs, and crashes in it: TSan builds use the global cache. */
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_GLOBAL);
#else
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD); /* signal-safe */
#endif
}

static struct stack_slot *get_table(void)
{
	return cprof_map_once(&table, TABLE_SLOTS * sizeof(struct stack_slot));
}

static uint64_t hash_pcs(const uintptr_t *pcs, uint32_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
	for (uint32_t i = 0; i < n; i++) {
		h ^= pcs[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 33;
	}
	return h ? h : 1;
}

uint32_t cprof_stack_intern(const uintptr_t *pcs, uint32_t n)
{
	struct stack_slot *t = get_table();
	if (!t || n == 0)
		return 0;
	if (n > CPROF_STACK_DEPTH)
		n = CPROF_STACK_DEPTH;
	uint64_t h = hash_pcs(pcs, n);
	for (uint32_t k = 0; k < PROBES; k++) {
		uint32_t i = (uint32_t)(h + k) & (TABLE_SLOTS - 1);
		struct stack_slot *s = &t[i];
		uint32_t st = atomic_load_explicit(&s->state, memory_order_acquire);
		if (st == SLOT_EMPTY) {
			uint32_t expect = SLOT_EMPTY;
			if (atomic_compare_exchange_strong_explicit(&s->state, &expect, SLOT_WRITING,
								    memory_order_acquire, memory_order_acquire)) {
				atomic_store_explicit(&s->hash, h, memory_order_relaxed);
				atomic_store_explicit(&s->depth, n, memory_order_relaxed);
				memcpy(s->pcs, pcs, n * sizeof *pcs);
				/* Release: the PCs are written before anyone sees READY. */
				atomic_store_explicit(&s->state, SLOT_READY, memory_order_release);
				return i + 1;
			}
			/* Lost the race: read the winner's state with a plain
			 * acquire (clearer than relying on the CAS's failure order). */
			st = atomic_load_explicit(&s->state, memory_order_acquire);
		}
		/* A slot being written may hold our stack; we cannot wait for it
		 * (signal handlers), so a rare duplicate id is the price. */
		if (st == SLOT_READY && atomic_load_explicit(&s->hash, memory_order_relaxed) == h &&
		    atomic_load_explicit(&s->depth, memory_order_relaxed) == n && memcmp(s->pcs, pcs, n * sizeof *pcs) == 0)
			return i + 1;
	}
	atomic_fetch_add_explicit(&stack_overflow, 1, memory_order_relaxed);
	return 0;
}

__attribute__((noinline)) uint32_t cprof_stack_here(int skip)
{
	if (!cprof_stacks_enabled)
		return 0;
	void *buf[CPROF_STACK_DEPTH + 8];
	skip += 1; /* this function */
	if (skip > 8)
		skip = 8;
#ifdef __SANITIZE_THREAD__
	/* unw_backtrace keeps a per-thread trace cache whose destructor TSan
	 * cannot survive at thread exit; TSan builds step frame by frame. */
	int n = 0;
	unw_context_t ctx;
	unw_cursor_t cur;
	if (unw_getcontext(&ctx) == 0 && unw_init_local(&cur, &ctx) == 0) {
		do {
			unw_word_t ip;
			if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || !ip)
				break;
			buf[n++] = (void *)ip;
		} while (n < CPROF_STACK_DEPTH + skip && unw_step(&cur) > 0);
	}
#else
	int n = unw_backtrace(buf, CPROF_STACK_DEPTH + skip);
#endif
	if (n <= skip)
		return 0;
	return cprof_stack_intern((const uintptr_t *)(buf + skip), (uint32_t)(n - skip));
}

const uintptr_t *cprof_stack_get(uint32_t id, uint32_t *depth)
{
	struct stack_slot *t = atomic_load_explicit(&table, memory_order_acquire);
	if (!t || id == 0 || id > TABLE_SLOTS)
		return NULL;
	struct stack_slot *s = &t[id - 1];
	if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_READY)
		return NULL;
	*depth = atomic_load_explicit(&s->depth, memory_order_relaxed);
	return s->pcs;
}

uint64_t cprof_stack_overflows(void)
{
	return atomic_load_explicit(&stack_overflow, memory_order_relaxed);
}
