/*
 * Ring records into batches: validates each record, rewrites what only
 * this process can resolve (start routines become symbol names), notes
 * the stacks a batch needs, and appends to the ring's batch in the
 * capture's ring_drain. Used by drain captures and flight snapshots alike.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "capture/session.h"
#include "interpose/block.h"

/* The thread's current name: /proc (names set by any thread, any way),
 * else what the ring holds. */
static void thread_name(const struct ring *r, char *name, size_t cap)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%u/comm", r->tid);
	if (cprof_read_small(path, name, cap)) {
		name[strcspn(name, "\n")] = 0;
		return;
	}
	for (size_t i = 0; i < cap - 1 && i < CPROF_THREAD_NAME_MAX; i++)
		name[i] = __atomic_load_n(&r->name[i], __ATOMIC_RELAXED);
	name[cap - 1 < CPROF_THREAD_NAME_MAX ? cap - 1 : CPROF_THREAD_NAME_MAX] = 0;
}

/* Writes d's batch, if it holds events, with the stacks and strings it
 * uses before it, and opens the next one. */
void decode_flush(struct capture *c, const struct ring *r, struct ring_drain *d)
{
	if (!d->batch.nevents)
		return;
	drain_write_header(c);
	tables_send_stacks(c);
	tables_send_strings(c); /* every id the batch uses was interned before it */
	/* The name as of writing: a thread often names itself after its start. */
	char name[CPROF_THREAD_NAME_MAX + 1];
	thread_name(r, name, sizeof name);
	size_t n = strlen(name);
	memcpy(d->batch.name, name, n);
	d->batch.name_len = (uint8_t)n;
	trace_writer_batch(&c->w, &d->batch);
	d->seq++;
	trace_batch_reset(&d->batch, d->batch.tid, d->seq, d->batch.last_ticks, NULL);
}

/* Moves d to owner generation gen (a new thread owns the ring). */
void decode_adopt(struct capture *c, const struct ring *r, struct ring_drain *d, uint32_t gen, uint64_t task)
{
	decode_flush(c, r, d);
	d->batch_gen = gen;
	d->seen = 0;
	d->pending_task = task;
	if (gen != d->drop_gen) { /* a new owner: its `dropped` started at 0 */
		d->drop_gen = gen;
		d->drop_base = 0;
		d->drop_reported = 0;
	}
	trace_batch_reset(&d->batch, r->tid, d->seq, c->start_ticks, NULL);
	assert(capture_drain_sanity(c, r, d));
}

static void batch_put(struct capture *c, const struct ring *r, struct ring_drain *d, unsigned kind, uint64_t ts,
		      const uint64_t *args, const void *bytes, size_t nbytes)
{
	if (!d->batch.nevents)
		d->batch_start_ns = capture_mono_ns();
	c->events_seen++;
	int rc = trace_batch_add(&d->batch, kind, ts, args, bytes, nbytes);
	if (rc == -ENOSPC) {
		decode_flush(c, r, d);
		rc = trace_batch_add(&d->batch, kind, ts, args, bytes, nbytes);
	}
	/* Before the header can be written, batches grow (up to
	 * CPROF_BATCH_MAX_RAW, then -ENOSPC above writes the header anyway). */
	if (trace_batch_bytes(&d->batch) >= BATCH_FLUSH_BYTES && c->header_written)
		decode_flush(c, r, d);
}

/* The batch a kernel record (cprof_sched_emit_fn) goes to. */
struct sched_emit_ctx {
	struct capture *c;
	const struct ring *r;
	struct ring_drain *d;
};

/* The thread's first event in this capture announces its task first. */
static void announce_task(struct capture *c, const struct ring *r, struct ring_drain *d, uint64_t ts)
{
	if (d->seen)
		return;
	d->seen = 1;
	if (d->pending_task)
		batch_put(c, r, d, CPROF_EV_TASK_SET, ts, &d->pending_task, NULL, 0);
}

static void sched_emit(void *ctx, unsigned kind, uint64_t ts, const uint64_t *args)
{
	struct sched_emit_ctx *e = ctx;
	announce_task(e->c, e->r, e->d, ts);
	batch_put(e->c, e->r, e->d, kind, ts, args, NULL, 0);
}

void decode_sched_upto(struct capture *c, const struct ring *r, struct ring_drain *d, uint64_t upto)
{
	struct sched_emit_ctx e = {c, r, d};
	cprof_sched_take(r->tid, upto < c->end_ticks ? upto : c->end_ticks, sched_emit, &e);
}

