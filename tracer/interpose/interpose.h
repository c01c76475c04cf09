/*
 * Interposition: how a wrapper finds the function it wraps. Internal.
 *
 * A wrapper is an exported function with the libc name (it wins symbol
 * lookup both when the program links -lcproftrace and under LD_PRELOAD).
 * REAL(name) is the next definition, resolved once with dlsym(RTLD_NEXT)
 * and cached; resolution races are benign (every thread stores the same
 * pointer). All wrappers are resolved by cprof_interpose_init() in the
 * constructor, so later calls never enter dlsym; a call that arrives before
 * the constructor resolves lazily.
 */
#ifndef CPROF_INTERPOSE_H
#define CPROF_INTERPOSE_H

#include "interpose/block.h"

void *cprof_resolve(const char *name, const char *version) CPROF_INTERNAL;

#define REAL_FN(ret, name, params) static ret(*real_##name) params
#define REAL_RESOLVE(name, version)                                                        \
	__extension__({                                                                    \
		__typeof__(real_##name) f_ = __atomic_load_n(&real_##name, __ATOMIC_RELAXED); \
		if (unlikely(!f_)) {                                                       \
			f_ = (__typeof__(f_))cprof_resolve(#name, version);                \
			__atomic_store_n(&real_##name, f_, __ATOMIC_RELAXED);              \
		}                                                                          \
		f_;                                                                        \
	})
#define REAL(name) REAL_RESOLVE(name, NULL)
/* A site naming the interposed call, for BLOCK_BEGIN's `what`. */
#define CALL_SITE(name) static struct cprof_site site_##name = {#name, 0}

/* sched-cpu: called by every thread started through pthread_create, before
 * its routine (after THREAD_START); set once by a higher layer (profiles/
 * cpu.c) with a release store, read with acquire. */
extern void (*cprof_thread_start_hook)(void) CPROF_INTERNAL;

void cprof_interpose_sync_init(void) CPROF_INTERNAL;
void cprof_interpose_io_init(void) CPROF_INTERNAL;
void cprof_interpose_thread_init(void) CPROF_INTERNAL;
/* Creation stacks with their thread counts (stack id 0: unknown); returns
 * the total created through pthread_create. */
uint64_t cprof_threadcreate_counts(uint32_t *ids, uint32_t *counts, uint32_t cap, uint32_t *n) CPROF_INTERNAL;

#endif
