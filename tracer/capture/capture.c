/*
 * Captures: turning rings into a trace stream.
 *
 * A drain capture (CPROF_TRACE_FILE, cprof_trace_start_file, and the HTTP
 * endpoint's ?seconds=N) switches the rings to DRAIN mode and runs a
 * drainer that decodes each ring's new records every few ms, encodes them
 * into per-thread batches and writes them through the format writer. A
 * flight snapshot (?last=N) copies what the rings hold in FLIGHT mode,
 * validates the copy against concurrent overwrites, and writes the records
 * of the last N ns. Both decode ring records with decode_span().
 *
 * One capture at a time: capture_lock guards starting and stopping; the
 * drain-reader fields of every ring belong to the capture in progress.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture/capture.h"
#include "core/internal.h"
#include "stacks/stack.h"
#include "sched/sched.h"   /* sched-cpu hooks: kernel records, CPU samples */
#include "profiles/cpu.h"

#define BATCH_FLUSH_BYTES (64u << 10)
#define BATCH_FLUSH_NS 500000000u /* a batch older than this is written */

struct capture {
	int active;
	int header_written;      /* output waits for the clock's calibration */
	struct trace_writer w;
	int fd;                  /* file captures: owned fd, else -1 */
	pthread_t drainer;
	int has_drainer;
	_Atomic int stop;
	uint64_t deadline_ns;    /* CLOCK_MONOTONIC end of a timed capture, 0: none */
	int finished;            /* the drainer wrote the tail itself (timed captures) */
	void (*on_done)(void *ctx, int rc); /* timed captures: called once the end is written */
	void *done_ctx;
	uint32_t strings_sent;   /* ids below this are in the stream */
	uint64_t start_ticks;
	uint64_t last_flush_ns;  /* CLOCK_MONOTONIC of the last full flush */
	uint64_t corrupt;        /* ring records that failed validation */
	struct cprof_lost *lost; /* per tid, accumulated */
	uint32_t nlost, lost_cap;
	uint8_t stack_sent[CPROF_STACK_IDS / 8 + 1]; /* bit per stack id in the stream */
	uint32_t *stack_pending;  /* ids referenced, not yet written */
	uint32_t npending, pending_cap;
	/* sched-cpu: the ring being decoded gets its queued kernel records
	 * merged before its first own event at or after sched_next (ticks;
	 * UINT64_MAX: none, also outside drain passes). */
	uint64_t sched_next;
};

static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER;
static struct capture cap = {.fd = -1};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void lost_add(struct capture *c, uint32_t tid, uint64_t n, uint64_t first, uint64_t last)
{
	if (!n)
		return;
	struct cprof_lost *e = NULL;
	for (uint32_t i = 0; i < c->nlost; i++)
		if (c->lost[i].tid == tid)
			e = &c->lost[i];
	if (!e) {
		if (c->nlost == c->lost_cap) {
			uint32_t ncap = c->lost_cap ? c->lost_cap * 2 : 16;
			void *p = realloc(c->lost, ncap * sizeof *c->lost);
			if (!p)
				return;
			c->lost = p;
			c->lost_cap = ncap;
		}
		e = &c->lost[c->nlost++];
		*e = (struct cprof_lost){.tid = tid, .first_ticks = first};
	}
	e->dropped += n;
	if (first && (!e->first_ticks || first < e->first_ticks))
		e->first_ticks = first;
	if (last > e->last_ticks)
		e->last_ticks = last;
}

/* Writes the strings interned since the last call. */
static void send_strings(struct capture *c)
{
	uint32_t n = cprof_strings_count();
	if (n <= c->strings_sent)
		return;
	trace_writer_open(&c->w, CPROF_CHUNK_STRINGS);
	for (uint32_t id = c->strings_sent; id < n; id++) {
		uint32_t len;
		const char *s = cprof_string_get(id, &len);
		if (s)
			trace_writer_string(&c->w, id, s, len);
		if (c->w.chunk.len > BATCH_FLUSH_BYTES) {
			trace_writer_close(&c->w);
			trace_writer_open(&c->w, CPROF_CHUNK_STRINGS);
		}
	}
	trace_writer_close(&c->w);
	c->strings_sent = n;
}

