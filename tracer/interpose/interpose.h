/*
 * Interposition: how a wrapper finds the function it wraps. Internal.
 *
 * A wrapper is an exported function with the libc name (it wins symbol
 * lookup both when the program links -lcproftrace and under LD_PRELOAD).
 * REAL(name) is the next definition, cprof_real_NAME, one pointer per entry
 * of the table in calls.h. cprof_interpose_resolve_all() fills them all
 * from the constructor, so later calls never enter dlsym; a call that
 * arrives before it resolves its own entry lazily (resolution races are
 * benign: every thread stores the same pointer).
 */
#ifndef CPROF_INTERPOSE_H
#define CPROF_INTERPOSE_H

#include "interpose/block.h"
#include "interpose/calls.h"

#define CPROF_X_REAL_DECL(ret, name, params, version) extern ret(*cprof_real_##name) params CPROF_INTERNAL;
CPROF_INTERPOSED(CPROF_X_REAL_DECL)
#undef CPROF_X_REAL_DECL

/* Resolves every entry of the table; aborts with a message when one is
 * missing (nothing to fall back on). */
void cprof_interpose_resolve_all(void) CPROF_INTERNAL;
/* Resolves the table entry `name` now and stores it in its pointer. */
void *cprof_interpose_resolve_lazy(const char *name) CPROF_INTERNAL __attribute__((cold));

#define REAL(name)                                                                                 \
	__extension__({                                                                            \
		__typeof__(cprof_real_##name) f_ = __atomic_load_n(&cprof_real_##name, __ATOMIC_RELAXED); \
		if (unlikely(!f_))                                                                 \
			f_ = (__typeof__(f_))cprof_interpose_resolve_lazy(#name);                  \
		f_;                                                                                \
	})

/* The shared prologue of every observing wrapper: calls from the tracer
 * itself, from its threads, after thread exit or with interposition off
 * go straight to the real function. */
#define PASS_UNLESS_OBSERVED(name, call_args)        \
	do {                                         \
		if (!cprof_observed())               \
			return REAL(name) call_args; \
	} while (0)

/* A site naming the interposed call, for BLOCK_BEGIN's `what`. */
#define CALL_SITE(name) static struct cprof_site site_##name = {#name, 0}

/* Called by every thread started through pthread_create, before its
 * routine (after THREAD_START); set once by a higher layer (profiles/
 * cpu.c) with a release store, read with acquire. */
extern void (*cprof_thread_start_hook)(void) CPROF_INTERNAL;
void cprof_interpose_thread_init(void) CPROF_INTERNAL;
/* Creation stacks with their thread counts (stack id 0: unknown); returns
 * the total created through pthread_create. */
uint64_t cprof_threadcreate_counts(uint32_t *ids, uint32_t *counts, uint32_t cap, uint32_t *n) CPROF_INTERNAL;

#endif
