/*
 * Captures: turning rings into a trace stream, and who owns one.
 *
 * A drain capture (CPROF_TRACE_FILE, cprof_trace_start_file, the HTTP
 * endpoint's ?seconds=N) switches the rings to DRAIN mode and runs a
 * drainer (drain.c) that decodes each ring's new records (decode.c) into
 * per-thread batches and writes them with the stream's tables (tables.c)
 * through the format writer. A flight snapshot (flight.c) copies what the
 * rings hold in FLIGHT mode instead.
 *
 * One capture at a time: capture_lock guards starting and ending. The
 * capture in progress is named by its handle, which only its owner holds:
 * ending it with any other handle does nothing.
 */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture/session.h"

static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER;
static struct capture cap = {.fd = -1};
static cprof_capture_handle last_handle; /* under capture_lock; handles are never reused */
_Atomic int capture_process_exiting; /* the pid that is exiting, once: drain_finish records its threads' exits */

uint64_t capture_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Invariants of a ring's drain state (checked in debug builds). */
int capture_drain_sanity(const struct capture *c, const struct ring *r, const struct ring_drain *d)
{
	if (r->index >= c->ndrains || d != &c->drains[r->index])
		return 0;
	if (d->batch.nevents && !d->batch_gen)
		return 0; /* events belong to an owner generation */
	if (d->batch_gen && d->drop_gen != d->batch_gen)
		return 0; /* drops are counted for the owner being decoded */
	return 1;
}

struct ring_drain *capture_drain_of(struct capture *c, const struct ring *r)
{
	if (r->index < c->ndrains)
		return &c->drains[r->index];
	uint32_t n = c->ndrains ? c->ndrains : 16;
	while (n <= r->index)
		n *= 2;
	struct ring_drain *p = realloc(c->drains, n * sizeof *p);
	if (!p)
		return NULL;
	memset(p + c->ndrains, 0, (n - c->ndrains) * sizeof *p);
	c->drains = p;
	c->ndrains = n;
	return &c->drains[r->index];
}

static void drains_free(struct capture *c)
{
	for (uint32_t i = 0; i < c->ndrains; i++)
		trace_batch_free(&c->drains[i].batch);
	free(c->drains);
	c->drains = NULL;
	c->ndrains = 0;
}

void capture_reset(struct capture *c, cprof_sink_fn sink, void *ctx)
{
	trace_writer_init(&c->w, sink, ctx);
	memset(c->stack_sent, 0, sizeof c->stack_sent);
	c->npending = 0;
	c->header_written = 0;
	c->part = 0;
	atomic_store_explicit(&c->skip_if_empty, 0, memory_order_relaxed);
	c->events_seen = 0;
	c->strings_sent = 1;
	c->corrupt = 0;
	c->nlost = 0;
	c->finished = 0;
	c->last_flush_ns = capture_mono_ns();
	c->sched_next = UINT64_MAX;
	c->end_ticks = UINT64_MAX;
	atomic_store(&c->stop, 0);
	drains_free(c);
	for (struct ring *r = cprof_rings_first(); r; r = r->next) {
		struct ring_drain *d = capture_drain_of(c, r);
		if (!d)
			continue;
		/* Drops before this capture are not its drops. */
		d->drop_gen = atomic_load_explicit(&r->generation, memory_order_relaxed);
		d->drop_base = atomic_load_explicit(&r->dropped, memory_order_relaxed);
	}
}

static void capture_release(struct capture *c)
{
	trace_writer_destroy(&c->w);
	drains_free(c);
	tables_free(c);
	c->active = 0;
	c->handle = 0;
}

static int begin_locked(const struct capture_spec *spec, cprof_capture_handle *out)
{
	struct capture *c = &cap;
	if (c->active)
		return -EBUSY;
	capture_reset(c, spec->sink, spec->ctx);
	if (spec->part_stream) {
		trace_writer_set_part(&c->w, spec->part_pid, spec->part_stream);
		c->part = 1;
	}
	c->start_ticks = cprof_clock_now();
	uint64_t start_ns = capture_mono_ns(); /* the same instant: a timed capture ends duration_ns after it */
	/* Old flight data is not part of this capture: start every ring at
	 * its head, then switch writers to DRAIN (tail first, so no writer
	 * checks a stale tail). */
	for (struct ring *r = cprof_rings_first(); r; r = r->next)
		atomic_store_explicit(&r->tail, atomic_load_explicit(&r->head, memory_order_acquire),
				      memory_order_release);
	atomic_store(&cprof_ring_mode, RING_MODE_DRAIN);
	cprof_sched_capture_begin(c->start_ticks); /* before the header states the source */
	cprof_cpu_capture_begin(spec->background); /* a background capture's drainer ticks */
	if (!spec->background)
		drain_write_header(c);
	c->active = 1;
	c->has_drainer = 0;
	c->on_done = spec->on_done;
	c->done_ctx = spec->done_ctx;
	c->deadline_ns = spec->duration_ns ? start_ns + spec->duration_ns : 0;
	c->duration_ns = spec->duration_ns;
	if (spec->background) {
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old); /* the drainer takes no signals */
		int rc = -pthread_create(&c->drainer, NULL, drain_thread_main, c);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc) {
			cprof_sched_capture_end();
			cprof_cpu_capture_end();
			atomic_store(&cprof_ring_mode, RING_MODE_FLIGHT);
			capture_release(c);
			return rc;
		}
		c->has_drainer = 1;
	}
	c->fd = spec->fd;
	c->handle = ++last_handle;
	*out = c->handle;
	return 0;
}