/* Appends an own event of the ring's thread; the kernel's records up to
 * its timestamp go first (a new thread's first switch-in precedes its
 * THREAD_START: it follows it instead). */
static void batch_add(struct capture *c, const struct ring *r, struct ring_drain *d, unsigned kind, uint64_t ts,
		      const uint64_t *args, const void *bytes, size_t nbytes)
{
	if (unlikely(ts >= c->sched_next) && kind != CPROF_EV_THREAD_START) {
		struct sched_emit_ctx e = {c, r, d};
		c->sched_next = cprof_sched_take(r->tid, ts, sched_emit, &e);
	}
	batch_put(c, r, d, kind, ts, args, bytes, nbytes);
}

/* batch_add for decode_span's loop: the encoding inline while the open
 * batch has room, else batch_add's way. */
static inline void batch_add_fast(struct capture *c, const struct ring *r, struct ring_drain *d,
				  const struct cprof_event_info *info, unsigned kind, uint64_t ts,
				  const uint64_t *args, const void *bytes, size_t nbytes)
{
	struct trace_batch *b = &d->batch;
	if (unlikely(ts >= c->sched_next) || unlikely(!b->nevents) || unlikely(!trace_batch_room(b))) {
		batch_add(c, r, d, kind, ts, args, bytes, nbytes);
		return;
	}
	trace_batch_put(b, info, kind, ts, args, bytes, nbytes);
	c->events_seen++;
	if (unlikely(trace_batch_bytes(b) >= BATCH_FLUSH_BYTES) && c->header_written)
		decode_flush(c, r, d);
}

/* Whether a record's header agrees with the event table and its block. */
static int record_valid(const struct cprof_event_info *info, uint64_t h, uint64_t pos, uint64_t bend, uint64_t to)
{
	uint32_t words = ring_words(h), nbytes = ring_nbytes(h);
	return info && words >= 2 && pos + words * 8u <= bend && pos + words * 8u <= to &&
	       (info->bytes || !nbytes) && nbytes <= CPROF_EVENT_MAX_BYTES &&
	       words == 2u + info->nargs - info->head32 + (nbytes + 7u) / 8u;
}

/* How far ahead of the record being decoded the ring is prefetched, bytes
 * (event_cost, drainer thread CPU, 7 interleaved runs: decode_span 105 ms
 * with none or 512, 86 ms with 2048: within the noise of a loaded machine). */
#ifndef DECODE_PREFETCH_BYTES
#define DECODE_PREFETCH_BYTES 2048
#endif

/*
 * Encodes the run of two-word region records (REGION_BEGIN or _END, the
 * name's id in the header) at pos, up to lim (bytes, <= the block's end),
 * into b, which is open (holds an event). Stops before the first record
 * that is not one, is older than min_ts or newer than c->end_ticks, is due after the kernel's
 * records (>= c->sched_next), or finds b without room; and after the
 * record that brings b to BATCH_FLUSH_BYTES once the header is written
 * (the caller flushes then): the same batches, event for event, as
 * trace_batch_put one record at a time. Returns the position after the
 * run (pos when it is empty).
 *
 * The batch's cursors live in locals meanwhile: its byte stores would
 * otherwise make the compiler reload them (uint8_t aliases everything)
 * for every record. The ring lines ahead (up to lim) are prefetched: the
 * writer's core wrote them, and each record's first load otherwise waits
 * for the line. It reads the ring as decode_span does, so it is exempt
 * from TSan as decode_span is (GCC does not inline a sanitized function
 * into an unsanitized one: without the attribute it was instrumented).
 */
