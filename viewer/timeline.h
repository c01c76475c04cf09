/*
 * The timeline index behind the web UI's "View trace": per thread, one lane
 * per nesting depth of sorted, non-overlapping spans (regions, and blocks
 * at the depth they happened), plus packed task lanes, logs and wake-ups.
 * A view query walks only the spans that overlap the window and merges
 * those narrower than a pixel, so its answer is bounded by the width in
 * pixels, not by the trace size.
 *
 * With the kernel's context switches (perf), each thread also has its
 * states (running, runnable, blocked by class) as a background lane and its
 * CPU samples as ticks; after the walk, the running states give one lane per
 * CPU (which thread ran there when, like go tool trace's Proc rows) and a
 * step function of how many threads were running and runnable.
 */
#ifndef CPROF_TIMELINE_H
#define CPROF_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "walk.h"

/* What a span is: a region, a block (TL_BLOCK0 + its walk class, in the
 * order of the block-category table), a task, or several merged at the
 * view's resolution. */
enum tl_kind {
	TL_REGION,
	TL_BLOCK0,
	TL_TASK = TL_BLOCK0 + CPROF_BLOCK_COUNT,
	TL_MERGED,
	TL_KINDS
};
/* "region", the block category's name, "task", "merged" (the UI's names). */
const char *tl_kind_name(unsigned kind);

/* 24 bytes: begin and end in ns; meta = kind << 29 | a 29-bit id (the
 * stack of a block, the enclosing task's name of a region, a task's id).
 * Region, block and task lanes keep them coded (struct tl_clane); kernel
 * state and CPU lanes as they are. */
struct tl_span {
	int64_t begin, end;
	uint32_t name; /* string id */
	uint32_t meta;
};
#define TL_META(kind, id) ((uint32_t)(kind) << 29 | ((id) & 0x1fffffffu))
#define TL_KIND(meta) ((meta) >> 29)
#define TL_ID(meta) ((meta) & 0x1fffffffu)
_Static_assert(sizeof(struct tl_span) == 24, "struct tl_span is 24 bytes");
/* Kinds fit the meta's 3 bits, ids its 29: string and stack ids, and the
 * walk's "task begun before the capture" name. */
_Static_assert(TL_KINDS <= 8, "tl_kind fits 3 bits");
_Static_assert(CPROF_STRING_ID_MAX - 1 <= 0x1fffffff && CPROF_STACK_ID_MAX - 1 <= 0x1fffffff,
	       "string and stack ids fit TL_ID");
_Static_assert(WALK_TASK_UNKNOWN <= 0x1fffffff, "WALK_TASK_UNKNOWN fits TL_ID");

struct tl_lane {
	struct tl_span *s;
	uint32_t n, cap;
};

/* A compact lane: the spans of a thread's depth or of a task lane, in
 * order, varint-coded against the span before (zigzag begin - previous
 * end, zigzag end - begin, name, id << 3 | kind), 6-10 bytes a span
 * instead of 24, with a block entry every TL_BLK spans for seeking. Read
 * through tl_cur / tl_clane_get / tl_clane_seek, which give back the
 * struct tl_span that was pushed (any int64 values round-trip). */
#define TL_BLK 64
struct tl_blk {
	uint64_t off;     /* byte offset of the block's first span */
	int64_t prev_end; /* the end of the span before it (0 for the first) */
	/* a summary, so a view can merge a whole block of sub-pixel spans
	 * unread: its first begin, largest begin and end, longest span, the
	 * largest gap from a span's begin back to the latest end before it in
	 * the block, the kinds in it (bits); tame: every time within +-2^61 ns */
	int64_t first_begin, max_begin, max_end, max_len, max_gap;
	uint8_t kinds, tame;
};
#define TL_TAME(ns) ((ns) > -((int64_t)1 << 61) && (ns) < ((int64_t)1 << 61))
struct tl_clane {
	uint8_t *buf;
	uint64_t len, cap;
	struct tl_blk *blk;
	uint32_t n, nblk, blk_cap;
	int64_t prev_end, last_begin; /* the encoder's state */
	int unsorted;                 /* a span was pushed before an earlier one's begin */
};
/* A reader of a compact lane: tl_cur_at puts it on span i; tl_cur_next
 * gives that span and moves on (0 at the end). */
struct tl_cur {
	const struct tl_clane *l;
	uint32_t i;
	uint64_t off;
	int64_t prev_end;
};
void tl_cur_at(struct tl_cur *c, const struct tl_clane *l, uint32_t i);

static inline uint64_t tl_unzz(uint64_t v) { return v >> 1 ^ (uint64_t)-(int64_t)(v & 1); }

static inline const uint8_t *tl_get_varint(const uint8_t *p, uint64_t *v)
{
	uint64_t x = *p++;
	if (x & 0x80) {
		x &= 0x7f;
		for (unsigned sh = 7;; sh += 7) {
			uint8_t b = *p++;
			x |= (uint64_t)(b & 0x7f) << sh;
			if (!(b & 0x80) || sh >= 63)
				break;
		}
	}
	*v = x;
	return p;
}

