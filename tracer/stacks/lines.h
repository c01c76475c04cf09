/*
 * file:line from separate debug files through a per-user cache of line
 * tables (lines.c). Internal.
 */
#ifndef CPROF_LINES_H
#define CPROF_LINES_H

#include <stdint.h>

#include "core/visibility.h"

/* The cache directory (NULL: the default under $XDG_CACHE_HOME or $HOME;
 * "0": off). At load, before any lookup. */
void cprof_lines_configure(const char *dir) CPROF_INTERNAL;
struct cprof_line {
	const char *function; /* NULL: unknown (valid for the life of the process) */
	const char *file;     /* NULL: unknown */
	uint32_t line;
};
/* The function and line of address `at` in the module loaded at bias
 * `base`, from its separate debug file: returns 1 when *out has either.
 * may_build: a missing table may be extracted now (libdw, ~100-200 ms and
 * ~20 MB once per module; not under memory pressure). */
int cprof_lines_lookup(uintptr_t at, uintptr_t base, int may_build, struct cprof_line *out) CPROF_INTERNAL;
/* The cache's file for the module loaded at bias `base`:
 * "<dir>/<build id><suffix>" into out (the directory made when `make_dir`).
 * Returns 0, or -1 when the cache is off, the module has no build id, or
 * out is too small. Other per-build-id tables (symtab.c's) live there too. */
int cprof_lines_cache_path(uintptr_t base, const char *suffix, int make_dir, char *out, size_t cap) CPROF_INTERNAL;

#endif
