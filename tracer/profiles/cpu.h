/*
 * CPU-time sampling (cpu.c): per-thread timers, a stack per sample, counts
 * per stack for /debug/pprof/profile and CPU_SAMPLE events for traces.
 * Internal.
 */
#ifndef CPROF_CPU_H
#define CPROF_CPU_H

#include <stdint.h>
#include "core/visibility.h"

#include "trace_format.h"


/* CPROF_TRACE_CPU_HZ: samples per CPU-second for captures (0: captures do
 * not sample; /debug/pprof/profile then samples at 100 Hz). */
void cprof_cpu_configure(uint32_t capture_hz) CPROF_INTERNAL;
/* The rate /debug/pprof/profile samples at. */
uint32_t cprof_cpu_profile_hz(void) CPROF_INTERNAL;

/* Users of sampling (a capture, a profile request) start and stop it;
 * sampling runs while any user does. Returns 0, or -ENOTSUP when the program
 * handles the sampling signal (SIGRTMAX-3) itself, or -errno. Not async-signal-safe. */
int cprof_cpu_start(void) CPROF_INTERNAL;
void cprof_cpu_stop(void) CPROF_INTERNAL;

/* Capture hooks: a capture samples when CPROF_TRACE_CPU_HZ > 0; the header
 * states the rate (0: no CPU samples in this file). drainer: the capture
 * will have a drainer thread that calls cprof_cpu_tick until the capture's
 * cprof_cpu_capture_end (then no sampler thread is started for it). */
void cprof_cpu_capture_begin(int drainer) CPROF_INTERNAL;
void cprof_cpu_capture_end(void) CPROF_INTERNAL;
/* The drainer's share of sampling, called on every wake-up with
 * CLOCK_MONOTONIC ns: at most every 100 ms, the periodic duty (cpu.c: the
 * handler check, the scan arming threads that did not start through our
 * trampoline). Returns the ns until the next duty (the drainer sleeps no
 * longer), or UINT64_MAX when it has none. One relaxed load when idle. */
uint64_t cprof_cpu_tick(uint64_t now_ns) CPROF_INTERNAL;
void cprof_cpu_header(struct cprof_header *h) CPROF_INTERNAL;
/* The rate captures sample at (a tree file's header, written before its
 * first capture runs). */
void cprof_cpu_describe(struct cprof_header *h) CPROF_INTERNAL;

/* Called by every new thread before its start routine (interpose/thread.c,
 * through cprof_thread_start_hook):
 * arms its timer when sampling runs; remembers the tracer's own threads so
 * they are never sampled. */
void cprof_cpu_thread_start(void) CPROF_INTERNAL;

/* Samples per stack id since load (index 0: no stack), n = CPROF_STACK_IDS
 * + 1 entries copied into dst. */
void cprof_cpu_counts(uint64_t *dst) CPROF_INTERNAL;
/* Takes one sample of the calling thread now, as a timer expiry would
 * (bench/bench_cpu_sample.c measures the cost of one). 0 or -1. */
int cprof_cpu_sample_self(void) CPROF_INTERNAL;
/* Samples lost because the thread was inside the tracer (busy). */
uint64_t cprof_cpu_dropped(void) CPROF_INTERNAL;
void cprof_cpu_after_fork_child(void) CPROF_INTERNAL;

#endif
