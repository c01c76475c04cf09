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
	/* Tree parts: when part_stream is not 0, the capture writes one
	 * process's PART stream (a PROCESS chunk, then its chunks wrapped;
	 * FORMAT.md) instead of a whole file: no file header, and no wait for
	 * the clock's calibration (the tree file's header carries the rate). */
	uint32_t part_pid;
	uint64_t part_stream;
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
/* Like cprof_capture_end, but a part capture that recorded no event writes
 * nothing at all (an image about to exec adds nothing to its tree). */
int cprof_capture_end_unless_empty(cprof_capture_handle h) CPROF_INTERNAL;
/* Writes a complete trace of the last last_ns ns held by the rings (flight
 * recorder). Returns 0, -EBUSY when a drain capture runs, or -errno. */
int cprof_capture_flight(cprof_sink_fn sink, void *ctx, uint64_t last_ns)
	CPROF_INTERNAL;
/* Ring records that failed validation, in the last capture. */
uint64_t cprof_capture_corrupt(void) CPROF_INTERNAL;

/* Tree captures (file.c; CPROF_TRACE_FILE): this process's part of the
 * tree file at path (created when no ancestor's file is named by
 * CPROF_TRACE_TREE). Returns 0, -EBUSY when a file capture runs, or
 * -errno. Ended by cprof_trace_stop(). */
int cprof_trace_start_tree(const char *path) CPROF_INTERNAL;
/* Before an exec: ends this image's part (writing nothing if it recorded
 * nothing). Returns 1 when it ended one, which the caller restarts with
 * cprof_tree_after_failed_exec() if the exec fails. Does nothing in a
 * vfork child. */
int cprof_tree_before_exec(void) CPROF_INTERNAL;
void cprof_tree_after_failed_exec(void) CPROF_INTERNAL;
/* "CPROF_TRACE_FILE=..." (which 0) or "CPROF_TRACE_TREE=..." (1) for an
 * exec'd image's environment; NULL without a tree capture. */
const char *cprof_tree_env(int which) CPROF_INTERNAL;
/* In a forked child, after the rings' reset: starts the child's own part
 * (unless the tracer itself forked). Returns 1 when it did. */
int cprof_tree_after_fork_child(int tracer_fork) CPROF_INTERNAL;

/* Remote captures of a tree (remote.c). cprof_remote_init() maps the
 * control page (the process serving the endpoint, at load, before it
 * forks); cprof_remote_load() joins a coordinator named by
 * CPROF_TRACE_REMOTE (exec'd images, at load); forked children start a
 * watcher in the fork handler. */
void cprof_remote_init(void) CPROF_INTERNAL;
void cprof_remote_load(void) CPROF_INTERNAL;
void cprof_remote_after_fork_parent(int tracer_fork) CPROF_INTERNAL;
void cprof_remote_after_fork_child(int tracer_fork) CPROF_INTERNAL;
/* Before an exec / at exit: ends this image's part of a remote capture in
 * progress (counted done). Returns 1 when it ended one, which the caller
 * rejoins with cprof_remote_after_failed_exec() if the exec fails. */
int cprof_remote_before_exec(void) CPROF_INTERNAL;
void cprof_remote_after_failed_exec(void) CPROF_INTERNAL;
void cprof_remote_finish_at_exit(void) CPROF_INTERNAL;
/* "CPROF_TRACE_REMOTE=..." for an exec'd image's environment, or NULL. */
const char *cprof_remote_env(void) CPROF_INTERNAL;
/* Whether ?seconds=N here is a tree capture: this process coordinates and
 * has started a child or has a watching descendant. */
int cprof_remote_is_tree(void) CPROF_INTERNAL;
/* Records duration_ns of this process and its watching descendants into
 * an unlinked tree file; returns 0 and its descriptor (read/write, the
 * caller's), -EBUSY when a capture runs here, or -errno. Blocks for the
 * duration. */
int cprof_remote_capture(uint64_t duration_ns, int *out_fd) CPROF_INTERNAL;

/* The process is ending (exit, _exit, _Exit): a capture that ends from now
 * on records every live thread's exit at its end, so a process that dies
 * before the trace ends has its threads' time end with it. Not at exec
 * (the image's main thread lives on in the next part). */
void cprof_capture_process_exiting(void) CPROF_INTERNAL;
void cprof_capture_before_fork(void) CPROF_INTERNAL;
void cprof_capture_after_fork_parent(void) CPROF_INTERNAL;
void cprof_capture_after_fork_child(void) CPROF_INTERNAL;

#endif
