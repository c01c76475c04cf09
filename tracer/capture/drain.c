/*
 * Drain passes and the drainer thread: every few ms, each ring's new
 * records are decoded into its batch (decode.c) and the tail is handed back
 * to the writer; batches are written when full or old. The drainer paces
 * itself by the fullest ring's fill rate.
 */
#include <assert.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "capture/session.h"

/* Adds the drops of d's owner not yet reported in-band to the lost table. */
static void report_unseen_drops(struct capture *c, const struct ring *r, struct ring_drain *d)
{
	uint64_t dropped = atomic_load_explicit(&r->dropped, memory_order_relaxed);
	if (dropped > d->drop_base + d->drop_reported)
		tables_lost_add(c, r->tid, dropped - d->drop_base - d->drop_reported, 0, 0);
}

/* An exited owner's ring: its last batch and drops are written, and the
 * ring is handed back for a new thread. */
static void retire_ring(struct capture *c, struct ring *r, struct ring_drain *d)
{
	decode_flush(c, r, d);
	report_unseen_drops(c, r, d);
	d->drop_base = atomic_load_explicit(&r->dropped, memory_order_relaxed);
	d->drop_reported = 0;
	d->drop_gen = 0;
	d->batch_gen = 0;
	trace_batch_free(&d->batch); /* a new owner may never trace */
	uint32_t expect = RING_EXITED;
	atomic_compare_exchange_strong(&r->state, &expect, RING_FREE);
}

/* Held through every drain pass (and a capture's last one) and by a
 * forking thread from before to after the fork: no pass is mid-malloc in
 * the child. Order: capture_lock, then pass_lock (the drainer never takes
 * capture_lock). */
static pthread_mutex_t pass_lock = PTHREAD_MUTEX_INITIALIZER;

void drain_before_fork(void)
{
	pthread_mutex_lock(&pass_lock);
}

void drain_after_fork_parent(void)
{
	pthread_mutex_unlock(&pass_lock);
}

void drain_after_fork_child(void)
{
	pthread_mutex_init(&pass_lock, NULL);
}

static int drain_pass_locked(struct capture *c);

/* Drains every ring once. Returns the fullest ring's fill, in 1/1024ths of
 * its size, so the caller can pace itself. */
int drain_pass(struct capture *c)
{
	pthread_mutex_lock(&pass_lock);
	int fill = drain_pass_locked(c);
	pthread_mutex_unlock(&pass_lock);
	return fill;
}

static int drain_pass_locked(struct capture *c)
{
	int fullest = 0;
	uint64_t now = capture_mono_ns();
	/* A part's PROCESS chunk needs no calibration, but waits for the
	 * first event (an image that execs at once may write nothing). */
	if (!c->header_written && (c->part ? c->events_seen > 0 : cprof_clock_calibrated()))
		drain_write_header(c);
	uint64_t pass_ticks = cprof_clock_now();
	int flush_all = c->header_written && now - c->last_flush_ns >= BATCH_FLUSH_NS;
	for (struct ring *r = cprof_rings_first(); r; r = r->next) {
		/* state before head: a ring seen EXITED has its final head. */
		uint32_t st = atomic_load_explicit(&r->state, memory_order_acquire);
		if (st == RING_FREE)
			continue;
		struct ring_drain *d = capture_drain_of(c, r);
		if (!d)
			continue; /* out of memory: the writer drops and counts */
		assert(cprof_ring_sanity(r));
		/* Re-armed every pass: a writer crossing half full wakes us once. */
		if (!atomic_load_explicit(&r->wake_armed, memory_order_relaxed))
			atomic_store_explicit(&r->wake_armed, 1, memory_order_relaxed);
		if (st == RING_LIVE)
			cprof_ring_populate_ahead(r);
		/* The kernel's records as read at `upto`, before this head. */
		uint64_t upto = cprof_sched_collect();
		uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
		uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
		if (t < h) {
			int fill = (int)((h - t) * 1024 / r->size);
			if (fill > fullest)
				fullest = fill;
			uint32_t gen = atomic_load_explicit(&r->generation, memory_order_relaxed);
			if (gen != d->batch_gen)
				decode_adopt(c, r, d, gen, atomic_load_explicit(&r->task, memory_order_relaxed));
			c->sched_next = cprof_sched_next(r->tid);
			decode_span(c, r, d, r->base, t, h, c->start_ticks, 0);
			c->sched_next = UINT64_MAX;
			/* Release: our reads of [t, h) are done before the writer
			 * may reuse the bytes. */
			atomic_store_explicit(&r->tail, h, memory_order_release);
		}
		/* The kernel's records up to `upto` (every own event before it is
		 * decoded above); for an exited thread, all of them. r->tid is read
		 * only once this capture decoded the owner's records (it was written
		 * before their head store), or the owner exited: a ring being
		 * claimed right now is still writing it. */
		if ((t < h || d->batch_gen || st == RING_EXITED) &&
		    cprof_sched_next(r->tid) <= (st == RING_EXITED ? UINT64_MAX - 1 : upto)) {
			uint32_t gen = atomic_load_explicit(&r->generation, memory_order_relaxed);
			if (gen != d->batch_gen)
				decode_adopt(c, r, d, gen, atomic_load_explicit(&r->task, memory_order_relaxed));
			decode_sched_upto(c, r, d, st == RING_EXITED ? UINT64_MAX : upto);
		}
		if (st == RING_EXITED)
			retire_ring(c, r, d);
		else if (flush_all || (c->header_written && d->batch.nevents &&
				       now >= d->batch_start_ns + BATCH_FLUSH_NS))
			/* (not now - batch_start_ns: a batch begun in this pass
			 * started after `now`, and the difference wrapped, so
			 * every such batch was written at once, a few events
			 * each) */
			decode_flush(c, r, d);
	}
	/* New stacks are symbolized and written at once, not with the batch
	 * that uses them (up to BATCH_FLUSH_NS later): symbolizing may be slow
	 * (debug info loaded on first use), and a capture's end must not wait
	 * for it (a remote tree's master waits at most 2 s for its workers). */
	if (c->header_written && c->npending) {
		tables_send_stacks(c);
		tables_send_strings(c);
	}
	cprof_sched_pass_end(pass_ticks);
	if (flush_all)
		c->last_flush_ns = now;
	return fullest;
}

