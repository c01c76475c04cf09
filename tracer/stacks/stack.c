/*
 * Stacks: capture on the blocking path, deduplicate into process-wide ids.
 *
 * Workload: a stack is captured only for an event that asks for one (a call
 * that blocked past the threshold, a thread creation), so at most a few
 * hundred thousand a second; distinct stacks number in the hundreds to tens
 * of thousands. Capture is our own walk over the call-frame information
 * (stacks/cfi.c), with libunwind's unw_backtrace (local, per-thread cache:
 * async-signal-safe) for frames it does not follow. The table is lock-free open addressing: a slot
 * goes EMPTY -> WRITING (CAS, by the inserter) -> READY (store-release after
 * its PCs are written); it never changes again, so readers (the drainer)
 * need only an acquire load of the state. Ids are slot index + 1. When the
 * table is full, new stacks get id 0 (no stack), counted in stack_overflow.
 * In front of both, a cache of whole stacks by call site (below) answers
 * a repeated stack without unwinding.
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <string.h>
#include <sys/mman.h>

#include "core/internal.h"
#include "stacks/cfi.h"
#include "stacks/stack.h"
#include "stacks/unwind_raw.h"

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
	cprof_cfi_init();
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


/* ---- Whole-stack cache ----
 *
 * Unwinding walks frame by frame through a per-PC table of rules: a chain
 * of dependent loads and a lookup per frame (libunwind's cost: ~14 ns a
 * frame here). A blocking call is made again and again from the
 * same few places, so the whole stack is cached instead, keyed by where
 * cprof_stack_here was called from (its return address and its CFA, the
 * caller's stack pointer) and the skip: an entry holds the frames' PCs, the
 * stack id, and, for each frame, where on the stack its return address
 * lives, as an offset from that CFA. A lookup checks each of those stack
 * words against the cached PC (independent loads, no unwinding) and
 * returns the cached id when all match.
 *
 * That check is exact only when every frame's CFA is the stack pointer
 * plus a constant fixed by its PC (then the PC at each level fixes where
 * the next return address is): an entry is made only when our walk
 * (stacks/cfi.c) found every frame that locates a return address with its
 * CFA at %rsp + a constant at that PC; a frame with the frame pointer as
 * CFA (alloca, VLAs, realignment, -fno-omit-frame-pointer code), or a walk
 * left to libunwind, makes the stack uncached. The stack must end where
 * the walk ended: at the depth limit, or at an outermost frame whose CFI
 * marks the return address undefined (_start, clone3).
 *
 * Stack words are read only inside the range this thread's own unwinds
 * have read (cprof_thread.stack_lo/hi): an entry another thread made at
 * the same addresses (a reused stack) is never read past it. Entries are
 * global; a sequence count per entry lets readers (other threads, signal
 * handlers) see a consistent entry or miss. A miss costs one walk, which
 * gives the return addresses' locations too. */

#define SC_ENTRIES 1024
#define SC_FRAMES (CPROF_STACK_DEPTH + 8)

struct stack_cache_entry {
	_Atomic uint32_t seq; /* odd while written */
	_Atomic uint32_t n;   /* frames in pcs (buf[0] is cprof_stack_here's own); 0: uncacheable key */
	_Atomic uint32_t skip;
	_Atomic uint32_t id;
	_Atomic uint32_t gen; /* cprof_code_gen when made: older entries never match */
	_Atomic uint64_t cfa0, ra;
	_Atomic uint64_t span; /* bytes above cfa0 the check reads */
	_Atomic uint64_t pcs[SC_FRAMES];
	_Atomic int32_t offs[SC_FRAMES]; /* return address of frame k at cfa0 + offs[k] */
};

static void *_Atomic stack_cache; /* struct stack_cache_entry[SC_ENTRIES] */
int cprof_stack_cache_enabled = 1;

static inline uint32_t sc_slot(uintptr_t ra, uintptr_t cfa0, int skip)
{
	uint64_t h = ra * 0x9e3779b97f4a7c15ull + cfa0 * 0xc2b2ae3d27d4eb4full + (uint64_t)skip;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 29;
	return (uint32_t)h & (SC_ENTRIES - 1); /* a set: this and slot ^ 1 */
}