/* Notes that the stream needs stack id (written before the batch using it). */
static void stack_need(struct capture *c, uint64_t id)
{
	if (id == 0 || id > CPROF_STACK_IDS || (c->stack_sent[id / 8] & (1u << (id % 8))))
		return;
	c->stack_sent[id / 8] |= (uint8_t)(1u << (id % 8));
	if (c->npending == c->pending_cap) {
		uint32_t ncap = c->pending_cap ? c->pending_cap * 2 : 256;
		void *p = realloc(c->stack_pending, ncap * sizeof *c->stack_pending);
		if (!p) {
			c->stack_sent[id / 8] &= (uint8_t)~(1u << (id % 8));
			return;
		}
		c->stack_pending = p;
		c->pending_cap = ncap;
	}
	c->stack_pending[c->npending++] = (uint32_t)id;
}

/* Symbolizes and writes the stacks noted since the last call (their
 * strings are interned here, so send_strings must follow). */
static void send_stacks(struct capture *c)
{
	if (!c->npending)
		return;
	trace_writer_open(&c->w, CPROF_CHUNK_STACKS);
	for (uint32_t i = 0; i < c->npending; i++) {
		uint32_t depth;
		const uintptr_t *pcs = cprof_stack_get(c->stack_pending[i], &depth);
		if (!pcs)
			continue;
		struct cprof_frame frames[CPROF_STACK_DEPTH];
		for (uint32_t k = 0; k < depth; k++)
			cprof_symbolize(pcs[k], k == 0, &frames[k]);
		trace_writer_stack(&c->w, c->stack_pending[i], frames, depth);
		if (c->w.chunk.len > BATCH_FLUSH_BYTES) {
			trace_writer_close(&c->w);
			trace_writer_open(&c->w, CPROF_CHUNK_STACKS);
		}
	}
	trace_writer_close(&c->w);
	c->npending = 0;
}

/* The thread's current name: /proc (names set by any thread, any way),
 * else what the ring holds. */
static void thread_name(struct ring *r, char *name, size_t cap)
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

static void batch_start(struct capture *c, struct ring *r)
{
	trace_batch_reset(&r->batch, r->tid, r->seq, c->start_ticks, NULL);
}

static void write_header(struct capture *c);

static void flush_batch(struct capture *c, struct ring *r)
{
	if (!r->batch.nevents)
		return;
	write_header(c);
	send_stacks(c);
	send_strings(c); /* every id the batch uses was interned before it */
	/* The name as of writing: a thread often names itself after its start. */
	char name[CPROF_THREAD_NAME_MAX + 1];
	thread_name(r, name, sizeof name);
	size_t n = strlen(name);
	memcpy(r->batch.name, name, n);
	r->batch.name_len = (uint8_t)n;
	trace_writer_batch(&c->w, &r->batch);
	r->seq++;
	trace_batch_reset(&r->batch, r->batch.tid, r->seq, r->batch.last_ticks, NULL);
}

/* Moves this ring's drain state to generation gen (a new owner). */
static void adopt_generation(struct capture *c, struct ring *r, uint32_t gen, uint64_t task)
{
	flush_batch(c, r);
	r->batch_gen = gen;
	r->seen = 0;
	r->pending_task = task;
	if (gen != r->drop_gen) { /* a new owner: its `dropped` started at 0 */
		r->drop_gen = gen;
		r->drop_base = 0;
		r->drop_reported = 0;
	}
	batch_start(c, r);
}

static void batch_put(struct capture *c, struct ring *r, unsigned kind, uint64_t ts, const uint64_t *args,
		      const void *bytes, size_t nbytes);

/* sched-cpu: appends one kernel record (cprof_sched_emit_fn) to the batch
 * of the ring being decoded. */
struct sched_emit_ctx {
	struct capture *c;
	struct ring *r;
};
static void sched_emit(void *ctx, unsigned kind, uint64_t ts, const uint64_t *args)
{
	struct sched_emit_ctx *e = ctx;
	if (!e->r->seen) { /* the thread's first event in this capture */
		e->r->seen = 1;
		if (e->r->pending_task)
			batch_put(e->c, e->r, CPROF_EV_TASK_SET, ts, &e->r->pending_task, NULL, 0);
	}
	batch_put(e->c, e->r, kind, ts, args, NULL, 0);
}

