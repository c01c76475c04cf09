/*
 * Our own unwinder over call-frame information, for the frames compilers
 * emit on x86-64: a CFA at %rsp or %rbp plus a constant, the return
 * address at CFA-8 (or undefined in the outermost frame), %rbp unchanged
 * or saved at CFA plus a constant. Anything else (CFA expressions, signal
 * frames, PLT stubs, code without an FDE) makes the walk give up and the
 * caller unwind with libunwind, which handles everything.
 *
 * Why not libunwind for all: in a fresh process every frame is new to its
 * cache, and each new PC costs it two sigprocmask system calls around a
 * dl_iterate_phdr, and every unw_backtrace one more in its getcontext: a
 * traced `cc` made ~2,000 sigprocmask calls, most of what a short-lived
 * process of a traced tree paid for its stacks. Here a new PC costs one
 * dl_iterate_phdr (no system call), a binary search of the module's
 * .eh_frame_hdr table and a run of the FDE's CFA program; known PCs hit a
 * lock-free cache.
 *
 * The walk reads stack memory only between the starting %rsp and the top
 * of the thread's own stack (see "stack bounds"), with every CFA above the
 * previous one: whatever the stack holds, no read leaves the stack.
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include <elf.h>
#include <libunwind.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/internal.h"
#include "stacks/cfi.h"
#include "varint.h"

int cprof_cfi_enabled = 1;
static _Atomic uint64_t fallbacks;
_Atomic uint32_t cprof_code_gen = 1;

void cprof_cfi_code_unmapped(void)
{
	atomic_fetch_add_explicit(&cprof_code_gen, 1, memory_order_release);
	unw_flush_cache(unw_local_addr_space, 0, 0); /* libunwind's own, for the fallback */
}

uint64_t cprof_cfi_fallbacks(void)
{
	return atomic_load_explicit(&fallbacks, memory_order_relaxed);
}

/* ---- registers here ---- */

/* Stores the caller's PC (our return address), its %rsp after the return
 * and its %rbp: exactly the caller's registers at the return point. */
__asm__(".text\n"
	".p2align 4\n"
	".type cprof_cfi_here, @function\n"
	".hidden cprof_cfi_here\n"
	".globl cprof_cfi_here\n"
	"cprof_cfi_here:\n"
	".cfi_startproc\n"
	"\tmovq (%rsp), %rax\n"
	"\tmovq %rax, 0(%rdi)\n"
	"\tleaq 8(%rsp), %rax\n"
	"\tmovq %rax, 8(%rdi)\n"
	"\tmovq %rbp, 16(%rdi)\n"
	"\tret\n"
	".cfi_endproc\n"
	".size cprof_cfi_here, .-cprof_cfi_here\n");
_Static_assert(offsetof(struct cfi_regs, sp) == 8 && offsetof(struct cfi_regs, fp) == 16, "cprof_cfi_here's stores");

/* ---- stack bounds ----
 * A walk starts only when its %rsp lies in the thread's own stack, known
 * as [walk_lo, walk_hi) in the thread's state: everything between a stack
 * pointer there and the top is mapped, so no read can fault, whatever the
 * stack words say. Elsewhere (a coroutine's or a sigaltstack's stack, a
 * thread the tracer did not see start) libunwind, which checks each
 * address it reads, takes the stack. */

extern void *__libc_stack_end; /* ld.so: the main thread's stack pointer at _start */

#define MAIN_STACK_MAX (1ull << 30) /* bytes of the main thread's stack walks trust at most */

void cprof_cfi_init(void)
{
	if ((pid_t)cprof_gettid() != getpid())
		return; /* loaded on another thread: the main thread stays unknown */
	uintptr_t hi = (uintptr_t)__libc_stack_end + 8; /* argc lives there: mapped */
	uint64_t size = 8u << 20;
	struct rlimit rl;
	if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		size = rl.rlim_cur < MAIN_STACK_MAX ? rl.rlim_cur : MAIN_STACK_MAX;
	struct cprof_thread *self = cprof_me();
	self->walk_lo = hi > size ? hi - size : 0;
	self->walk_hi = hi;
}

