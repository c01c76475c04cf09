/*
 * The heap profile's sampling (Go's MemProfileRate for C): the malloc
 * family's wrappers (malloc.c) sample allocations with Poisson sampling at
 * a mean of CPROF_TRACE_MEM_RATE bytes (512 KiB by default, 0: off); a
 * sampled block is remembered by address so that its free is counted.
 * Per-stack counters of sampled allocations and frees; the profile
 * (http/pprof_family.c) scales them like Go (1 / (1 - e^(-size/rate))).
 * Internal.
 */
#ifndef CPROF_HEAP_H
#define CPROF_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/internal.h"

struct cprof_heap_stack {        /* one per stack id (CPROF_STACK_IDS + 1) */
	_Atomic uint64_t allocs; /* sampled allocations */
	_Atomic uint64_t alloc_bytes; /* their requested bytes */
	_Atomic uint64_t frees;  /* of those, freed */
	_Atomic uint64_t free_bytes;
};

extern uint64_t cprof_heap_rate CPROF_INTERNAL; /* bytes, 0: off */
/* 0 until the constructor has configured and initialised stacks; then 1,
 * or -1 when interposition is off. */
extern int cprof_heap_ready CPROF_INTERNAL;
/* Sampled blocks still live, for free's fast path. */
extern _Atomic uint64_t cprof_heap_live CPROF_INTERNAL;

void cprof_heap_configure(uint64_t rate) CPROF_INTERNAL;
const struct cprof_heap_stack *cprof_heap_table(void) CPROF_INTERNAL;
/* Sample statistics for the index and tests. */
uint64_t cprof_heap_lost(void) CPROF_INTERNAL;

#endif
