/* The /debug/pprof endpoints. Internal. */
#ifndef CPROF_HTTP_H
#define CPROF_HTTP_H

#include <stdint.h>

struct MHD_Response;

/* A response streaming a capture of duration_ns; -EBUSY when a capture
 * runs. */
int cprof_http_trace_stream(uint64_t duration_ns, struct MHD_Response **out) __attribute__((visibility("hidden")));
/* A response holding the last last_ns of the flight recorder. */
int cprof_http_trace_last(uint64_t last_ns, struct MHD_Response **out) __attribute__((visibility("hidden")));
/* At exit: a trace being streamed gets its tail and end marker, and the
 * client up to 2 s to receive them. */
void cprof_http_finish_at_exit(void) __attribute__((visibility("hidden")));
/* CPROF_TRACE_ADDR at load: starts the server when set. */
void cprof_http_autostart(void) __attribute__((visibility("hidden")));
void cprof_http_after_fork_child(void) __attribute__((visibility("hidden")));

/* The goroutine-style dump of every live thread (debug 1 or 2: with
 * file:line), appended to out. */
struct text;
void cprof_threads_dump(struct text *out, int debug) __attribute__((visibility("hidden")));
/* Finds the cprof-stacks helper (reads CPROF_TRACE_HELPER); at load. */
void cprof_threads_dump_init(void) __attribute__((visibility("hidden")));

#endif