void cprof_cfi_thread_start(void)
{
	pthread_attr_t a;
	void *addr;
	size_t size;
	struct cprof_thread *self = cprof_me();
	self->walk_lo = self->walk_hi = 0;
	if (pthread_getattr_np(pthread_self(), &a) != 0)
		return;
	if (pthread_attr_getstack(&a, &addr, &size) == 0 && size) {
		self->walk_lo = (uintptr_t)addr;
		self->walk_hi = (uintptr_t)addr + size;
	}
	pthread_attr_destroy(&a);
}

/* ---- finding the FDE ---- */

/* ULEB128, the format's own decoder (bounded by end); *err on a value
 * cut short or beyond 64 bits. */
static uint64_t uleb(const uint8_t **p, const uint8_t *end, int *err)
{
	uint64_t v = 0;
	size_t n = varint_get(*p, end, &v);
	if (!n) {
		*err = 1;
		return 0;
	}
	*p += n;
	return v;
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

/* A DW_EH_PE value of enc_size(enc) bytes at p: absolute or pc-relative
 * (relative to p itself); `applied` 0 reads the bare value (pc_range). */
static uintptr_t enc_read(const uint8_t *p, uint8_t enc, int applied)
{
	uint64_t v = 0;
	switch (enc & 0x0f) {
	case 0x02: { uint16_t x; memcpy(&x, p, 2); v = x; break; }
	case 0x0a: { int16_t x; memcpy(&x, p, 2); v = (uint64_t)(int64_t)x; break; }
	case 0x03: { uint32_t x; memcpy(&x, p, 4); v = x; break; }
	case 0x0b: { int32_t x; memcpy(&x, p, 4); v = (uint64_t)(int64_t)x; break; }
	default: memcpy(&v, p, 8); break;
	}
	if (applied && (enc & 0x70) == 0x10)
		v += (uintptr_t)p;
	return (uintptr_t)v;
}

struct fde_find {
	uintptr_t pc;
	const uint8_t *fde;
};

/* The FDE that may cover f->pc, from the PT_GNU_EH_FRAME table of its
 * module (the range is checked by the caller). */
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

/* ---- running the CFA program ---- */

enum { R_SAME = 0, R_OFFSET, R_UNDEF, R_OTHER }; /* a register's rule */
enum { DW_RBP = 6, DW_RSP = 7, DW_RA = 16 };

struct cfa_state {
	uint64_t cfa_reg;
	int64_t cfa_off;
	uint8_t ra, fp; /* rules */
	int64_t ra_off, fp_off;
};

#define STATE_STACK 8 /* remember_state nesting */

struct cfa_run {
	uint64_t code_align;
	int64_t data_align;
	uint8_t fde_enc;
	struct cfa_state s, init; /* now, and after the CIE's instructions */
	struct cfa_state saved[STATE_STACK];
	unsigned nsaved;
	uintptr_t loc, target;
};

static void set_rule(struct cfa_run *c, uint64_t reg, uint8_t rule, int64_t off)
{
	if (reg == DW_RA) {
		c->s.ra = rule;
		c->s.ra_off = off;
	} else if (reg == DW_RBP) {
		c->s.fp = rule;
		c->s.fp_off = off;
	}
}

/* Runs instructions [p, end) until the row covering c->target: returns 1
 * when an advance passed it (c->s is its row), 0 at the end (the last row
 * covers it), -1 on anything malformed or not handled. */
static int run_cfa(struct cfa_run *c, const uint8_t *p, const uint8_t *end)
{
	int err = 0;
	while (p < end && !err) {
		uint8_t op = *p++;
		uint64_t reg, delta = 0;
		switch (op >> 6) {
		case 1: /* advance_loc */
			delta = op & 0x3f;
			goto advance;
		case 2: /* offset */
			set_rule(c, op & 0x3f, R_OFFSET, (int64_t)uleb(&p, end, &err) * c->data_align);
			continue;
		case 3: /* restore */
			reg = op & 0x3f;
			set_rule(c, reg, reg == DW_RA ? c->init.ra : c->init.fp, reg == DW_RA ? c->init.ra_off : c->init.fp_off);
			continue;
		}
		switch (op) {
		case 0x00: /* nop */
			break;
		case 0x01: { /* set_loc */
			unsigned sz = enc_size(c->fde_enc);
			if (!sz || (size_t)(end - p) < sz)
				return -1;
			uintptr_t to = enc_read(p, c->fde_enc, 1);
			p += sz;
			if (to < c->loc)
				return -1;
			c->loc = to;
			if (c->loc > c->target)
				return 1;
			break;
		}
		case 0x02: /* advance_loc1 */
			if (end - p < 1)
				return -1;
			delta = *p++;
			goto advance;
		case 0x03: { /* advance_loc2 */
			uint16_t d;
			if (end - p < 2)
				return -1;
			memcpy(&d, p, 2);
			p += 2;
			delta = d;
			goto advance;
		}
		case 0x04: { /* advance_loc4 */
			uint32_t d;
			if (end - p < 4)
				return -1;
			memcpy(&d, p, 4);
			p += 4;
			delta = d;
			goto advance;
		}
		case 0x05: /* offset_extended */
			reg = uleb(&p, end, &err);
			set_rule(c, reg, R_OFFSET, (int64_t)uleb(&p, end, &err) * c->data_align);
			break;
		case 0x11: /* offset_extended_sf */
			reg = uleb(&p, end, &err);
			set_rule(c, reg, R_OFFSET, sleb(&p, end, &err) * c->data_align);
			break;
		case 0x2f: /* GNU_negative_offset_extended */
			reg = uleb(&p, end, &err);
			set_rule(c, reg, R_OFFSET, -(int64_t)uleb(&p, end, &err) * c->data_align);
			break;
		case 0x06: /* restore_extended */
			reg = uleb(&p, end, &err);
			set_rule(c, reg, reg == DW_RA ? c->init.ra : c->init.fp, reg == DW_RA ? c->init.ra_off : c->init.fp_off);
			break;
		case 0x07: /* undefined */
			set_rule(c, uleb(&p, end, &err), R_UNDEF, 0);
			break;
		case 0x08: /* same_value */
			set_rule(c, uleb(&p, end, &err), R_SAME, 0);
			break;
		case 0x09: /* register */
			set_rule(c, uleb(&p, end, &err), R_OTHER, 0);
			uleb(&p, end, &err);
			break;
		case 0x0a: /* remember_state */
			if (c->nsaved == STATE_STACK)
				return -1;
			c->saved[c->nsaved++] = c->s;
			break;
		case 0x0b: /* restore_state */
			if (!c->nsaved)
				return -1;
			c->s = c->saved[--c->nsaved];
			break;
		case 0x0c: /* def_cfa */
			c->s.cfa_reg = uleb(&p, end, &err);
			c->s.cfa_off = (int64_t)uleb(&p, end, &err);
			break;
		case 0x12: /* def_cfa_sf */
			c->s.cfa_reg = uleb(&p, end, &err);
			c->s.cfa_off = sleb(&p, end, &err) * c->data_align;
			break;
		case 0x0d: /* def_cfa_register */
			c->s.cfa_reg = uleb(&p, end, &err);
			break;
		case 0x0e: /* def_cfa_offset */
			c->s.cfa_off = (int64_t)uleb(&p, end, &err);
			break;
		case 0x13: /* def_cfa_offset_sf */
			c->s.cfa_off = sleb(&p, end, &err) * c->data_align;
			break;
		case 0x2e: /* GNU_args_size */
			uleb(&p, end, &err);
			break;
		case 0x10: case 0x16: { /* expression, val_expression */
			reg = uleb(&p, end, &err);
			uint64_t len = uleb(&p, end, &err);
			if (err || len > (uint64_t)(end - p))
				return -1;
			p += len;
			set_rule(c, reg, R_OTHER, 0);
			break;
		}
		case 0x14: case 0x15: /* val_offset, val_offset_sf */
			reg = uleb(&p, end, &err);
			if (op == 0x15)
				sleb(&p, end, &err);
			else
				uleb(&p, end, &err);
			set_rule(c, reg, R_OTHER, 0);
			break;
		case 0x0f: { /* def_cfa_expression: a CFA this walk does not compute, unless a
			      * later rule (restore_state, def_cfa) replaces it before the target */
			uint64_t len = uleb(&p, end, &err);
			if (err || len > (uint64_t)(end - p))
				return -1;
			p += len;
			c->s.cfa_reg = ~0ull;
			break;
		}
		default: /* anything unknown */
			return -1;
		}
		continue;
	advance:
		c->loc += delta * c->code_align;
		if (c->loc > c->target)
			return 1;
	}
	return err ? -1 : 0;
}

/* The rule at `at`, computed from its FDE and CIE. */
static struct cfi_rule compute_rule(uintptr_t at)
{
	struct cfi_rule no = {0};
	struct fde_find f = {at, NULL};
	dl_iterate_phdr(find_fde_cb, &f);
	const uint8_t *fde = f.fde;
	if (!fde)
		return no;
	uint32_t len, cie_off;
	memcpy(&len, fde, 4);
	memcpy(&cie_off, fde + 4, 4);
	if (len == 0 || len == 0xffffffffu || cie_off == 0)
		return no;
	const uint8_t *fde_end = fde + 4 + len;
	const uint8_t *cie = fde + 4 - cie_off;
	uint32_t cie_len, cie_id;
	memcpy(&cie_len, cie, 4);
	memcpy(&cie_id, cie + 4, 4);
	if (cie_len == 0 || cie_len == 0xffffffffu || cie_id != 0)
		return no;
	const uint8_t *cie_end = cie + 4 + cie_len, *p = cie + 9;
	uint8_t version = cie[8];
	if (version != 1 && version != 3)
		return no;
	const char *aug = (const char *)p;
	size_t aug_len = strnlen(aug, (size_t)(cie_end - p));
	p += aug_len + 1;
	int err = 0;
	struct cfa_run c;
	memset(&c, 0, sizeof c);
	c.code_align = uleb(&p, cie_end, &err);
	c.data_align = sleb(&p, cie_end, &err);
	uint64_t ra_reg = version == 1 ? (p < cie_end ? *p++ : 99) : uleb(&p, cie_end, &err);
	if (ra_reg != DW_RA || err)
		return no;
	int has_z = aug[0] == 'z';
	if (aug_len && !has_z)
		return no;
	if (has_z) {
		uint64_t alen = uleb(&p, cie_end, &err);
		const uint8_t *a = p, *aend = p + alen;
		if (err || alen > (uint64_t)(cie_end - p))
			return no;
		for (size_t i = 1; i < aug_len; i++) {
			if (aug[i] == 'R' && a < aend)
				c.fde_enc = *a++;
			else if (aug[i] == 'L' && a < aend)
				a++;
			else if (aug[i] == 'P' && a < aend) {
				unsigned sz = enc_size(*a);
				if (!sz)
					return no;
				a += 1 + sz;
			} else
				return no; /* 'S' (signal frame) and unknown letters */
		}
		p = aend;
	}
	unsigned sz = enc_size(c.fde_enc);
	if (!sz || (c.fde_enc & 0x70) > 0x10 || (c.fde_enc & 0x80)) /* absptr or pcrel only, never indirect */
		return no;
	const uint8_t *q = fde + 8;
	if ((size_t)(fde_end - q) < 2 * sz)
		return no;
	uintptr_t begin = enc_read(q, c.fde_enc, 1), range = enc_read(q + sz, c.fde_enc, 0);
	if (at < begin || at - begin >= range)
		return no; /* a gap between FDEs: code without CFI */
	q += 2 * sz;
	if (has_z) {
		uint64_t alen = uleb(&q, fde_end, &err);
		if (err || alen > (uint64_t)(fde_end - q))
			return no;
		q += alen;
	}
	c.loc = begin;
	c.target = at;
	c.s.cfa_reg = ~0ull; /* the CIE must define it */
	c.s.ra = R_OTHER; /* the CIE must say (undefined only where it says so) */
	int rc = run_cfa(&c, p, cie_end);
	c.init = c.s;
	c.nsaved = 0;
	if (rc == 0)
		rc = run_cfa(&c, q, fde_end);
	if (rc < 0)
		return no;
	struct cfi_rule r = {0};
	if (c.s.cfa_reg != DW_RSP && c.s.cfa_reg != DW_RBP)
		return no;
	if (c.s.cfa_off < INT32_MIN || c.s.cfa_off > INT32_MAX || c.s.fp_off < INT32_MIN || c.s.fp_off > INT32_MAX)
		return no;
	if (c.s.ra == R_UNDEF)
		r.outermost = 1;
	else if (c.s.ra != R_OFFSET || c.s.ra_off != -8)
		return no;
	if (c.s.fp == R_OFFSET)
		r.fp_saved = 1;
	else if (c.s.fp != R_SAME)
		return no;
	r.ok = 1;
	r.cfa_fp = c.s.cfa_reg == DW_RBP;
	r.cfa_off = (int32_t)c.s.cfa_off;
	r.fp_off = (int32_t)c.s.fp_off;
	return r;
}

/* ---- the rule cache ----
 * A direct-mapped table of rules by PC. Each entry is a seqlock
 * (odd while written): readers in signal handlers and other threads see a
 * whole entry or miss; a writer that finds the entry being written skips
 * the store. */

#define RULES 4096

struct rule_entry {
	_Atomic uint32_t seq;
	_Atomic uint32_t gen; /* cprof_code_gen when written: older entries are misses */
	_Atomic uint64_t at;
	_Atomic uint64_t packed; /* ok | outermost << 1 | cfa_fp << 2 | fp_saved << 3, fp_off << 16 (16 bits), cfa_off << 32 */
};

static struct rule_entry rules[RULES];

static uint64_t pack(struct cfi_rule r)
{
	return (uint64_t)r.ok | (uint64_t)r.outermost << 1 | (uint64_t)r.cfa_fp << 2 | (uint64_t)r.fp_saved << 3 |
	       (uint64_t)(uint16_t)(int16_t)r.fp_off << 16 | (uint64_t)(uint32_t)r.cfa_off << 32;
}

static struct cfi_rule unpack(uint64_t v)
{
	return (struct cfi_rule){.ok = v & 1, .outermost = (v >> 1) & 1, .cfa_fp = (v >> 2) & 1,
				 .fp_saved = (v >> 3) & 1, .fp_off = (int16_t)(uint16_t)(v >> 16),
				 .cfa_off = (int32_t)(uint32_t)(v >> 32)};
}

static __attribute__((noinline)) uint64_t rule_miss(struct rule_entry *e, uint32_t s1, uintptr_t at, uint32_t gen)
{
	struct cfi_rule r = compute_rule(at);
	if (r.ok && r.fp_off != (int16_t)r.fp_off)
		r = (struct cfi_rule){0}; /* %rbp saved out of the packed range: not followed */
	uint64_t v = pack(r);
	if (!(s1 & 1) && atomic_compare_exchange_strong_explicit(&e->seq, &s1, s1 + 1, memory_order_acquire,
								 memory_order_relaxed)) {
		atomic_thread_fence(memory_order_release);
		atomic_store_explicit(&e->at, at, memory_order_relaxed);
		atomic_store_explicit(&e->gen, gen, memory_order_relaxed);
		atomic_store_explicit(&e->packed, v, memory_order_relaxed);
		atomic_store_explicit(&e->seq, s1 + 2, memory_order_release);
	}
	return v;
}

/* The packed rule at `at`: a few loads when cached. */
static inline uint64_t rule_at(uintptr_t at)
{
	struct rule_entry *e = &rules[(uint32_t)((at * 0x9e3779b97f4a7c15ull) >> 40) & (RULES - 1)];
	/* Read before the entry: a generation that moves on meanwhile makes
	 * this lookup's entry (or the one it writes) old at the next. */
	uint32_t gen = atomic_load_explicit(&cprof_code_gen, memory_order_acquire);
	uint32_t s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
	if (likely(!(s1 & 1) && atomic_load_explicit(&e->at, memory_order_relaxed) == at &&
		   atomic_load_explicit(&e->gen, memory_order_relaxed) == gen)) {
		uint64_t v = atomic_load_explicit(&e->packed, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if (likely(atomic_load_explicit(&e->seq, memory_order_relaxed) == s1))
			return v;
	}
	return rule_miss(e, s1, at, gen);
}

struct cfi_rule cprof_cfi_rule(uintptr_t at)
{
	return unpack(rule_at(at));
}

/* ---- the walk ---- */

#define FRAME_MAX (1u << 24) /* bytes: a larger frame is taken for a wrong rule */

__attribute__((no_sanitize("address"))) int cprof_cfi_unwind(const struct cfi_regs *r, uintptr_t *pcs,
							      uintptr_t *cfas, int max, int *cacheable)
{
	uintptr_t pc = r->pc, sp = r->sp, fp = r->fp;
	const struct cprof_thread *self = cprof_me();
	uintptr_t stack_top = self->walk_hi;
	int n = 0, first_fp = -1, outermost = 0;
	*cacheable = 0;
	if (!cprof_cfi_enabled || sp < self->walk_lo || sp >= stack_top || max <= 0)
		goto refuse;
	while (n < max) {
		pcs[n] = pc;
		struct cfi_rule rule = unpack(rule_at(n == 0 ? pc : pc - 1));
		if (!rule.ok)
			goto refuse;
		if (rule.outermost) {
			if (cfas)
				cfas[n] = 0;
			n++;
			outermost = 1;
			break;
		}
		uintptr_t cfa = (rule.cfa_fp ? fp : sp) + (uintptr_t)(intptr_t)rule.cfa_off;
		/* Above this frame's stack pointer, inside the stack: the return
		 * address (CFA-8) and a saved %rbp are stack words below the top. */
		if (cfa < sp + 8 || cfa - sp > FRAME_MAX || cfa > stack_top)
			goto refuse;
		uintptr_t fp_at = cfa + (uintptr_t)(intptr_t)rule.fp_off;
		if (rule.fp_saved && (fp_at < sp || fp_at + 8 > stack_top))
			goto refuse;
		if (n > 0 && rule.cfa_fp && first_fp < 0)
			first_fp = n; /* frames 1..n-2 locate the return addresses the cache checks */
		uintptr_t ra = *(const volatile uintptr_t *)(cfa - 8);
		if (rule.fp_saved)
			fp = *(const volatile uintptr_t *)fp_at;
		if (cfas)
			cfas[n] = cfa;
		n++;
		if (!ra)
			break; /* a thread's first frame, when its CFI does not say so */
		pc = ra;
		sp = cfa;
	}
	/* The whole-stack cache may stand for this walk when every frame that
	 * locates the next return address did it from %rsp, and the walk
	 * ended where any walk from the same words would: at max, or at a
	 * frame the CFI calls outermost. The last frame's own rule locates
	 * nothing the cache checks. */
	*cacheable = (first_fp < 0 || first_fp >= n - 1) && (outermost || n == max);
	return n;
refuse:
	atomic_fetch_add_explicit(&fallbacks, 1, memory_order_relaxed);
	return -1;
}