static void batch_add(struct capture *c, struct ring *r, unsigned kind, uint64_t ts, const uint64_t *args,
		      const void *bytes, size_t nbytes)
{
	/* sched-cpu: kernel records up to ts go first (a new thread's first
	 * switch-in precedes its THREAD_START: it follows it instead). */
	if (unlikely(ts >= c->sched_next) && kind != CPROF_EV_THREAD_START) {
		struct sched_emit_ctx e = {c, r};
		c->sched_next = cprof_sched_take(r->tid, ts, sched_emit, &e);
	}
	batch_put(c, r, kind, ts, args, bytes, nbytes);
}

static void batch_put(struct capture *c, struct ring *r, unsigned kind, uint64_t ts, const uint64_t *args,
		      const void *bytes, size_t nbytes)
{
	if (!r->batch.nevents)
		r->batch_start_ns = mono_ns();
	int rc = trace_batch_add(&r->batch, kind, ts, args, bytes, nbytes);
	if (rc == -ENOSPC) {
		flush_batch(c, r);
		rc = trace_batch_add(&r->batch, kind, ts, args, bytes, nbytes);
	}
	/* Before the header can be written, batches grow (up to
	 * CPROF_BATCH_MAX_RAW, then -ENOSPC above writes the header anyway). */
	if (r->batch.raw.len >= BATCH_FLUSH_BYTES && c->header_written)
		flush_batch(c, r);
}

/*
 * Decodes the ring records in [from, to) of r, read from mem (the ring
 * itself, or a copy laid out the same way), into r's batch. Records older
 * than min_ts are skipped; when only_gen is nonzero, blocks written by any
 * other generation are skipped. A record that fails validation (possible
 * only in a torn flight copy) skips the rest of its block.
 */
