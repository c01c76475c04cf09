/*
 * Captures, for the parts of the library that serve traces (file capture,
 * HTTP endpoint). Internal: not installed.
 */
#ifndef CPROF_CAPTURE_H
#define CPROF_CAPTURE_H

#include <stdint.h>

#include "trace_writer.h"

/* Starts the one drain capture, writing the header to sink at once.
 * background: a drainer thread pumps; else the caller calls
 * cprof_capture_pump() itself. Returns 0, -EBUSY, or -errno. */
int cprof_capture_begin(cprof_sink_fn sink, void *ctx, int background)
	__attribute__((visibility("hidden")));
/* A capture that ends itself after duration_ns: its drainer writes the
 * tail, then calls on_done(done_ctx, first sink error or 0) from the drainer
 * thread. cprof_capture_end() must still be called (it joins and frees;
 * called early, it cuts the capture short). */
int cprof_capture_begin_timed(cprof_sink_fn sink, void *ctx, uint64_t duration_ns, void (*on_done)(void *, int),
			      void *done_ctx) __attribute__((visibility("hidden")));
/* Drains every ring once (foreground captures). Returns the fullest ring's
 * fill before draining, in 1/1024ths: high means pump again soon. */
int cprof_capture_pump(void) __attribute__((visibility("hidden")));
/* Drains what is left, writes lost counts and the end marker. Returns 0,
 * -ENOENT when no capture runs, or the first sink error. */
int cprof_capture_end(void) __attribute__((visibility("hidden")));
/* Writes a complete trace of the last last_ns ns held by the rings (flight
 * recorder). Returns 0, -EBUSY when a drain capture runs, or -errno. */
int cprof_capture_flight(cprof_sink_fn sink, void *ctx, uint64_t last_ns)
	__attribute__((visibility("hidden")));
/* Ring records that failed validation, in the last capture. */
uint64_t cprof_capture_corrupt(void) __attribute__((visibility("hidden")));

#endif
