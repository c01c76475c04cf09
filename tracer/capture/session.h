/*
 * The capture in progress, shared by the files of capture/. Private to
 * this folder.
 *
 * One capture at a time: capture_lock (capture.c) guards starting and
 * ending; while a capture runs, its fields and every struct ring_drain are
 * touched only by its drainer (or, for a foreground capture, the thread
 * that pumps it), never by ring writers.
 */
#ifndef CPROF_CAPTURE_SESSION_H
#define CPROF_CAPTURE_SESSION_H

#include <pthread.h>
#include <stdint.h>

#include "capture/capture.h"
#include "core/internal.h"
#include "stacks/stack.h"
#include "sched/sched.h"
#include "profiles/cpu.h"
#include "u64map.h"

#define BATCH_FLUSH_BYTES (64u << 10)
#define BATCH_FLUSH_NS 500000000u /* a batch older than this is written */

/* What a capture knows about one ring: the batch it is filling from the
 * ring's records, and the ring's owner as last seen. Indexed by
 * ring->index; the ring itself holds only the writer/reader protocol. */
struct ring_drain {
	struct trace_batch batch;
	uint32_t seq;            /* next batch sequence number */
	uint32_t batch_gen;      /* owner generation the open batch belongs to, 0: none */
	uint64_t batch_start_ns; /* CLOCK_MONOTONIC when the batch got its first event */
	uint64_t drop_base;      /* ring->dropped when this capture first saw the owner */
	uint64_t drop_reported;  /* dropped events reported in-band since drop_base */
	uint32_t drop_gen;       /* generation drop_base counts for */
	uint64_t pending_task;   /* task to announce before the generation's first event */
	uint8_t seen;            /* the capture has emitted this generation's task */
};

struct capture {
	int active;
	cprof_capture_handle handle; /* of the capture in progress; 0 when none */
	int header_written;      /* output waits for the clock's calibration */
	int part;                /* writes a tree PART stream (capture_spec.part_stream) */
	_Atomic int skip_if_empty; /* part: at the end, write nothing if no event was seen (set by the ender while a timed capture's drainer may be finishing: relaxed) */
	uint64_t events_seen;    /* events decoded into batches */
	struct trace_writer w;
	int fd;                  /* file captures: owned fd, else -1 */
	pthread_t drainer;
	int has_drainer;
	_Atomic int stop;
	uint64_t deadline_ns;    /* CLOCK_MONOTONIC end of a timed capture, 0: none */
	uint64_t duration_ns;    /* of a timed capture: deadline_ns - its start */
	/* ticks: a timed capture's end (start_ticks + duration, set by the
	 * drainer once the clock is calibrated); records after it are not the
	 * capture's. UINT64_MAX: no bound (yet). */
	uint64_t end_ticks;
	int finished;            /* the tail is written (timed captures: by the drainer) */
	void (*on_done)(void *ctx, int rc); /* called once the end is written */
	void *done_ctx;
	uint32_t strings_sent;   /* ids below this are in the stream */
	uint64_t start_ticks;
	uint64_t last_flush_ns;  /* CLOCK_MONOTONIC of the last full flush */
	uint64_t corrupt;        /* ring records that failed validation */
	struct ring_drain *drains; /* by ring index, grown as rings appear */
	uint32_t ndrains;
	struct cprof_lost *lost; /* per tid, accumulated */
	uint32_t nlost, lost_cap;
	uint8_t stack_sent[CPROF_STACK_IDS / 8 + 1]; /* bit per stack id in the stream */
	uint32_t *stack_pending;  /* ids referenced, not yet written */
	uint32_t npending, pending_cap;
	struct u64map modules_seen;  /* module string ids whose build id is sent or pending */
	uint32_t *modules_pending;   /* module string ids to send in the next MODULES chunk */
	uint32_t nmodules_pending, modules_pending_cap;
	/* The ring being decoded gets its queued kernel records (sched/)
	 * merged before its first own event at or after sched_next (ticks;
	 * UINT64_MAX: none, also outside drain passes). */
	uint64_t sched_next;
};

uint64_t capture_mono_ns(void) CPROF_INTERNAL;