__attribute__((no_sanitize("thread"))) static void
decode_span(struct capture *c, struct ring *r, const uint8_t *mem, uint64_t from, uint64_t to,
	    uint64_t min_ts, uint32_t only_gen)
{
	uint64_t mask = r->size - 1, bmask = r->block - 1;
	uint64_t pos = from;
	while (pos < to) {
		uint64_t bend = (pos | bmask) + 1;
		const uint64_t *p = (const uint64_t *)(mem + (pos & mask));
		uint64_t h = p[0];
		unsigned kind = ring_kind(h);
		uint32_t words = ring_words(h);
		if (kind == CPROF_EV_PAD) {
			pos = bend;
			continue;
		}
		const struct cprof_event_info *info = cprof_event_info(kind);
		uint32_t nbytes = ring_nbytes(h);
		if (!info || words < 2 || pos + words * 8u > bend || pos + words * 8u > to ||
		    (!info->bytes && nbytes) || nbytes > CPROF_EVENT_MAX_BYTES ||
		    words != 2u + info->nargs - info->head32 + (nbytes + 7u) / 8u) {
			c->corrupt++;
			pos = bend;
			continue;
		}
		uint64_t ts = p[1];
		pos += words * 8u;
		if (kind == CPROF_EV_BLOCK_START) {
			uint32_t gen = ring_arg0(h);
			if (only_gen && gen != only_gen) {
				pos = bend;
				continue;
			}
			if (gen != r->batch_gen)
				adopt_generation(c, r, gen, p[2]);
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
		if (!r->seen) {
			r->seen = 1;
			if (r->pending_task)
				batch_add(c, r, CPROF_EV_TASK_SET, ts, &r->pending_task, NULL, 0);
		}
		uint64_t args[CPROF_EVENT_MAX_ARGS] = {0};
		uint32_t a = 0;
		if (info->head32)
			args[a++] = ring_arg0(h);
		for (uint32_t i = 2; a < info->nargs; i++)
			args[a++] = p[i];
		const void *bytes = info->bytes ? (const void *)&p[2 + info->nargs - info->head32] : NULL;
		switch (kind) {
		case CPROF_EV_LOST:
			lost_add(c, r->tid, args[0], args[1], ts);
			r->drop_reported += args[0];
			break;
		case CPROF_EV_THREAD_START: { /* the ring holds the routine's address */
			struct cprof_frame f = {0};
			if (args[1])
				cprof_symbolize((uintptr_t)args[1], 1, &f);
			args[1] = f.function;
			stack_need(c, args[2]);
			break;
		}
		case CPROF_EV_BLOCK_BEGIN: stack_need(c, args[3]); break;
		case CPROF_EV_WAKEUP: stack_need(c, args[2]); break;
		case CPROF_EV_CPU_SAMPLE: stack_need(c, args[0]); break;
		}
		batch_add(c, r, kind, ts, args, bytes, nbytes);
	}
}

/* Drains every ring once. Returns the fullest ring's fill, in 1/1024ths of
 * its size, so the caller can pace itself. */
static int drain_pass(struct capture *c)
{
	int fullest = 0;
	uint64_t now = mono_ns();
	if (!c->header_written && cprof_clock_calibrated())
		write_header(c);
	uint64_t pass_ticks = cprof_clock_now(); /* sched-cpu */
	int flush_all = c->header_written && now - c->last_flush_ns >= BATCH_FLUSH_NS;
	for (struct ring *r = cprof_rings_first(); r; r = r->next) {
		/* state before head: a ring seen EXITED has its final head. */
		uint32_t st = atomic_load_explicit(&r->state, memory_order_acquire);
		if (st == RING_FREE)
			continue;
		/* sched-cpu: kernel records read at `upto`, before this head. */
		uint64_t upto = cprof_sched_collect();
		uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
		uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
		if (t < h) {
			int fill = (int)((h - t) * 1024 / r->size);
			if (fill > fullest)
				fullest = fill;
			uint32_t gen = atomic_load_explicit(&r->generation, memory_order_relaxed);
			if (gen != r->batch_gen)
				adopt_generation(c, r, gen, atomic_load_explicit(&r->task, memory_order_relaxed));
			c->sched_next = cprof_sched_next(r->tid); /* sched-cpu */
			decode_span(c, r, r->base, t, h, c->start_ticks, 0);
			c->sched_next = UINT64_MAX;
			/* Release: our reads of [t, h) are done before the writer
			 * may reuse the bytes. */
			atomic_store_explicit(&r->tail, h, memory_order_release);
		}
		/* sched-cpu: the kernel's records up to `upto` (every own event
		 * before it has been decoded above); for an exited thread, all of
		 * them. r->tid is read only once this capture decoded the owner's
		 * records (it was written before their head store), or the owner
		 * exited: a ring being claimed right now is still writing it. */
		if ((t < h || r->batch_gen || st == RING_EXITED) &&
		    cprof_sched_next(r->tid) <= (st == RING_EXITED ? UINT64_MAX - 1 : upto)) {
			uint32_t gen = atomic_load_explicit(&r->generation, memory_order_relaxed);
			if (gen != r->batch_gen)
				adopt_generation(c, r, gen, atomic_load_explicit(&r->task, memory_order_relaxed));
			struct sched_emit_ctx e = {c, r};
			cprof_sched_take(r->tid, st == RING_EXITED ? UINT64_MAX : upto, sched_emit, &e);
		}
		if (st == RING_EXITED) {
			flush_batch(c, r);
			uint64_t dropped = atomic_load_explicit(&r->dropped, memory_order_relaxed);
			if (dropped > r->drop_base + r->drop_reported)
				lost_add(c, r->tid, dropped - r->drop_base - r->drop_reported, 0, 0);
			r->drop_base = dropped;
			r->drop_reported = 0;
			r->drop_gen = 0;
			r->batch_gen = 0;
			trace_batch_free(&r->batch); /* a new owner may never trace */
			uint32_t expect = RING_EXITED;
			atomic_compare_exchange_strong(&r->state, &expect, RING_FREE);
		} else if (flush_all || (c->header_written && r->batch.nevents &&
					 now - r->batch_start_ns >= BATCH_FLUSH_NS)) {
			flush_batch(c, r);
		}
	}
	cprof_sched_pass_end(pass_ticks); /* sched-cpu */
	if (flush_all)
		c->last_flush_ns = now;
	return fullest;
}

static void write_tail(struct capture *c);

/* The end of a capture: a last pass, writers back to FLIGHT, the tail. */
static void finish(struct capture *c)
{
	drain_pass(c);
	cprof_sched_capture_end(); /* sched-cpu */
	cprof_cpu_capture_end();
	atomic_store(&cprof_ring_mode, RING_MODE_FLIGHT);
	write_tail(c);
	c->finished = 1;
	if (c->on_done)
		c->on_done(c->done_ctx, c->w.error);
}

static void *drainer_main(void *arg)
{
	struct capture *c = arg;
	cprof_me()->status = THREAD_INTERNAL;
	/* Pace: aim to find the fullest ring about 1/8 full. A ring found at
	 * fill f (of 1024) t ns after the previous pass fills at f/t, so the
	 * next pause is t*128/f, between 100 µs and drain_ms, growing at most
	 * 2x a pass; over half full, drain again at once. */
	const uint64_t max_ns = (uint64_t)cprof_config.drain_ms * 1000000u, min_ns = 100000;
	uint64_t sleep_ns = min_ns, last = mono_ns();
	while (!atomic_load_explicit(&c->stop, memory_order_acquire)) {
		if (c->deadline_ns && mono_ns() >= c->deadline_ns) {
			finish(c); /* a timed capture ends itself */
			return NULL;
		}
		int fill = drain_pass(c);
		uint64_t now = mono_ns(), elapsed = now - last;
		last = now;
		if (fill > 512)
			continue;
		uint64_t next = fill > 0 ? elapsed * 128 / (uint64_t)fill : max_ns;
		sleep_ns = next > sleep_ns * 2 ? sleep_ns * 2 : next;
		if (sleep_ns > max_ns)
			sleep_ns = max_ns;
		if (sleep_ns < min_ns)
			sleep_ns = min_ns;
		if (c->deadline_ns && mono_ns() + sleep_ns > c->deadline_ns)
			sleep_ns = c->deadline_ns > mono_ns() ? c->deadline_ns - mono_ns() : 0;
		struct timespec pause = {(time_t)(sleep_ns / 1000000000u), (long)(sleep_ns % 1000000000u)};
		nanosleep(&pause, NULL);
	}
	return NULL;
}

/* Writes the header once. Calibrating the clock may sleep (up to 20 ms
 * after load), so drain captures call this only when output is due: the
 * drainer keeps decoding rings into batches meanwhile. */
static void write_header(struct capture *c)
{
	if (c->header_written)
		return;
	c->header_written = 1;
	struct cprof_header h = {0};
	cprof_clock_header(&h);
	cprof_sched_header(&h); /* sched-cpu: source, clock anchors; CPU sampling rate */
	cprof_cpu_header(&h);
	static char cmdline[CPROF_CMDLINE_MAX];
	h.cmdline_len = cprof_read_cmdline(cmdline, sizeof cmdline);
	h.cmdline = cmdline;
	h.pid = (uint32_t)getpid();
	h.start_ticks = c->start_ticks;
	trace_writer_header(&c->w, &h);
}

static void capture_reset(struct capture *c, cprof_sink_fn sink, void *ctx)
{
	trace_writer_init(&c->w, sink, ctx);
	memset(c->stack_sent, 0, sizeof c->stack_sent);
	c->npending = 0;
	c->header_written = 0;
	c->strings_sent = 1;
	c->corrupt = 0;
	c->nlost = 0;
	c->last_flush_ns = mono_ns();
	c->sched_next = UINT64_MAX; /* sched-cpu */
	atomic_store(&c->stop, 0);
	for (struct ring *r = cprof_rings_first(); r; r = r->next) {
		/* Drops before this capture are not its drops. */
		r->drop_gen = atomic_load_explicit(&r->generation, memory_order_relaxed);
		r->drop_base = atomic_load_explicit(&r->dropped, memory_order_relaxed);
		r->drop_reported = 0;
		r->batch_gen = 0;
		r->seen = 0;
		r->seq = 0;
		r->batch.nevents = 0;
		r->batch.raw.len = 0;
	}
}

static int begin_capture(cprof_sink_fn sink, void *ctx, int background, uint64_t duration_ns,
			 void (*on_done)(void *, int), void *done_ctx)
{
	pthread_mutex_lock(&capture_lock);
	int rc = 0;
	if (cap.active) {
		rc = -EBUSY;
		goto out;
	}
	struct capture *c = &cap;
	capture_reset(c, sink, ctx);
	c->finished = 0;
	c->start_ticks = cprof_clock_now();
	/* Old flight data is not part of this capture: start every ring at
	 * its head, then switch writers to DRAIN (tail first, so no writer
	 * checks a stale tail). */
	for (struct ring *r = cprof_rings_first(); r; r = r->next)
		atomic_store_explicit(&r->tail, atomic_load_explicit(&r->head, memory_order_acquire),
				      memory_order_release);
	atomic_store(&cprof_ring_mode, RING_MODE_DRAIN);
	cprof_sched_capture_begin(c->start_ticks); /* sched-cpu: before the header states the source */
	cprof_cpu_capture_begin();
	if (!background)
		write_header(c);
	c->active = 1;
	c->has_drainer = 0;
	c->on_done = on_done;
	c->done_ctx = done_ctx;
	c->deadline_ns = duration_ns ? mono_ns() + duration_ns : 0;
	if (background) {
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old); /* the drainer takes no signals */
		rc = -pthread_create(&c->drainer, NULL, drainer_main, c);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc) {
			cprof_sched_capture_end(); /* sched-cpu */
			cprof_cpu_capture_end();
			atomic_store(&cprof_ring_mode, RING_MODE_FLIGHT);
			c->active = 0;
			trace_writer_destroy(&c->w);
			goto out;
		}
		c->has_drainer = 1;
	}