static inline int tl_cur_next(struct tl_cur *c, struct tl_span *out)
{
	if (c->i >= c->l->n)
		return 0;
	const uint8_t *p = c->l->buf + c->off;
	uint64_t d, len, name, meta;
	p = tl_get_varint(p, &d);
	p = tl_get_varint(p, &len);
	p = tl_get_varint(p, &name);
	p = tl_get_varint(p, &meta);
	out->begin = (int64_t)((uint64_t)c->prev_end + tl_unzz(d));
	out->end = (int64_t)((uint64_t)out->begin + tl_unzz(len));
	out->name = (uint32_t)name;
	out->meta = TL_META(meta & 7, meta >> 3);
	c->off = (uint64_t)(p - c->l->buf);
	c->prev_end = out->end;
	c->i++;
	return 1;
}
/* Span i of l; 0 when i >= l->n. */
int tl_clane_get(const struct tl_clane *l, uint32_t i, struct tl_span *out);
/* Index of the first span of l whose end is after ns (as tl_lane_seek). */
uint32_t tl_clane_seek(const struct tl_clane *l, int64_t ns);

/* Logs and wake-ups: records of a time and up to TL_RF fields, kept in a
 * compact stream sorted by time (struct tl_rstream), varint-coded against
 * the record before (zigzag deltas of the time and of each field), with a
 * block entry every TL_BLK records. While the walk runs they arrive in
 * runs (struct tl_runs) with an arrival number as one more field; the
 * finish merges them by (time, arrival): the order a stable sort of all of
 * them by time in arrival order gives.
 * A log: f = {thread index, category, len, offset into msgs}; a wake-up:
 * f = {waker index, target index}. */
#define TL_RF 5
struct tl_rec {
	int64_t ts;
	uint64_t f[TL_RF];
};
enum { TL_LOG_THREAD, TL_LOG_CATEGORY, TL_LOG_LEN, TL_LOG_MSG, TL_LOG_FIELDS };
enum { TL_WAKE_WAKER, TL_WAKE_TARGET, TL_WAKE_FIELDS };
enum { TL_TASK_END, TL_TASK_NAME, TL_TASK_META, TL_TASK_FIELDS }; /* a task: ts = its begin */
struct tl_rblk {
	uint64_t off;
	struct tl_rec prev; /* the record before the block's first */
};
struct tl_rstream {
	uint8_t *buf;
	uint64_t len, cap;
	struct tl_rblk *blk;
	uint64_t n, nblk, blk_cap;
	struct tl_rec last; /* the encoder's state */
	unsigned nf;        /* fields per record */
	int unsorted;       /* a record's time before the one before it */
};
struct tl_rcur {
	const struct tl_rstream *r;
	uint64_t i, off;
	struct tl_rec prev;
};
void tl_rcur_at(struct tl_rcur *c, const struct tl_rstream *r, uint64_t i);
int tl_rcur_next(struct tl_rcur *c, struct tl_rec *out);
/* Index of the first record whose ts is at or after ns (as tl_seek_ts). */
uint64_t tl_rs_seek(const struct tl_rstream *r, int64_t ns);
/* Records in arrival order, collected in runs of TL_RUN each sorted by
 * (time, arrival) once full (the arrival number is a last field), merged
 * after the walk. */
#define TL_RUN 65536
struct tl_runs {
	struct tl_rstream *r;
	uint32_t n;
	uint64_t arrivals;
};

/* A thread's states lane holds spans whose name is the state (walk.h:
 * WALK_RUNNING, WC_SCHED runnable, a block class, WC_OTHER) and whose meta
 * is the CPU + 1 of a running state (0 otherwise); sorted by begin and not
 * overlapping after the walk. A CPU lane's spans are named by the thread's
 * index in threads. */
struct tl_thread {
	uint32_t tid;
	struct tl_clane *lanes; /* one per depth */
	uint32_t nlanes;
	struct tl_lane states;
	int64_t *samples;        /* ns of its CPU samples, sorted after the walk */
	uint32_t nsamples, samples_cap;
};

/* The number of threads running and runnable from ts on (ns). */
struct tl_count {
	int64_t ts;
	int32_t running, runnable;
};

/* tl_seek_ts reads records that start with their int64_t ts */
_Static_assert(offsetof(struct tl_count, ts) == 0, "ts leads the record");

struct timeline {
	struct tl_thread *threads;
	uint32_t nthreads, threads_cap;
	struct u64map thread_index; /* tid -> index + 1 */
	uint32_t last_tid, last_index; /* the last thread_index lookup (index + 1) */
	struct tl_clane *task_lanes;
	struct tl_runs task_runs, log_runs, wake_runs; /* during the walk */
	uint32_t ntask_lanes;
	struct tl_rstream logs; /* by time, after the walk */
	char *msgs;             /* log messages, in file order, repeats kept once */
	uint64_t msgs_len, msgs_cap;
	struct u64map msg_map;  /* during the walk: a message's hash -> index in msg_offs + 1 */
	uint64_t *msg_offs, msg_offs_cap;
	struct tl_rstream wakes; /* by time, after the walk */

	struct tl_lane *cpus;   /* per CPU: who ran there (after the walk) */
	uint32_t ncpus;
	struct tl_count *counts; /* sorted by ts, one per change */
	uint64_t ncounts;
	uint64_t states, samples; /* state spans and samples kept */
	uint64_t spans;
	int oom; /* an allocation failed: the index is partial */
};

/* The consumer; its finish hook sorts what arrived out of order and packs
 * the task lanes. */
struct walk_consumer timeline_consumer(struct timeline *t);
void timeline_free(struct timeline *t);

/* Index of the first of n records (each `stride` bytes, starting with an
 * int64_t ts, sorted by it) whose ts is at or after ns. */
uint64_t tl_seek_ts(const void *records, uint64_t n, size_t stride, int64_t ns);
/* Index of the first span of lane l whose end is after ns. */
uint32_t tl_lane_seek(const struct tl_lane *l, int64_t ns);

#endif
