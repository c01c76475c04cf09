/*
 * Captures, for the parts of the library that serve traces (file capture,
 * HTTP endpoint). Internal: not installed.
 *
 * One capture runs at a time, and it has an owner: whoever started it holds
 * its handle, and only that handle pumps or ends it. A handle is never
 * reused (a counter), so a stale handle ends nothing.
 */
#ifndef CPROF_CAPTURE_H
#define CPROF_CAPTURE_H

#include <stdint.h>

#include "trace_writer.h"
#include "core/visibility.h"

/* Names one capture; 0 is never a capture. */
typedef uint64_t cprof_capture_handle;

struct capture_spec {
	cprof_sink_fn sink;  /* receives the trace's bytes, in order */
	void *ctx;
	int background;      /* a drainer thread pumps; else the owner calls cprof_capture_pump() */
	uint64_t duration_ns;/* >0: the drainer ends the capture itself after this long */
	/* Timed captures: called from the drainer once the tail is written,
	 * with the first sink error or 0. */
	void (*on_done)(void *ctx, int rc);
	void *done_ctx;
	int fd;              /* a file descriptor the capture owns and closes at its end, or -1 */
};

/* Starts a drain capture (the header is written at once in the
 * foreground, when the clock is calibrated in the background). Returns 0
 * and sets *out, -EBUSY when another capture runs, or -errno. On failure a
 * spec->fd is left open for the caller. */
int cprof_capture_begin(const struct capture_spec *spec, cprof_capture_handle *out)
	CPROF_INTERNAL;
/* Drains every ring once (foreground captures). Returns the fullest ring's
 * fill before draining, in 1/1024ths (high: pump again soon), or -ENOENT
 * when h is not the capture in progress. */
int cprof_capture_pump(cprof_capture_handle h) CPROF_INTERNAL;
/* Ends capture h: drains what is left, writes lost counts and the end
 * marker (unless a timed capture already did), joins the drainer. Returns
 * 0, -ENOENT when h is not the capture in progress (another owner's capture
 * is left running), or the first sink error. */
int cprof_capture_end(cprof_capture_handle h) CPROF_INTERNAL;
/* Writes a complete trace of the last last_ns ns held by the rings (flight
 * recorder). Returns 0, -EBUSY when a drain capture runs, or -errno. */
int cprof_capture_flight(cprof_sink_fn sink, void *ctx, uint64_t last_ns)
	CPROF_INTERNAL;
/* Ring records that failed validation, in the last capture. */
uint64_t cprof_capture_corrupt(void) CPROF_INTERNAL;

void cprof_capture_before_fork(void) CPROF_INTERNAL;
void cprof_capture_after_fork_parent(void) CPROF_INTERNAL;
void cprof_capture_after_fork_child(void) CPROF_INTERNAL;

#endif
