/* The /debug/pprof endpoints. Internal. */
#ifndef CPROF_HTTP_H
#define CPROF_HTTP_H

#include <stdint.h>
#include "core/visibility.h"

struct MHD_Response;

/* A response streaming a capture of duration_ns; -EBUSY when a capture
 * runs. */
int cprof_http_trace_stream(uint64_t duration_ns, struct MHD_Response **out) CPROF_INTERNAL;
/* A response holding a tree file of duration_ns: this process and the
 * workers it forked (capture/remote.c); blocks for the duration. */
int cprof_http_trace_tree(uint64_t duration_ns, struct MHD_Response **out) CPROF_INTERNAL;
/* A response holding the last last_ns of the flight recorder. */
int cprof_http_trace_last(uint64_t last_ns, struct MHD_Response **out) CPROF_INTERNAL;
/* A response holding a CPU profile of the next duration_ns (gzip pprof);
 * -EBUSY when a profile request runs, -ENOTSUP when the program handles
 * SIGPROF itself (profile.c). */
int cprof_http_profile(uint64_t duration_ns, struct MHD_Response **out) CPROF_INTERNAL;
/* At exit: a trace being streamed gets its tail and end marker, and the
 * client up to 2 s to receive them. */
void cprof_http_finish_at_exit(void) CPROF_INTERNAL;
/* CPROF_TRACE_ADDR at load: starts the server when set. */
void cprof_http_autostart(void) CPROF_INTERNAL;
void cprof_http_after_fork_child(void) CPROF_INTERNAL;

/* The goroutine-style dump of every live thread (debug 1 or 2: with
 * file:line), appended to out. */
struct text;
void cprof_threads_dump(struct text *out, int debug) CPROF_INTERNAL;
/* Finds the cprof-stacks helper (reads CPROF_TRACE_HELPER); at load. */
void cprof_threads_dump_init(void) CPROF_INTERNAL;

/* The ptrace helper's report of every thread's stack ("T tid" lines, frames
 * with "pc=0x..."), malloc'd, or NULL; "E why" when stacks are unavailable
 * (goroutine.c). */
char *cprof_threads_report(void) CPROF_INTERNAL;

/* pprof_family.c: gzip pprof profiles appended to out; 0 or -ENOMEM. */
struct trace_buf;
int cprof_pprof_block(struct trace_buf *out) CPROF_INTERNAL;
int cprof_pprof_mutex(struct trace_buf *out) CPROF_INTERNAL;
int cprof_pprof_goroutine(struct trace_buf *out) CPROF_INTERNAL;
int cprof_pprof_threadcreate(struct trace_buf *out) CPROF_INTERNAL;
/* heap (allocs 0: default type inuse_space) or allocs (1: alloc_space). */
int cprof_pprof_heap(int allocs, struct trace_buf *out) CPROF_INTERNAL;
/* The heap profile in Go's text form (?debug=1). */
void cprof_heap_text(struct text *t) CPROF_INTERNAL;
/* block (0) or mutex (1) in Go's text form (?debug=1). */
void cprof_contention_text(int mutex, struct text *t) CPROF_INTERNAL;
/* The number of stacks in profile `name` (block, mutex, heap, allocs), for the index. */
uint64_t cprof_pprof_count(const char *name) CPROF_INTERNAL;

#endif