/* The end of a drain capture: a last pass, the calls threads still wait
 * in, writers back to FLIGHT, the tail. */
void drain_finish(struct capture *c)
{
	pthread_mutex_lock(&pass_lock);
	drain_pass_locked(c);
	uint64_t now = cprof_clock_now();
	if (now > c->end_ticks)
		now = c->end_ticks;
	for (struct ring *r = cprof_rings_first(); r; r = r->next) {
		struct ring_drain *d;
		if (atomic_load_explicit(&r->state, memory_order_acquire) == RING_LIVE && (d = capture_drain_of(c, r))) {
			decode_call_in_progress(c, r, d, now);
			if (atomic_load_explicit(&capture_process_exiting, memory_order_relaxed) == (int)getpid())
				decode_exit_at_end(c, r, d, now);
		}
	}
	cprof_sched_capture_end();
	cprof_cpu_capture_end();
	atomic_store(&cprof_ring_mode, RING_MODE_FLIGHT);
	drain_write_tail(c);
	c->finished = 1;
	pthread_mutex_unlock(&pass_lock);
	if (c->on_done)
		c->on_done(c->done_ctx, c->w.error);
}

void *drain_thread_main(void *arg)
{
	struct capture *c = arg;
	cprof_me()->status = THREAD_INTERNAL;
	/* Pace: aim to find the fullest ring about 1/8 full. A ring found at
	 * fill f (of 1024) t ns after the previous pass fills at f/t, so the
	 * next pause is t*128/f, between 100 µs and drain_ms, growing at most
	 * 2x a pass, and ending by CPU sampling's next periodic duty (at most
	 * 100 ms: cprof_cpu_tick); over half full, drain again at once. A writer whose ring
	 * passes half full wakes the pause early (cprof_drain_kick): a burst
	 * that begins during a long pause does not fill the ring meanwhile. */
	const uint64_t max_ns = (uint64_t)cprof_config.drain_ms * 1000000u, min_ns = 100000;
	uint64_t sleep_ns = min_ns, last = capture_mono_ns();
	for (;;) {
		/* Read before stop and before the pass: a kick after this (a
		 * ring passing half full during the pass, or the capture ending)
		 * makes the pause below return at once. */
		uint32_t kick = atomic_load(&cprof_drain_kick);
		if (atomic_load(&c->stop))
			break;
		/* A timed capture holds what happened in its window only: what
		 * the rings took after its end (a pass that ran past it, a
		 * wake-up that came late) is left out. Ticks per second are
		 * known once the clock is calibrated (20 ms after load). */
		if (c->deadline_ns && c->end_ticks == UINT64_MAX && cprof_clock_calibrated())
			c->end_ticks = c->start_ticks + (uint64_t)((double)c->duration_ns *
								   (double)cprof_clock_ticks_per_sec() / 1e9);
		if (c->deadline_ns && capture_mono_ns() >= c->deadline_ns) {
			if (c->end_ticks == UINT64_MAX) /* waits out the calibration */
				c->end_ticks = c->start_ticks + (uint64_t)((double)c->duration_ns *
									   (double)cprof_clock_ticks_per_sec() / 1e9);
			drain_finish(c); /* a timed capture ends itself */
			return NULL;
		}
		int fill = drain_pass(c), kernel_fill = cprof_sched_fill();
		if (kernel_fill > fill)
			fill = kernel_fill;
		uint64_t now = capture_mono_ns(), elapsed = now - last;
		/* CPU sampling's periodic duty (no sampler thread during a drain
		 * capture): the pause below ends by its next one. */
		uint64_t duty_ns = cprof_cpu_tick(now);
		last = now;
		if (fill > 512)
			continue;
		uint64_t next = fill > 0 ? elapsed * 128 / (uint64_t)fill : max_ns;
		sleep_ns = next > sleep_ns * 2 ? sleep_ns * 2 : next;
		if (sleep_ns > max_ns)
			sleep_ns = max_ns;
		if (sleep_ns < min_ns)
			sleep_ns = min_ns;
		if (sleep_ns > duty_ns)
			sleep_ns = duty_ns;
		if (c->deadline_ns && now + sleep_ns > c->deadline_ns)
			sleep_ns = c->deadline_ns > now ? c->deadline_ns - now : 0;
		struct timespec pause = {(time_t)(sleep_ns / 1000000000u), (long)(sleep_ns % 1000000000u)};
		/* Sleeps on the kick word (a futex) so that ending the capture
		 * wakes the drainer at once (a process's exit must not wait out
		 * a pause, up to drain_ms, which a tree of short processes pays
		 * once per process), and so does a ring passing half full. */
		atomic_fetch_add(&cprof_drain_sleepers, 1);
		syscall(SYS_futex, &cprof_drain_kick, FUTEX_WAIT_PRIVATE, kick, &pause, NULL, 0);
		atomic_fetch_sub(&cprof_drain_sleepers, 1);
	}
	return NULL;
}