/* Entry e's stack id when its key is (ra, cfa0, skip) and every return
 * address is where it says; 0 otherwise (*negative: the key is marked
 * uncacheable). Reads stack words other frames own (ASan's redzones
 * included, when an entry does not match). */
__attribute__((no_sanitize("address"))) static uint32_t sc_check(struct stack_cache_entry *e, uintptr_t ra,
								  uintptr_t cfa0, int skip, int *negative)
{
	struct cprof_thread *self = cprof_me();
	uint32_t s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
	if ((s1 & 1) || atomic_load_explicit(&e->cfa0, memory_order_relaxed) != cfa0 ||
	    atomic_load_explicit(&e->gen, memory_order_relaxed) != atomic_load_explicit(&cprof_code_gen, memory_order_relaxed) ||
	    atomic_load_explicit(&e->ra, memory_order_relaxed) != ra ||
	    atomic_load_explicit(&e->skip, memory_order_relaxed) != (uint32_t)skip)
		return 0;
	uint32_t n = atomic_load_explicit(&e->n, memory_order_relaxed);
	uint64_t span = atomic_load_explicit(&e->span, memory_order_relaxed);
	uint32_t id = atomic_load_explicit(&e->id, memory_order_relaxed);
	if (n == 0) {
		*negative = 1;
		return 0;
	}
	if (n > SC_FRAMES || cfa0 - 8 < self->stack_lo || cfa0 + span > self->stack_hi)
		return 0;
	uint64_t bad = 0;
	for (uint32_t k = 2; k < n; k++) {
		int32_t off = atomic_load_explicit(&e->offs[k], memory_order_relaxed);
		if ((uint64_t)((int64_t)off + 8) > span)
			return 0; /* torn entry: the sequence check would refuse it */
		bad |= *(const volatile uintptr_t *)(cfa0 + (intptr_t)off) ^
		       atomic_load_explicit(&e->pcs[k], memory_order_relaxed);
	}
	atomic_thread_fence(memory_order_acquire);
	if (bad || atomic_load_explicit(&e->seq, memory_order_relaxed) != s1)
		return 0;
	return id;
}

/* Two ways per set: two stacks that share a key (one call site reached
 * through two callers with equal frame sizes) both stay cached. */
static uint32_t sc_lookup(uintptr_t ra, uintptr_t cfa0, int skip, int *negative)
{
	struct stack_cache_entry *c = atomic_load_explicit(&stack_cache, memory_order_acquire);
	if (!c)
		return 0;
	uint32_t i = sc_slot(ra, cfa0, skip), id = sc_check(&c[i], ra, cfa0, skip, negative);
	return id ? id : sc_check(&c[i ^ 1], ra, cfa0, skip, negative);
}

/* After a miss: the stack our unwinder walked (buf[0..n-1], buf[0] in
 * cprof_stack_here, buf[1] == ra; cfas[k] frame k's CFA) is cached under
 * (ra, cfa0, skip) with the locations of its return addresses when the
 * walk says every frame that locates one did it from %rsp (see above);
 * else the key is marked uncacheable. */