__attribute__((no_sanitize("thread"))) static inline uint64_t region_run(struct capture *c, struct trace_batch *b, const uint8_t *mem, uint64_t mask,
				  uint64_t pos, uint64_t lim, uint64_t min_ts)
{
	if (b->raw.cap < TRACE_BATCH_EVENT_MAX || b->ts.cap < CPROF_VARINT_MAX)
		return pos; /* no room at all (the limits below would wrap) */
	uint8_t *const raw0 = b->raw.p, *const ts0 = b->ts.p;
	uint8_t *raw = raw0 + b->raw.len, *ts = ts0 + b->ts.len;
	/* trace_batch_room's three bounds, as limits on the cursors and on the bytes used */
	const uint8_t *const raw_lim = raw0 + b->raw.cap - TRACE_BATCH_EVENT_MAX;
	const uint8_t *const ts_lim = ts0 + b->ts.cap - CPROF_VARINT_MAX;
	size_t used_lim = CPROF_BATCH_MAX_RAW - TRACE_BATCH_EVENT_MAX - CPROF_VARINT_MAX; /* used <= this */
	if (c->header_written && used_lim > BATCH_FLUSH_BYTES - 1)
		used_lim = BATCH_FLUSH_BYTES - 1; /* used < BATCH_FLUSH_BYTES: no flush is due */
	const uint64_t sched_next = c->sched_next, end_ticks = c->end_ticks;
	uint64_t last = b->last_ticks;
	uint32_t n = 0;
	while (pos + 16 <= lim) {
		/* Never past lim (<= head): a line the writer has yet to write,
		 * pulled here, would cost it an invalidation when it does. */
		if (pos + DECODE_PREFETCH_BYTES < lim)
			__builtin_prefetch(mem + ((pos + DECODE_PREFETCH_BYTES) & mask));
		const uint64_t *p = (const uint64_t *)(mem + (pos & mask));
		uint64_t h = p[0], t = p[1];
		unsigned kind = ring_kind(h);
		if ((kind != CPROF_EV_REGION_BEGIN && kind != CPROF_EV_REGION_END) || (h & 0xffffff00u) != 2u << 8 ||
		    t < min_ts || t >= sched_next || t > end_ticks || raw > raw_lim || ts > ts_lim ||
		    (size_t)(raw - raw0) + (size_t)(ts - ts0) > used_lim)
			break;
		*raw++ = (uint8_t)kind;
		raw += varint_put(raw, ring_arg0(h));
		/* Signed delta: a thread that migrates may read a TSC a few ticks behind. */
		ts += varint_put(ts, zigzag_encode((int64_t)(t - last)));
		last = t;
		n++;
		pos += 16;
	}
	b->raw.len = (size_t)(raw - raw0);
	b->ts.len = (size_t)(ts - ts0);
	b->last_ticks = last;
	b->nevents += n;
	c->events_seen += n;
	return pos;
}

/*
 * Decodes the ring records in [from, to) of r, read from mem (the ring
 * itself, or a copy laid out the same way), into d's batch. Records older
 * than min_ts are skipped; when only_gen is nonzero, blocks written by any
 * other generation are skipped. A record that fails validation (possible
 * only in a torn flight copy) skips the rest of its block.
 */
__attribute__((no_sanitize("thread"))) void decode_span(struct capture *c, struct ring *r, struct ring_drain *d,
							 const uint8_t *mem, uint64_t from, uint64_t to,
							 uint64_t min_ts, uint32_t only_gen)
{
	uint64_t mask = r->size - 1, bmask = r->block - 1;
	uint64_t pos = from;
	uint64_t begin_kept_end = UINT64_MAX; /* where the END of a kept BLOCK_BEGIN starts */
	while (pos < to) {
		uint64_t bend = (pos | bmask) + 1;
		const uint64_t *p = (const uint64_t *)(mem + (pos & mask));
		uint64_t h = p[0];
		unsigned kind = ring_kind(h);
		/* The commonest records, region begin and end (two words, the
		 * name in the header): runs of them straight into an open batch. */
		if ((kind == CPROF_EV_REGION_BEGIN || kind == CPROF_EV_REGION_END) && d->seen && d->batch.nevents) {
			uint64_t lim = to < bend ? to : bend;
			uint64_t next = region_run(c, &d->batch, mem, mask, pos, lim, min_ts);
			if (next != pos) {
				pos = next;
				if (unlikely(trace_batch_bytes(&d->batch) >= BATCH_FLUSH_BYTES) && c->header_written)
					decode_flush(c, r, d);
				continue;
			}
		}
		if (kind == CPROF_EV_PAD) {
			pos = bend;
			continue;
		}
		const struct cprof_event_info *info = cprof_event_info(kind);
		if (!record_valid(info, h, pos, bend, to)) {
			c->corrupt++;
			pos = bend;
			continue;
		}
		uint32_t nbytes = ring_nbytes(h);
		uint64_t ts = p[1], at = pos;
		pos += ring_words(h) * 8u;
		if (kind == CPROF_EV_BLOCK_START) {
			uint32_t gen = ring_arg0(h);
			if (only_gen && gen != only_gen) {
				pos = bend;
				continue;
			}
			if (gen != d->batch_gen)
				decode_adopt(c, r, d, gen, p[2]);
			continue;
		}
		if (ts < min_ts) {
			/* A block is recorded when it ends, stamped with its start; one
			 * that began before the window and ends inside it is, within the
			 * window, blocked since the window opened. Its END is the next
			 * record. Wake-ups are stamped before their call returned. */
			const uint64_t *next = (const uint64_t *)(mem + (pos & mask));
			int ends_inside = kind == CPROF_EV_BLOCK_BEGIN && pos + 16 <= bend && pos + 16 <= to &&
					  ring_kind(next[0]) == CPROF_EV_BLOCK_END && next[1] >= min_ts;
			if (!ends_inside && kind != CPROF_EV_WAKEUP)
				continue;
			ts = min_ts;
		}
		if (unlikely(ts > c->end_ticks)) {
			/* After a timed capture's end: left out, but for the end of
			 * a block whose begin was kept (one record pair, stamped at
			 * both ends when the call returned): blocked until the end. */
			if (kind != CPROF_EV_BLOCK_END || at != begin_kept_end)
				continue;
			ts = c->end_ticks;
		}
		if (kind == CPROF_EV_BLOCK_BEGIN)
			begin_kept_end = pos;
		announce_task(c, r, d, ts);
		uint64_t args[CPROF_EVENT_MAX_ARGS] = {0};
		uint32_t a = 0;
		if (info->head32)
			args[a++] = ring_arg0(h);
		for (uint32_t i = 2; a < info->nargs; i++)
			args[a++] = p[i];
		const void *bytes = info->bytes ? (const void *)&p[2 + info->nargs - info->head32] : NULL;
		switch (kind) {
		case CPROF_EV_LOST:
			tables_lost_add(c, r->tid, args[0], args[1], ts);
			d->drop_reported += args[0];
			break;
		case CPROF_EV_THREAD_START: { /* the ring holds the routine's address */
			struct cprof_frame f = {0};
			if (args[1])
				cprof_symbolize((uintptr_t)args[1], 1, &f);
			args[1] = f.function;
			break;
		}
		}
		int stack = cprof_event_stack_arg(kind); /* the event table says where */
		if (stack >= 0)
			tables_stack_need(c, args[stack]);
		batch_add_fast(c, r, d, info, kind, ts, args, bytes, nbytes);
	}
}