void drain_wake(struct capture *c)
{
	(void)c; /* after c->stop is set */
	cprof_drain_kick_now();
}

/* Writes the header once. Calibrating the clock may sleep (up to 20 ms
 * after load), so drain captures call this only when output is due: the
 * drainer keeps decoding rings into batches meanwhile. */
void drain_write_header(struct capture *c)
{
	if (c->header_written)
		return;
	c->header_written = 1;
	static char cmdline[CPROF_CMDLINE_MAX]; /* under capture_lock or the drainer */
	if (c->part) {
		struct cprof_process p = {.pid = (uint32_t)getpid(), .ppid = (uint32_t)getppid(),
					  .start_ticks = c->start_ticks};
		cprof_clock_anchor(&p.anchor_ticks, &p.anchor_monotonic_ns, &p.ticks_per_sec);
		p.cmdline_len = cprof_read_cmdline(cmdline, sizeof cmdline);
		p.cmdline = cmdline;
		trace_writer_process(&c->w, &p);
		/* the tree's header states the sources; this process's kernel
		 * records still need the clock anchors, its samples the rate */
		struct cprof_header anchors = {0};
		cprof_clock_header_now(&anchors, 50000); /* no 20 ms calibration wait at a short process's exit */
		cprof_sched_header(&anchors);
		cprof_cpu_header(&anchors);
		return;
	}
	struct cprof_header h = {0};
	cprof_clock_header(&h);
	cprof_sched_header(&h); /* source, clock anchors */
	cprof_cpu_header(&h);   /* CPU sampling rate */
	h.cmdline_len = cprof_read_cmdline(cmdline, sizeof cmdline);
	h.cmdline = cmdline;
	h.pid = (uint32_t)getpid();
	h.start_ticks = c->start_ticks;
	trace_writer_header(&c->w, &h);
}

/* Flushes every batch (then frees it: captures are rare, rings many), and
 * writes strings, lost counts and the end marker. */
void drain_write_tail(struct capture *c)
{
	if (atomic_load_explicit(&c->skip_if_empty, memory_order_relaxed) && !c->events_seen)
		return; /* an empty part: nothing of it in the file */
	for (struct ring *r = cprof_rings_first(); r; r = r->next) {
		if (r->index >= c->ndrains)
			continue; /* never seen by this capture */
		struct ring_drain *d = &c->drains[r->index];
		decode_flush(c, r, d);
		trace_batch_free(&d->batch);
		if (d->batch_gen)
			report_unseen_drops(c, r, d);
	}
	drain_write_header(c);
	tables_send_strings(c);
	if (c->nlost) {
		trace_writer_open(&c->w, CPROF_CHUNK_LOST);
		for (uint32_t i = 0; i < c->nlost; i++)
			trace_writer_lost(&c->w, &c->lost[i]);
		trace_writer_close(&c->w);
	}
	cprof_sched_write_tail(&c->w); /* kernel records lost */
	trace_writer_end(&c->w);
}