static __attribute__((noinline)) void sc_fill(const uintptr_t *buf, const uintptr_t *cfas, int n, int cacheable,
					      int skip, uintptr_t cfa0, uintptr_t ra, uint32_t id, uint32_t gen)
{
	struct stack_cache_entry *c = cprof_map_once(&stack_cache, SC_ENTRIES * sizeof(struct stack_cache_entry));
	if (!c || n < 2 || n > SC_FRAMES || buf[1] != ra)
		return;
	/* the return address into frame k lives just below frame k-1's CFA */
	int32_t offs[SC_FRAMES];
	int ok = cacheable && cfas && cfas[0] == cfa0;
	for (int k = 1; k < n && ok; k++) {
		int64_t off = (int64_t)(cfas[k - 1] - 8 - cfa0);
		if (off < -8 || off > INT32_MAX)
			ok = 0;
		else
			offs[k] = (int32_t)off;
	}
	ok = ok && offs[1] == -8;
	/* an empty way, else the one written longer ago (fewer writes) */
	uint32_t i = sc_slot(ra, cfa0, skip);
	uint32_t s0 = atomic_load_explicit(&c[i].seq, memory_order_relaxed);
	uint32_t s1 = atomic_load_explicit(&c[i ^ 1].seq, memory_order_relaxed);
	struct stack_cache_entry *e = s0 <= s1 ? &c[i] : &c[i ^ 1];
	uint32_t s = atomic_load_explicit(&e->seq, memory_order_relaxed);
	if ((s & 1) || !atomic_compare_exchange_strong_explicit(&e->seq, &s, s + 1, memory_order_acquire,
								memory_order_relaxed))
		return; /* another writer (a signal handler, a thread) has it */
	atomic_thread_fence(memory_order_release);
	uint64_t span = 0;
	if (ok) {
		for (int i = 1; i < n; i++) {
			atomic_store_explicit(&e->pcs[i], buf[i], memory_order_relaxed);
			atomic_store_explicit(&e->offs[i], offs[i], memory_order_relaxed);
			if ((uint64_t)offs[i] + 8 > span)
				span = (uint64_t)offs[i] + 8;
		}
	}
	atomic_store_explicit(&e->n, ok ? (uint32_t)n : 0, memory_order_relaxed);
	atomic_store_explicit(&e->skip, (uint32_t)skip, memory_order_relaxed);
	atomic_store_explicit(&e->id, id, memory_order_relaxed);
	atomic_store_explicit(&e->gen, gen, memory_order_relaxed);
	atomic_store_explicit(&e->cfa0, cfa0, memory_order_relaxed);
	atomic_store_explicit(&e->ra, ra, memory_order_relaxed);
	atomic_store_explicit(&e->span, span, memory_order_relaxed);
	atomic_store_explicit(&e->seq, s + 2, memory_order_release);
	if (ok) { /* this thread's unwinds read [cfa0 - 8, cfa0 + span): its stack */
		struct cprof_thread *self = cprof_me();
		uintptr_t lo = cfa0 - 8, hi = cfa0 + span;
		if (!self->stack_hi || (lo <= self->stack_hi && hi >= self->stack_lo)) {
			if (!self->stack_hi || lo < self->stack_lo)
				self->stack_lo = lo;
			if (hi > self->stack_hi)
				self->stack_hi = hi;
		}
	}
}

__attribute__((noinline)) uint32_t cprof_stack_here(int skip)
{
	if (!cprof_stacks_enabled)
		return 0;
	uintptr_t buf[SC_FRAMES], cfas[SC_FRAMES];
	skip += 1; /* this function */
	if (skip > 8)
		skip = 8;
	/* the caller's return address and stack pointer: the cache's key */
	uintptr_t ra = (uintptr_t)__builtin_return_address(0), cfa0 = (uintptr_t)__builtin_dwarf_cfa();
	int negative = 0;
	if (likely(cprof_stack_cache_enabled)) {
		uint32_t id = sc_lookup(ra, cfa0, skip, &negative);
		if (id) {
			cprof_me()->stack_cache_hits++;
			return id;
		}
	}
	/* the generation before the walk: code unmapped during it makes the
	 * entry old at once */
	uint32_t gen = atomic_load_explicit(&cprof_code_gen, memory_order_acquire);
	struct cfi_regs here;
	cprof_cfi_here(&here); /* buf[0]: this function, just after this call */
	int cacheable = 0;
	int n = cprof_cfi_unwind(&here, buf, cfas, CPROF_STACK_DEPTH + skip, &cacheable);
	if (n < 0) { /* frames our unwinder does not follow: libunwind's walk, never cached */
		n = cprof_unwind_raw((void **)buf, CPROF_STACK_DEPTH + skip);
		cacheable = 0;
	}
	if (n <= skip)
		return 0;
	uint32_t id = cprof_stack_intern(buf + skip, (uint32_t)(n - skip));
	if (id && !negative && cprof_stack_cache_enabled)
		sc_fill(buf, cacheable ? cfas : NULL, n, cacheable, skip, cfa0, ra, id, gen);
	return id;
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