/* A call the ring's owner is still waiting in when the capture ends: it
 * has no record yet (a block is recorded when it returns), so it is
 * written now as a block from its start (or the capture's) to `now`, with
 * no stack. A thread asleep through the whole capture then shows where it
 * sleeps, for all of it. */
void decode_call_in_progress(struct capture *c, struct ring *r, struct ring_drain *d, uint64_t now)
{
	struct cprof_site *site = atomic_load_explicit(&r->call_site, memory_order_acquire);
	if (!site)
		return;
	uint64_t t0 = atomic_load_explicit(&r->call_t0, memory_order_relaxed);
	uint64_t object = atomic_load_explicit(&r->call_object, memory_order_relaxed);
	unsigned category = atomic_load_explicit(&r->call_category, memory_order_relaxed);
	/* Acquire: the fields read above belong to this site's call, unless
	 * the owner left it (and maybe entered another) meanwhile. */
	if (atomic_load_explicit(&r->call_site, memory_order_acquire) != site || now < t0 ||
	    now - t0 < cprof_block_threshold())
		return;
	if (category == CPROF_BLOCK_BY_FD)
		category = cprof_fd_category((int)object);
	uint32_t gen = atomic_load_explicit(&r->generation, memory_order_relaxed);
	if (gen != d->batch_gen)
		decode_adopt(c, r, d, gen, atomic_load_explicit(&r->task, memory_order_relaxed));
	uint64_t begin = t0 > c->start_ticks ? t0 : c->start_ticks;
	uint64_t args[4] = {category, object, cprof_site_id(site), 0};
	announce_task(c, r, d, begin);
	batch_add(c, r, d, CPROF_EV_BLOCK_BEGIN, begin, args, NULL, 0);
	batch_add(c, r, d, CPROF_EV_BLOCK_END, now, NULL, NULL, 0);
}

void decode_exit_at_end(struct capture *c, struct ring *r, struct ring_drain *d, uint64_t now)
{
	uint32_t gen = atomic_load_explicit(&r->generation, memory_order_relaxed);
	if (gen != d->batch_gen)
		decode_adopt(c, r, d, gen, atomic_load_explicit(&r->task, memory_order_relaxed));
	batch_add(c, r, d, CPROF_EV_THREAD_EXIT, now, NULL, NULL, 0);
}

/* A flight snapshot's ring that wrapped: d's thread is covered only from
 * ts (ticks) on; said in the thread's stream (FLIGHT_FROM). */
void decode_flight_from(struct capture *c, const struct ring *r, struct ring_drain *d, uint64_t ts)
{
	if (d->batch_gen)
		batch_add(c, r, d, CPROF_EV_FLIGHT_FROM, ts, NULL, NULL, 0);
}
