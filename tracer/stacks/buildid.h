/*
 * Build ids of the loaded objects, read from their PT_NOTE segments in
 * memory (no file is opened): what a trace records per module so that
 * pprof profiles made from it name the exact binaries.
 */
#ifndef CPROF_STACKS_BUILDID_H
#define CPROF_STACKS_BUILDID_H

#include <stddef.h>
#include <stdint.h>

#include "core/visibility.h"

/* The GNU build id of the loaded object whose file's base name is `name`
 * (the main program's: /proc/self/exe's), into out (cap bytes). Returns
 * its length, 0 when no loaded object of that name carries one. */
size_t cprof_build_id_of(const char *name, uint8_t *out, size_t cap) CPROF_INTERNAL;

#endif
