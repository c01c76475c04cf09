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
 * In front of both, a cache of whole stacks by call site (below) answers
 * a repeated stack without unwinding.
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include <elf.h>
#include <libunwind.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>

#include "core/internal.h"
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
 * libunwind's unw_backtrace walks frame by frame through its per-PC cache
 * of unwind rules: a chain of dependent loads and a hash lookup per frame
 * (~14 ns a frame here). A blocking call is made again and again from the
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
 * the next return address is): an entry is made only when the call-frame
 * information of every frame on it (its FDE in .eh_frame, found through
 * PT_GNU_EH_FRAME) defines the CFA from %rsp alone, keeps the return
 * address at CFA-8, and is no signal frame; frames with a frame pointer
 * as CFA (alloca, VLAs, realignment, -fno-omit-frame-pointer code) make
 * the stack uncached, and libunwind unwinds it as before. The stack must
 * end where the walk ended: at the depth limit, or at an outermost frame
 * whose CFI marks the return address undefined (_start, clone3).
 *
 * Stack words are read only inside the range this thread's own unwinds
 * have read (cprof_thread.stack_lo/hi): an entry another thread made at
 * the same addresses (a reused stack) is never read past it. Entries are
 * global; a sequence count per entry lets readers (other threads, signal
 * handlers) see a consistent entry or miss. Misses cost what unwinding
 * cost before plus, once per new call site, a second walk with unw_step
 * for the return-address locations. */

#define SC_ENTRIES 1024
#define SC_FRAMES (CPROF_STACK_DEPTH + 8)

