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
/* The line of address `at` in the module loaded at bias `base`: returns 1
 * and sets *file (valid for the life of the process) and *line, or 0.
 * may_build: a missing table may be extracted now (libdw, ~100-200 ms and
 * ~20 MB once per module; not under memory pressure). */
int cprof_lines_lookup(uintptr_t at, uintptr_t base, int may_build, const char **file, uint32_t *line)
	CPROF_INTERNAL;

#endif