/* capture.c: resets c for a new capture writing to sink. */
void capture_reset(struct capture *c, cprof_sink_fn sink, void *ctx) CPROF_INTERNAL;
/* The drain state of ring r, grown on demand; NULL when out of memory (the
 * ring's records are then skipped and counted as lost). */
struct ring_drain *capture_drain_of(struct capture *c, const struct ring *r) CPROF_INTERNAL;
int capture_drain_sanity(const struct capture *c, const struct ring *r, const struct ring_drain *d) CPROF_INTERNAL;

/* tables.c: the stream's strings, stacks and lost counts. */
void tables_lost_add(struct capture *c, uint32_t tid, uint64_t n, uint64_t first, uint64_t last) CPROF_INTERNAL;
void tables_send_strings(struct capture *c) CPROF_INTERNAL;
void tables_stack_need(struct capture *c, uint64_t id) CPROF_INTERNAL;
void tables_send_stacks(struct capture *c) CPROF_INTERNAL;
void tables_free(struct capture *c) CPROF_INTERNAL;

/* decode.c: ring records into batches. */
void decode_span(struct capture *c, struct ring *r, struct ring_drain *d, const uint8_t *mem, uint64_t from,
		 uint64_t to, uint64_t min_ts, uint32_t only_gen) CPROF_INTERNAL;
void decode_flush(struct capture *c, const struct ring *r, struct ring_drain *d) CPROF_INTERNAL;
void decode_adopt(struct capture *c, const struct ring *r, struct ring_drain *d, uint32_t gen,
		  uint64_t task) CPROF_INTERNAL;
/* At a capture's end: the call ring r's owner still waits in, as a block
 * until `now` (ticks). */
void decode_call_in_progress(struct capture *c, struct ring *r, struct ring_drain *d, uint64_t now) CPROF_INTERNAL;
/* At a capture's end in an exiting process: ring r's thread dies at `now`. */
void decode_exit_at_end(struct capture *c, struct ring *r, struct ring_drain *d, uint64_t now) CPROF_INTERNAL;
/* A flight snapshot covers d's thread only from ts on (its ring wrapped). */
void decode_flight_from(struct capture *c, const struct ring *r, struct ring_drain *d, uint64_t ts) CPROF_INTERNAL;
/* Appends ring r's kernel records up to `upto` ticks (sched/) to its batch. */
void decode_sched_upto(struct capture *c, const struct ring *r, struct ring_drain *d, uint64_t upto) CPROF_INTERNAL;

/* capture.c: the pid of this process once it is exiting
 * (cprof_capture_process_exiting), else 0 or another pid (a vfork child's). */
extern _Atomic int capture_process_exiting CPROF_INTERNAL;

/* drain.c: drain passes, the drainer thread, the header and the tail. */
int drain_pass(struct capture *c) CPROF_INTERNAL;
void *drain_thread_main(void *arg) CPROF_INTERNAL;
/* Wakes the drainer from its pause (after setting c->stop). */
void drain_wake(struct capture *c) CPROF_INTERNAL;
void drain_finish(struct capture *c) CPROF_INTERNAL;
void drain_write_header(struct capture *c) CPROF_INTERNAL;
void drain_write_tail(struct capture *c) CPROF_INTERNAL;
/* A fork waits out a drain pass in progress (pass_lock): a pass allocates,
 * and an allocator without fork handlers (ASan's, GCC 12) would leave its
 * lock held forever in the child if the fork came mid-malloc. */
void drain_before_fork(void) CPROF_INTERNAL;
void drain_after_fork_parent(void) CPROF_INTERNAL;
void drain_after_fork_child(void) CPROF_INTERNAL;

/* flight.c: writes a trace of the last last_ns ns the rings hold into c
 * (reset here); the caller holds capture_lock and releases c after. */
int flight_snapshot(struct capture *c, cprof_sink_fn sink, void *ctx, uint64_t last_ns) CPROF_INTERNAL;

/* file.c */
int capture_write_tree_header(int fd) CPROF_INTERNAL;
void file_after_fork_child(void) CPROF_INTERNAL;

#endif
