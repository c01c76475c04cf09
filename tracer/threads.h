/* Thread bookkeeping shared by the interposer and the endpoint. Internal. */
#ifndef CPROF_THREADS_H
#define CPROF_THREADS_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Attaches the calling thread now (records THREAD_START). */
void cprof_thread_attach_now(struct cprof_thread *self) CPROF_INTERNAL;
/* Renames a ring (its owner only). */
void cprof_ring_set_name(struct ring *r, const char *name) CPROF_INTERNAL;
/* Creation stacks with their thread counts (stack id 0: unknown); returns
 * the total created through pthread_create. */
uint64_t cprof_threadcreate_counts(uint32_t *ids, uint32_t *counts, uint32_t cap, uint32_t *n) CPROF_INTERNAL;

/* The goroutine-style dump of every live thread (debug 1 or 2: with
 * file:line), appended to out. */
struct text;
void cprof_threads_dump(struct text *out, int debug) CPROF_INTERNAL;

#endif
