/*
 * Kernel scheduling records for captures (sched.c). Internal.
 *
 * The capture calls, in this order:
 *   cprof_sched_header(h)          when it writes the header: source, rate,
 *                                   and the clock anchors for conversion
 *   cprof_sched_capture_begin()    at capture start (enables the source)
 *   per drain pass, per ring: upto = cprof_sched_collect() before loading
 *   the ring's head; cprof_sched_next(tid) before decoding it and
 *   cprof_sched_take(tid, ts, ...) whenever an own event of ts >= the value
 *   it returned is about to be added; cprof_sched_take(tid, upto, ...)
 *   after the ring (UINT64_MAX for a ring whose thread exited); after all
 *   rings, cprof_sched_pass_end(now)
 *   cprof_sched_capture_end()      after the last pass
 *   cprof_sched_write_tail(w)      in the tail, before the end marker
 * All of these run on the capture's thread (drainer or caller) under the
 * capture lock: no locking inside. Not async-signal-safe.
 */
#ifndef CPROF_SCHED_H
#define CPROF_SCHED_H

#include <stdint.h>
#include "core/visibility.h"

#include "trace_format.h"


/* mode: "perf", "schedstat", "off", or NULL/"" (auto: perf, else schedstat).
 * Opens the kernel events (disabled) for the threads that exist now; at
 * load, before any other thread of the program. Prints one line when a
 * forced mode is unavailable. */
void cprof_sched_init(const char *mode) CPROF_INTERNAL;
/* enum cprof_sched_source in effect. */
int cprof_sched_source(void) CPROF_INTERNAL;
/* Fills h->sched_source (OFF unless a capture has the source enabled) and
 * remembers h's clock anchors (perf times are CLOCK_MONOTONIC ns). */
void cprof_sched_header(struct cprof_header *h) CPROF_INTERNAL;
/* The source captures use, for a header written before any capture runs
 * (a tree file's: its processes' parts follow). */
void cprof_sched_describe(struct cprof_header *h) CPROF_INTERNAL;
void cprof_sched_capture_begin(uint64_t start_ticks) CPROF_INTERNAL;
void cprof_sched_capture_end(void) CPROF_INTERNAL;

/* Called for each record, in timestamp order for one thread. */
typedef void (*cprof_sched_emit_fn)(void *ctx, unsigned kind, uint64_t ts, const uint64_t *args);
/* Reads the kernel rings (perf) or samples schedstat (every 10 ms) into
 * per-thread queues, unless that was done less than 0.1 ms ago. Returns the
 * ticks when that reading began (0: nothing to take yet): every kernel
 * record up to it is queued. */
uint64_t cprof_sched_collect(void) CPROF_INTERNAL;
/* The fullest kernel ring's fill, in 1/1024ths of its size (0 without
 * perf), so the drainer paces itself by the kernel's rings too: the kernel
 * drops what is not read in time. */
int cprof_sched_fill(void) CPROF_INTERNAL;
/* Timestamp of tid's oldest queued record, UINT64_MAX when none. */
uint64_t cprof_sched_next(uint32_t tid) CPROF_INTERNAL;
/* Emits tid's queued records with ts <= upto, oldest first; returns the
 * next one's timestamp (UINT64_MAX: none). Marks tid as traced this pass. */
uint64_t cprof_sched_take(uint32_t tid, uint64_t upto, cprof_sched_emit_fn emit, void *ctx) CPROF_INTERNAL;
/* Records no ring took for 100 ms: forgotten when their thread is gone;
 * else the newest 4096 are kept (the main thread before its first event,
 * the tracer's own threads). */
void cprof_sched_pass_end(uint64_t pass_ticks) CPROF_INTERNAL;
/* Writes the SCHED chunk (kernel records lost to ring overflow) when any
 * were lost: at the capture's tail, before the end marker. */
struct trace_writer;
void cprof_sched_write_tail(struct trace_writer *w) CPROF_INTERNAL;
void cprof_sched_after_fork_child(void) CPROF_INTERNAL;

#endif