static int end_locked(cprof_capture_handle h, int skip_if_empty)
{
	struct capture *c = &cap;
	if (!c->active || !h || c->handle != h)
		return -ENOENT;
	atomic_store_explicit(&c->skip_if_empty, skip_if_empty && c->part, memory_order_relaxed);
	if (c->has_drainer) {
		atomic_store_explicit(&c->stop, 1, memory_order_release);
		drain_wake(c);
		pthread_join(c->drainer, NULL);
		c->has_drainer = 0;
	}
	if (!c->finished)
		drain_finish(c);
	int rc = c->w.error;
	if (c->fd >= 0) {
		if (close(c->fd) && !rc)
			rc = -errno;
		c->fd = -1;
	}
	capture_release(c);
	return rc;
}

/* The entry points: whoever calls them (the program's thread, the drainer,
 * an HTTP thread), their own calls (locks, /proc reads, writes) are the
 * tracer's, not the program's: busy keeps the wrappers out. */
int cprof_capture_begin(const struct capture_spec *spec, cprof_capture_handle *out)
{
	cprof_me()->busy++;
	pthread_mutex_lock(&capture_lock);
	int rc = begin_locked(spec, out);
	pthread_mutex_unlock(&capture_lock);
	cprof_me()->busy--;
	return rc;
}

int cprof_capture_pump(cprof_capture_handle h)
{
	cprof_me()->busy++;
	/* Only the owner pumps, and it does not end the capture meanwhile, so
	 * no lock: the drain state is the owner's while it runs. */
	int rc = cap.active && h && cap.handle == h && !cap.has_drainer ? drain_pass(&cap) : -ENOENT;
	cprof_me()->busy--;
	return rc;
}

int cprof_capture_end(cprof_capture_handle h)
{
	cprof_me()->busy++;
	pthread_mutex_lock(&capture_lock);
	int rc = end_locked(h, 0);
	pthread_mutex_unlock(&capture_lock);
	cprof_me()->busy--;
	return rc;
}

int cprof_capture_end_unless_empty(cprof_capture_handle h)
{
	cprof_me()->busy++;
	pthread_mutex_lock(&capture_lock);
	int rc = end_locked(h, 1);
	pthread_mutex_unlock(&capture_lock);
	cprof_me()->busy--;
	return rc;
}

int cprof_capture_flight(cprof_sink_fn sink, void *ctx, uint64_t last_ns)
{
	cprof_me()->busy++;
	pthread_mutex_lock(&capture_lock);
	int rc = -EBUSY;
	if (!cap.active) {
		/* The snapshot uses the capture's state while no drain capture runs. */
		rc = flight_snapshot(&cap, sink, ctx, last_ns);
		if (!rc)
			rc = cap.w.error;
		capture_release(&cap);
	}
	pthread_mutex_unlock(&capture_lock);
	cprof_me()->busy--;
	return rc;
}

uint64_t cprof_capture_corrupt(void)
{
	return cap.corrupt;
}

void cprof_capture_process_exiting(void)
{
	/* the pid, not a flag: a vfork child's _exit writes the parent's memory */
	atomic_store_explicit(&capture_process_exiting, (int)getpid(), memory_order_relaxed);
}

void cprof_capture_before_fork(void)
{
	pthread_mutex_lock(&capture_lock);
	drain_before_fork();
}

void cprof_capture_after_fork_parent(void)
{
	drain_after_fork_parent();
	pthread_mutex_unlock(&capture_lock);
}

void cprof_capture_after_fork_child(void)
{
	/* The drainer does not exist here and the file is the parent's. The
	 * parent's buffers are left to the child's exit: freeing them could
	 * touch allocator state another parent thread held at fork. */
	if (cap.fd >= 0)
		close(cap.fd);
	cap = (struct capture){.fd = -1};
	pthread_mutex_init(&capture_lock, NULL);
	drain_after_fork_child();
	file_after_fork_child();
}