struct stack_cache_entry {
	_Atomic uint32_t seq; /* odd while written */
	_Atomic uint32_t n;   /* frames in pcs (buf[0] is cprof_stack_here's own); 0: uncacheable key */
	_Atomic uint32_t skip;
	_Atomic uint32_t id;
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

/* ---- call-frame information: is a frame's CFA %rsp + constant? ---- */

enum { CFI_BAD = 0, CFI_RSP = 1, CFI_OUTERMOST = 2 }; /* verdict bits */

static uint64_t uleb(const uint8_t **p, const uint8_t *end, int *err)
{
	uint64_t v = 0;
	for (unsigned sh = 0; *p < end; sh += 7) {
		uint8_t b = *(*p)++;
		if (sh < 64)
			v |= (uint64_t)(b & 0x7f) << sh;
		if (!(b & 0x80))
			return v;
	}
	*err = 1;
	return 0;
}

static int64_t sleb(const uint8_t **p, const uint8_t *end, int *err)
{
	int64_t v = 0;
	unsigned sh = 0;
	uint8_t b = 0;
	do {
		if (*p >= end) {
			*err = 1;
			return 0;
		}
		b = *(*p)++;
		if (sh < 64)
			v |= (int64_t)(b & 0x7f) << sh;
		sh += 7;
	} while (b & 0x80);
	if (sh < 64 && (b & 0x40))
		v |= -((int64_t)1 << sh);
	return v;
}

/* Bytes of a DW_EH_PE-encoded value; 0 for encodings not handled. */
static unsigned enc_size(uint8_t enc)
{
	if (enc == 0xff || (enc & 0x70) == 0x50) /* omit, aligned */
		return 0;
	switch (enc & 0x0f) {
	case 0x00: case 0x04: case 0x0c: return 8;
	case 0x02: case 0x0a: return 2;
	case 0x03: case 0x0b: return 4;
	default: return 0;
	}
}

/* Scans CFA instructions: clears CFI_RSP on any CFA rule not based on
 * %rsp (reg 7) or any return-address (reg 16) rule but CFA-8; sets
 * *ra_undef on DW_CFA_undefined for reg 16. */
static int scan_cfa(const uint8_t *p, const uint8_t *end, int64_t data_align, unsigned loc_size, int *ra_undef)
{
	int err = 0;
	while (p < end && !err) {
		uint8_t op = *p++;
		uint64_t reg;
		switch (op >> 6) {
		case 1: continue; /* advance_loc */
		case 2: { /* offset */
			int64_t off = (int64_t)uleb(&p, end, &err) * data_align;
			if ((op & 0x3f) == 16 && off != -8)
				return 0;
			continue;
		}
		case 3: /* restore */
			continue;
		}
		switch (op) {
		case 0x00: case 0x0a: case 0x0b: break;            /* nop, remember, restore state */
		case 0x01: if ((size_t)(end - p) < loc_size || !loc_size) return 0; p += loc_size; break;
		case 0x02: p += 1; break;
		case 0x03: p += 2; break;
		case 0x04: p += 4; break;
		case 0x05: /* offset_extended */
			reg = uleb(&p, end, &err);
			if ((int64_t)uleb(&p, end, &err) * data_align != -8 && reg == 16)
				return 0;
			break;
		case 0x11: /* offset_extended_sf */
			reg = uleb(&p, end, &err);
			if (sleb(&p, end, &err) * data_align != -8 && reg == 16)
				return 0;
			break;
		case 0x06: case 0x08: /* restore_extended, same_value */
			if (uleb(&p, end, &err) == 16 && op == 0x08)
				return 0;
			break;
		case 0x07: /* undefined */
			if (uleb(&p, end, &err) == 16)
				*ra_undef = 1;
			break;
		case 0x09: /* register */
			if (uleb(&p, end, &err) == 16)
				return 0;
			uleb(&p, end, &err);
			break;
		case 0x0c: /* def_cfa */
			if (uleb(&p, end, &err) != 7)
				return 0;
			uleb(&p, end, &err);
			break;
		case 0x12: /* def_cfa_sf */
			if (uleb(&p, end, &err) != 7)
				return 0;
			sleb(&p, end, &err);
			break;
		case 0x0d: /* def_cfa_register */
			if (uleb(&p, end, &err) != 7)
				return 0;
			break;
		case 0x0e: uleb(&p, end, &err); break; /* def_cfa_offset */
		case 0x13: sleb(&p, end, &err); break; /* def_cfa_offset_sf */
		case 0x2e: uleb(&p, end, &err); break; /* GNU_args_size */
		case 0x10: case 0x16: { /* expression, val_expression: other registers only */
			reg = uleb(&p, end, &err);
			uint64_t len = uleb(&p, end, &err);
			if (reg == 16 || err || len > (uint64_t)(end - p))
				return 0;
			p += len;
			break;
		}
		case 0x14: case 0x15: case 0x2f: /* val_offset(_sf), GNU_negative_offset_extended */
			if (uleb(&p, end, &err) == 16)
				return 0;
			if (op == 0x15)
				sleb(&p, end, &err);
			else
				uleb(&p, end, &err);
			break;
		default: return 0; /* def_cfa_expression and anything unknown */
		}
	}
	return !err && p <= end;
}

/* The FDE covering pc, from the PT_GNU_EH_FRAME table of its module. */
struct fde_find {
	uintptr_t pc;
	const uint8_t *fde;
};

static int find_fde_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct fde_find *f = arg;
	const ElfW(Phdr) *eh = NULL;
	int inside = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && f->pc >= start && f->pc - start < ph->p_memsz)
			inside = 1;
		else if (ph->p_type == PT_GNU_EH_FRAME)
			eh = ph;
	}
	if (!inside)
		return 0;
	if (!eh)
		return 1;
	const uint8_t *hdr = (const uint8_t *)(info->dlpi_addr + eh->p_vaddr);
	/* version 1; eh_frame_ptr any 4-byte encoding; fde_count udata4;
	 * table datarel sdata4 (what ld and lld write) */
	if (hdr[0] != 1 || enc_size(hdr[1]) != 4 || hdr[2] != 0x03 || hdr[3] != 0x3b)
		return 1;
	uint32_t count;
	memcpy(&count, hdr + 8, 4);
	const int32_t *tab = (const int32_t *)(hdr + 12);
	intptr_t rel = (intptr_t)(f->pc - (uintptr_t)hdr);
	uint32_t lo = 0, hi = count; /* last entry with initial_loc <= pc */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if ((intptr_t)tab[2 * mid] <= rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return 1;
	f->fde = hdr + tab[2 * (lo - 1) + 1];
	return 1;
}

