/* Stack capture, deduplication and symbolization. Internal. */
#ifndef CPROF_STACK_H
#define CPROF_STACK_H

#include <stdint.h>

#include "trace_format.h"
#include "core/visibility.h"

#define CPROF_STACK_DEPTH 32 /* frames kept per stack, leaf first */
#define CPROF_STACK_IDS (1u << 16)

/* 0 when CPROF_TRACE_STACKS=0. */
extern int cprof_stacks_enabled CPROF_INTERNAL;
void cprof_stacks_init(void) CPROF_INTERNAL;
/* Keeps libunwind's validation pipe away from the program's descriptors
 * (unwind_fds.c); before its first unwind. Returns 0, or -ENOENT when
 * libunwind's GOT slots were not found (nothing changed). */
int cprof_unwind_fds_guard(void) CPROF_INTERNAL;
/* The calling stack without its `skip` innermost frames (besides this
 * function's own), as an id; 0 when stacks are off or the table is full.
 * Async-signal-safe; never allocates with malloc; never blocks. */
uint32_t cprof_stack_here(int skip) CPROF_INTERNAL;
/* 0: cprof_stack_here unwinds every time (tests compare both ways). */
extern int cprof_stack_cache_enabled CPROF_INTERNAL;
uint32_t cprof_stack_intern(const uintptr_t *pcs, uint32_t n) CPROF_INTERNAL;
/* The PCs of stack id (return addresses except the leaf), or NULL. */
const uintptr_t *cprof_stack_get(uint32_t id, uint32_t *depth) CPROF_INTERNAL;
uint64_t cprof_stack_overflows(void) CPROF_INTERNAL;

/* Symbolizes one PC of this process into a frame whose strings are interned
 * string-table ids. `leaf`: the PC is the frame's own (not a return
 * address). Caches per PC; thread-safe. Not async-signal-safe: tracer
 * threads only (the drainer, HTTP threads). */
void cprof_symbolize(uintptr_t pc, int leaf, struct cprof_frame *out) CPROF_INTERNAL;

/* 0: symbolize from the modules' own symbol tables and DWARF only, never
 * from separate debug files (/usr/lib/debug). Call before any capture. */
void cprof_symbolize_configure(int separate_debuginfo) CPROF_INTERNAL;

/* symtab.c: the module holding `at` and its symbol (from the module's own
 * symbol table). Returns 1 when a module was found. Strings live as long
 * as the process. Under symbolize.c's lock. */
struct cprof_symtab_hit {
	const char *module_path; /* absolute */
	uintptr_t base;          /* load bias: module_offset = pc - base */
	const char *function;    /* NULL: no symbol covers `at` */
	int has_dwarf;           /* the module carries its own DWARF (file:line) */
};
int cprof_symtab_lookup(uintptr_t at, struct cprof_symtab_hit *hit) CPROF_INTERNAL;

/* libdwfl's find_debuginfo callback for this library: local files only. */
struct Dwfl_Module;
int cprof_find_debuginfo_local(struct Dwfl_Module *mod, void **userdata, const char *modname, uint64_t base,
			       const char *file_name, const char *debuglink_file, uint32_t debuglink_crc,
			       char **debuginfo_file_name) CPROF_INTERNAL;

#endif