out:
	pthread_mutex_unlock(&capture_lock);
	return rc;
}

static int pump_capture(void)
{
	return drain_pass(&cap);
}

/* Flushes every batch (then frees it: captures are rare, rings many), and
 * writes strings, lost counts and the end marker. */
static void write_tail(struct capture *c)
{
	for (struct ring *r = cprof_rings_first(); r; r = r->next) {
		flush_batch(c, r);
		trace_batch_free(&r->batch);
		if (r->batch_gen) {
			uint64_t dropped = atomic_load_explicit(&r->dropped, memory_order_relaxed);
			if (dropped > r->drop_base + r->drop_reported)
				lost_add(c, r->tid, dropped - r->drop_base - r->drop_reported, 0, 0);
		}
	}
	write_header(c);
	send_strings(c);
	if (c->nlost) {
		trace_writer_open(&c->w, CPROF_CHUNK_LOST);
		for (uint32_t i = 0; i < c->nlost; i++)
			trace_writer_lost(&c->w, &c->lost[i]);
		trace_writer_close(&c->w);
	}
	cprof_sched_write_tail(&c->w); /* sched-cpu: kernel records lost */
	trace_writer_end(&c->w);
}

static int end_capture(void)
{
	pthread_mutex_lock(&capture_lock);
	struct capture *c = &cap;
	if (!c->active) {
		pthread_mutex_unlock(&capture_lock);
		return -ENOENT;
	}
	if (c->has_drainer) {
		atomic_store_explicit(&c->stop, 1, memory_order_release);
		pthread_join(c->drainer, NULL);
		c->has_drainer = 0;
	}
	if (!c->finished)
		finish(c);
	int rc = c->w.error;
	trace_writer_destroy(&c->w);
	if (c->fd >= 0) {
		if (close(c->fd) && !rc)
			rc = -errno;
		c->fd = -1;
	}
	c->active = 0;
	pthread_mutex_unlock(&capture_lock);
	return rc;
}