/* The verdict on the frame at pc (a return address's call, or an
 * outermost frame's PC: pc - 1 was looked up). CFI_BAD unless the FDE and
 * its CIE define the CFA from %rsp only and the return address at CFA-8
 * (or undefined: CFI_OUTERMOST too), with no signal frame. */
static int cfi_verdict(uintptr_t pc)
{
	struct fde_find f = {pc, NULL};
	dl_iterate_phdr(find_fde_cb, &f);
	const uint8_t *fde = f.fde;
	if (!fde)
		return CFI_BAD;
	uint32_t len, cie_off;
	memcpy(&len, fde, 4);
	memcpy(&cie_off, fde + 4, 4);
	if (len == 0 || len == 0xffffffffu || cie_off == 0)
		return CFI_BAD;
	const uint8_t *fde_end = fde + 4 + len;
	const uint8_t *cie = fde + 4 - cie_off;
	uint32_t cie_len, cie_id;
	memcpy(&cie_len, cie, 4);
	memcpy(&cie_id, cie + 4, 4);
	if (cie_len == 0 || cie_len == 0xffffffffu || cie_id != 0)
		return CFI_BAD;
	const uint8_t *cie_end = cie + 4 + cie_len, *p = cie + 9;
	uint8_t version = cie[8];
	if (version != 1 && version != 3)
		return CFI_BAD;
	const char *aug = (const char *)p;
	size_t aug_len = strnlen(aug, (size_t)(cie_end - p));
	p += aug_len + 1;
	int err = 0;
	uleb(&p, cie_end, &err); /* code alignment */
	int64_t data_align = sleb(&p, cie_end, &err);
	uint64_t ra_reg = version == 1 ? (p < cie_end ? *p++ : 99) : uleb(&p, cie_end, &err);
	if (ra_reg != 16 || err)
		return CFI_BAD;
	uint8_t fde_enc = 0; /* absptr */
	int has_z = aug[0] == 'z';
	if (aug_len && !has_z)
		return CFI_BAD;
	if (has_z) {
		uint64_t alen = uleb(&p, cie_end, &err);
		const uint8_t *a = p, *aend = p + alen;
		if (err || alen > (uint64_t)(cie_end - p))
			return CFI_BAD;
		for (size_t i = 1; i < aug_len; i++) {
			if (aug[i] == 'R' && a < aend)
				fde_enc = *a++;
			else if (aug[i] == 'L' && a < aend)
				a++;
			else if (aug[i] == 'P' && a < aend) {
				unsigned sz = enc_size(*a);
				if (!sz)
					return CFI_BAD;
				a += 1 + sz;
			} else
				return CFI_BAD; /* 'S' (signal frame) and unknown letters */
		}
		p = aend;
	}
	unsigned sz = enc_size(fde_enc);
	if (!sz || (fde_enc & 0x70) > 0x10) /* absptr or pcrel only */
		return CFI_BAD;
	int ra_undef = 0;
	if (!scan_cfa(p, cie_end, data_align, sz, &ra_undef))
		return CFI_BAD;
	/* the CIE's initial rule must be %rsp-based: x86-64's CIEs say
	 * def_cfa rsp+8 first, and scan_cfa refused any other register */
	const uint8_t *q = fde + 8;
	if ((size_t)(fde_end - q) < 2 * sz)
		return CFI_BAD;
	q += 2 * sz; /* pc_begin, pc_range */
	if (has_z) {
		uint64_t alen = uleb(&q, fde_end, &err);
		if (err || alen > (uint64_t)(fde_end - q))
			return CFI_BAD;
		q += alen;
	}
	if (!scan_cfa(q, fde_end, data_align, sz, &ra_undef))
		return CFI_BAD;
	return CFI_RSP | (ra_undef ? CFI_OUTERMOST : 0);
}

/* Verdicts by PC: (pc << 3 | verdict << 1 | 1), user PCs being < 2^47. */
#define VERDICTS 4096
static _Atomic uint64_t verdicts[VERDICTS];

