/* Our own unwinder over the modules' call-frame information (.eh_frame
 * through PT_GNU_EH_FRAME), for the frames compilers emit; libunwind
 * remains the fallback for everything else. Internal. */
#ifndef CPROF_CFI_H
#define CPROF_CFI_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/visibility.h"

/* A thread's registers at one point: its PC and the two registers a CFA
 * may be based on. */
struct cfi_regs {
	uintptr_t pc, sp, fp;
};

/* The calling function's registers at the return from this call (pc: the
 * return address, sp: the stack pointer after the return, fp: %rbp). */
void cprof_cfi_here(struct cfi_regs *out) CPROF_INTERNAL;

/* How to step over the frame at a PC: its CFA is %rsp (or %rbp, cfa_fp)
 * + cfa_off; its return address is at CFA-8 (or undefined: outermost);
 * %rbp is the same in the caller or saved at CFA + fp_off (fp_saved). */
struct cfi_rule {
	uint8_t ok;        /* 0: a rule this unwinder does not follow (or no FDE) */
	uint8_t outermost; /* the return address is undefined: the stack ends here */
	uint8_t cfa_fp;
	uint8_t fp_saved;
	int32_t cfa_off;
	int32_t fp_off;
};

/* The rule in force at `at` (a frame's own PC, or a return address - 1).
 * Cached per PC; async-signal-safe (no locks but dl_iterate_phdr's, no
 * allocation). */
struct cfi_rule cprof_cfi_rule(uintptr_t at) CPROF_INTERNAL;

/* Unwinds from r (r->pc a frame's own PC: an interrupted one, or the
 * point cprof_cfi_here returned to) into pcs[0..max-1], innermost first
 * (pcs[0] = r->pc, then return addresses), reading the stack only inside
 * [r->sp, the top of the calling thread's stack); r->sp must lie in that
 * stack (cprof_cfi_init, cprof_cfi_thread_start), else -1. cfas[k], when not NULL, gets frame k's CFA (its
 * return address lives at cfas[k] - 8). Returns the number of frames when
 * the walk ended at an outermost frame or at max; -1 when a frame's rule
 * is not one this unwinder follows or the stack leaves its bounds (the
 * caller unwinds with libunwind). *cacheable: the whole-stack cache may
 * stand for this walk (every frame that locates a return address had its
 * CFA at %rsp + a constant, and the walk ended at max or an outermost
 * frame). */
int cprof_cfi_unwind(const struct cfi_regs *r, uintptr_t *pcs, uintptr_t *cfas, int max, int *cacheable) CPROF_INTERNAL;

/* The calling thread's stack, where walks may read: cprof_cfi_init for the
 * main thread (at load, when it runs there: from __libc_stack_end down by
 * RLIMIT_STACK), cprof_cfi_thread_start for a new thread (its pthread
 * stack; not async-signal-safe). Threads neither saw are left to
 * libunwind. */
void cprof_cfi_init(void) CPROF_INTERNAL;
void cprof_cfi_thread_start(void) CPROF_INTERNAL;

/* Code may have been unmapped (a successful dlclose): PC-keyed caches
 * forget what they knew. cprof_code_gen counts such events (caches store
 * the generation they were filled in and read it with acquire before a
 * lookup). */
extern _Atomic uint32_t cprof_code_gen CPROF_INTERNAL;
void cprof_cfi_code_unmapped(void) CPROF_INTERNAL;

/* 0: never unwind with this unwinder (tests compare it with libunwind). */
extern int cprof_cfi_enabled CPROF_INTERNAL;
/* Stacks it handed to libunwind (tests, benchmarks). */
uint64_t cprof_cfi_fallbacks(void) CPROF_INTERNAL;

#endif