/* Copies a ring's memory while its writer may be overwriting it; the copy
 * is validated afterwards (see internal.h), so the race is intended. */
__attribute__((no_sanitize("thread"))) static void copy_racy(uint8_t *dst, const uint8_t *src, size_t n)
{
	const volatile uint64_t *s = (const volatile uint64_t *)src;
	uint64_t *d = (uint64_t *)dst;
	for (size_t i = 0; i < n / 8; i++)
		d[i] = s[i];
}

static int flight_capture(cprof_sink_fn sink, void *ctx, uint64_t last_ns)
{
	pthread_mutex_lock(&capture_lock);
	int rc = 0;
	struct capture *c = &cap;
	if (c->active) {
		rc = -EBUSY;
		goto out;
	}
	capture_reset(c, sink, ctx);
	uint64_t now = cprof_clock_now();
	uint64_t span = (uint64_t)((double)last_ns * (double)cprof_clock_ticks_per_sec() / 1e9);
	uint64_t min_ts = now > span ? now - span : 0;
	c->start_ticks = min_ts;
	write_header(c);
	uint8_t *copy = NULL;
	size_t copy_size = 0;
	for (struct ring *r = cprof_rings_first(); r && !c->w.error; r = r->next) {
		if (atomic_load_explicit(&r->state, memory_order_acquire) == RING_FREE)
			continue;
		uint32_t gen = atomic_load_explicit(&r->generation, memory_order_acquire);
		uint64_t h1 = atomic_load_explicit(&r->head, memory_order_acquire);
		if (!h1)
			continue;
		if (copy_size < r->size) {
			free(copy);
			copy = malloc(r->size);
			copy_size = copy ? r->size : 0;
			if (!copy) {
				rc = -ENOMEM;
				break;
			}
		}
		copy_racy(copy, r->base, r->size);
		atomic_thread_fence(memory_order_acquire);
		uint64_t h2 = atomic_load_explicit(&r->head, memory_order_relaxed);
		if (atomic_load_explicit(&r->generation, memory_order_relaxed) != gen)
			continue; /* the ring changed owner during the copy */
		uint64_t nblocks = r->size / r->block;
		uint64_t lo = h1 / r->block + 1 > nblocks ? h1 / r->block + 1 - nblocks : 0;
		uint64_t torn = h2 / r->block + 2 > nblocks ? h2 / r->block + 2 - nblocks : 0;
		if (torn > lo)
			lo = torn;
		if (lo * r->block >= h1)
			continue;
		r->batch_gen = 0;
		decode_span(c, r, copy, lo * r->block, h1, min_ts, gen);
		flush_batch(c, r);
		r->batch_gen = 0;
	}
	free(copy);
	write_tail(c);
	if (!rc)
		rc = c->w.error;
	trace_writer_destroy(&c->w);
out:
	pthread_mutex_unlock(&capture_lock);
	return rc;
}