static int pc_verdict(uintptr_t pc)
{
	uint32_t i = (uint32_t)((pc * 0x9e3779b97f4a7c15ull) >> 52) & (VERDICTS - 1);
	uint64_t v = atomic_load_explicit(&verdicts[i], memory_order_relaxed);
	if ((v & 1) && (v >> 3) == pc)
		return (int)(v >> 1) & 3;
	int verdict = pc >> 60 ? CFI_BAD : cfi_verdict(pc - 1);
	atomic_store_explicit(&verdicts[i], (uint64_t)pc << 3 | (uint64_t)verdict << 1 | 1, memory_order_relaxed);
	return verdict;
}

int cprof_stack_cfi_verdict(uintptr_t pc)
{
	return pc_verdict(pc);
}

/* After a miss: the stack libunwind gave (buf[0..n-1], buf[0] in
 * cprof_stack_here, buf[1] == ra) is cached under (ra, cfa0, skip) with
 * the locations of its return addresses, found by a second walk with
 * unw_step, when every frame's CFI allows it (see above); else the key is
 * marked uncacheable. */
static __attribute__((noinline)) void sc_fill(void *const *buf, int n, int skip, uintptr_t cfa0, uintptr_t ra,
					      uint32_t id)
{
	struct stack_cache_entry *c = cprof_map_once(&stack_cache, SC_ENTRIES * sizeof(struct stack_cache_entry));
	if (!c || n < 2 || n > SC_FRAMES || (uintptr_t)buf[1] != ra)
		return;
	int32_t offs[SC_FRAMES];
	int ok = 1, k = 1;
	/* Frames 1..n-2 give the CFAs the locations depend on; frame n-1,
	 * when the walk ended before the depth limit, must be outermost. */
	int full = n == CPROF_STACK_DEPTH + skip;
	for (int i = 1; i < n && ok; i++) {
		int v = pc_verdict((uintptr_t)buf[i]);
		if (i < n - 1)
			ok = v & CFI_RSP;
		else if (!full)
			ok = v & CFI_OUTERMOST;
	}
	if (ok) {
		unw_context_t ctx;
		unw_cursor_t cur;
		ok = 0;
		if (unw_getcontext(&ctx) == 0 && unw_init_local(&cur, &ctx) == 0) {
			int found = 0, steps = 0;
			do {
				unw_word_t ip, sp;
				if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || unw_get_reg(&cur, UNW_REG_SP, &sp) < 0)
					break;
				if (!found && sp == cfa0 && ip == ra)
					found = 1;
				if (found) {
					int64_t off = (int64_t)(sp - 8 - cfa0);
					if (ip != (uintptr_t)buf[k] || off < -8 || off > INT32_MAX)
						break;
					offs[k] = (int32_t)off;
					if (++k == n) {
						ok = full || unw_step(&cur) == 0;
						break;
					}
				}
			} while (++steps < SC_FRAMES + 16 && unw_step(&cur) > 0);
		}
		ok = ok && offs[1] == -8;
	}
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
			atomic_store_explicit(&e->pcs[i], (uintptr_t)buf[i], memory_order_relaxed);
			atomic_store_explicit(&e->offs[i], offs[i], memory_order_relaxed);
			if ((uint64_t)offs[i] + 8 > span)
				span = (uint64_t)offs[i] + 8;
		}
	}
	atomic_store_explicit(&e->n, ok ? (uint32_t)n : 0, memory_order_relaxed);
	atomic_store_explicit(&e->skip, (uint32_t)skip, memory_order_relaxed);
	atomic_store_explicit(&e->id, id, memory_order_relaxed);
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
	void *buf[CPROF_STACK_DEPTH + 8];
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
	int n = cprof_unwind_raw(buf, CPROF_STACK_DEPTH + skip);
	if (n <= skip)
		return 0;
	uint32_t id = cprof_stack_intern((const uintptr_t *)(buf + skip), (uint32_t)(n - skip));
	if (id && !negative && cprof_stack_cache_enabled)
		sc_fill(buf, n, skip, cfa0, ra, id);
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