uint64_t cprof_capture_corrupt(void)
{
	return cap.corrupt;
}

static int start_file(const char *path);

CPROF_API int cprof_trace_start_file(const char *path)
{
	cprof_me()->busy++; /* the tracer's own open, create, lock: not the program's */
	int rc = start_file(path);
	cprof_me()->busy--;
	return rc;
}

static int start_file(const char *path)
{
	char buf[4096];
	size_t o = 0;
	for (const char *s = path; *s && o + 16 < sizeof buf; s++) {
		if (s[0] == '%' && s[1] == 'p') {
			o += (size_t)snprintf(buf + o, sizeof buf - o, "%d", (int)getpid());
			s++;
		} else {
			buf[o++] = *s;
		}
	}
	buf[o] = 0;
	/* 0600: a trace holds whatever the program logged. */
	int fd = open(buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&capture_lock);
	int busy = cap.active;
	pthread_mutex_unlock(&capture_lock);
	if (busy) {
		close(fd);
		return -EBUSY;
	}
	static int fd_slot;
	fd_slot = fd;
	int rc = cprof_capture_begin(trace_sink_fd, &fd_slot, 1);
	if (rc) {
		close(fd);
		return rc;
	}
	pthread_mutex_lock(&capture_lock);
	cap.fd = fd;
	pthread_mutex_unlock(&capture_lock);
	return 0;
}

CPROF_API int cprof_trace_stop(void)
{
	return cprof_capture_end();
}

void cprof_capture_before_fork(void)
{
	pthread_mutex_lock(&capture_lock);
}

void cprof_capture_after_fork_parent(void)
{
	pthread_mutex_unlock(&capture_lock);
}

void cprof_capture_after_fork_child(void)
{
	/* The drainer does not exist here and the file is the parent's. */
	if (cap.fd >= 0)
		close(cap.fd);
	cap = (struct capture){.fd = -1};
	pthread_mutex_init(&capture_lock, NULL);
}

/* The entry points: whoever calls them (the program's thread, the drainer,
 * an HTTP thread), their own calls (locks, /proc reads, writes) are the
 * tracer's, not the program's: busy keeps the wrappers out. */
int cprof_capture_begin(cprof_sink_fn sink, void *ctx, int background)
{
	cprof_me()->busy++;
	int rc = begin_capture(sink, ctx, background, 0, NULL, NULL);
	cprof_me()->busy--;
	return rc;
}

int cprof_capture_begin_timed(cprof_sink_fn sink, void *ctx, uint64_t duration_ns, void (*on_done)(void *, int),
			      void *done_ctx)
{
	cprof_me()->busy++;
	int rc = begin_capture(sink, ctx, 1, duration_ns, on_done, done_ctx);
	cprof_me()->busy--;
	return rc;
}

int cprof_capture_pump(void)
{
	cprof_me()->busy++;
	int rc = pump_capture();
	cprof_me()->busy--;
	return rc;
}

int cprof_capture_end(void)
{
	cprof_me()->busy++;
	int rc = end_capture();
	cprof_me()->busy--;
	return rc;
}

int cprof_capture_flight(cprof_sink_fn sink, void *ctx, uint64_t last_ns)
{
	cprof_me()->busy++;
	int rc = flight_capture(sink, ctx, last_ns);
	cprof_me()->busy--;
	return rc;
}
