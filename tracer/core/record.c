/*
 * The public record functions behind the TRACE_* macros.
 *
 * Hot path: a region event is a TLS load, a reentry check, a reservation
 * inside the current block, two stores and a release store of head. No
 * locks, syscalls or allocation except on a thread's first event, on a
 * site's first use (interning its name) and at block crossings.
 *
 * Re-entry: `busy` is set around every record. A signal handler that records
 * while the interrupted code is inside a record finds it set and drops its
 * event (counted), so records are never interleaved.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"

/* Each kind's head32 and nargs as constants, from the one event table: the
 * specialised records below check their layouts against it at compile time. */
enum {
#define X_LAYOUT(e, name, val, head32, nargs, bytes, strs, stacks, argn) \
	REC_HEAD32_##e = head32, REC_NARGS_##e = nargs, REC_BYTES_##e = bytes,
	CPROF_EVENTS(X_LAYOUT)
#undef X_LAYOUT
};
#define CPROF_EVENT_HEAD32(e) REC_HEAD32_##e
#define CPROF_EVENT_NARGS(e) REC_NARGS_##e

static inline struct cprof_thread *record_enter(void)
{
	struct cprof_thread *self = cprof_me();
	if (unlikely(self->busy)) {
		/* A handler interrupting a record (or the slow path's own drop
		 * count): an atomic add, so neither loses the other's count. */
		if (self->ring)
			atomic_fetch_add_explicit(&self->ring->dropped, 1, memory_order_relaxed);
		return NULL;
	}
	self->busy = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* busy is set before the record's stores */
	return self;
}

static inline void record_leave(struct cprof_thread *self)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	self->busy = 0;
}

/* Records a two-word event: header with arg0, then the timestamp. */
static inline void record2(unsigned kind, uint32_t arg0, struct cprof_thread *self)
{
	uint64_t *p = ring_reserve(self, 2);
	if (likely(p != NULL)) {
		p[0] = ring_header(kind, 2, 0, arg0);
		p[1] = cprof_clock_now();
		ring_commit(self, 2);
	}
}

CPROF_API void cprof_region_begin(struct cprof_site *site)
{
	struct cprof_thread *self = record_enter();
	if (unlikely(!self))
		return;
	record2(CPROF_EV_REGION_BEGIN, cprof_site_id(site), self);
	record_leave(self);
}

CPROF_API void cprof_region_end(struct cprof_site *site)
{
	struct cprof_thread *self = record_enter();
	if (unlikely(!self))
		return;
	record2(CPROF_EV_REGION_END, site ? cprof_site_id(site) : 0, self);
	record_leave(self);
}

void cprof_record(unsigned kind, const uint64_t *args, const void *bytes, uint32_t nbytes)
{
	cprof_record_at(0, kind, args, bytes, nbytes);
}

void cprof_record_at(uint64_t ts, unsigned kind, const uint64_t *args, const void *bytes, uint32_t nbytes)
{
	const struct cprof_event_info *info = cprof_event_info(kind);
	struct cprof_thread *self = record_enter();
	if (!self)
		return;
	if (!info->bytes)
		nbytes = 0;
	if (nbytes > CPROF_EVENT_MAX_BYTES)
		nbytes = CPROF_EVENT_MAX_BYTES;
	uint32_t nwords = info->nargs - info->head32;
	uint32_t words = 2 + nwords + (nbytes + 7) / 8;
	uint64_t *p = ring_reserve(self, words);
	if (p) {
		p[0] = ring_header(kind, words, nbytes, info->head32 ? (uint32_t)args[0] : 0);
		p[1] = ts ? ts : cprof_clock_now();
		for (uint32_t i = 0; i < nwords; i++)
			p[2 + i] = args[info->head32 + i];
		if (nbytes) {
			p[words - 1] = 0; /* zero the pad bytes of the last word */
			memcpy(&p[2 + nwords], bytes, nbytes);
		}
		ring_commit(self, words);
	}
	record_leave(self);
}

/* BLOCK_BEGIN at t0 and its BLOCK_END at t1 as one reservation: both are
 * written or both dropped (counted as two), and no other record of this
 * thread (a signal handler's) falls between them, which the viewer relies
 * on to pair them. */
void cprof_record_block(uint64_t t0, const uint64_t args[4], uint64_t t1)
{
	const struct cprof_event_info *b = cprof_event_info(CPROF_EV_BLOCK_BEGIN);
	const uint32_t bwords = 2 + b->nargs - b->head32, words = bwords + 2; /* END: header, ts */
	struct cprof_thread *self = record_enter();
	if (!self)
		return;
	uint64_t pending = self->lost_pending;
	uint64_t *p = ring_reserve(self, words);
	if (p) {
		p[0] = ring_header(CPROF_EV_BLOCK_BEGIN, bwords, 0, (uint32_t)args[0]);
		p[1] = t0;
		for (uint32_t i = 0; i + b->head32 < b->nargs; i++)
			p[2 + i] = args[b->head32 + i];
		p[bwords] = ring_header(CPROF_EV_BLOCK_END, 2, 0, 0);
		p[bwords + 1] = t1;
		ring_commit(self, words);
	} else if (self->lost_pending != pending && self->ring) {
		/* the ring was full: the slow path counted one event, the pair is two */
		self->lost_pending++;
		atomic_fetch_add_explicit(&self->ring->dropped, 1, memory_order_relaxed);
	}
	record_leave(self);
}

/* The next task id no thread has taken. Threads take ids in blocks
 * (task_id_take) so that a task's begin does not write a line every
 * thread shares: one contended fetch_add per task made task begins cost
 * ~40 ns with two threads, and invalidated the read-mostly flags that
 * used to share its line. Its own line, so refills disturb nothing else.
 * Ids stay unique within the process (0 is never handed out) and, with
 * one thread, consecutive; across threads they are in block order. */
static struct {
	_Alignas(64) _Atomic uint64_t v; /* the struct's size is its alignment: a line of its own */
} next_task = {1};

#define TASK_BLOCK_FIRST 4u   /* ids a thread takes first: a thread that makes one task wastes few */
#define TASK_BLOCK_MAX 1024u  /* at most, so ids (varints in the file) grow little faster than tasks */

/* A new task id for self. Lock-free; relaxed: ids need only be unique,
 * they order nothing. Requires self->busy set: a signal handler's task
 * begin then takes its id from the shared counter, never from a block
 * being refilled. */
static inline uint64_t task_id_take(struct cprof_thread *self)
{
	if (likely(self->task_next < self->task_end))
		return self->task_next++;
	uint32_t n = self->task_block ? self->task_block * 2 : TASK_BLOCK_FIRST;
	if (n > TASK_BLOCK_MAX)
		n = TASK_BLOCK_MAX;
	self->task_block = n;
	uint64_t id = atomic_fetch_add_explicit(&next_task.v, n, memory_order_relaxed);
	self->task_next = id + 1;
	self->task_end = id + n;
	return id;
}

static void set_task(struct cprof_thread *self, uint64_t task)
{
	self->task = task;
	if (self->ring)
		atomic_store_explicit(&self->ring->task, task, memory_order_relaxed);
}

CPROF_API uint64_t cprof_task_begin(struct cprof_site *site)
{
	struct cprof_thread *self = cprof_me();
	if (self->busy) /* inside a record (signal handler): no event; the block may be mid-refill */
		return atomic_fetch_add_explicit(&next_task.v, 1, memory_order_relaxed);
	self->busy = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* busy is set before the block is touched */
	uint64_t id = task_id_take(self);
	uint32_t name = cprof_site_id(site);
	/* cprof_record_at's record, specialised: header (name), ts, task, parent */
	_Static_assert(CPROF_EVENT_HEAD32(TASK_BEGIN) && CPROF_EVENT_NARGS(TASK_BEGIN) == 3, "TASK_BEGIN's layout");
	uint64_t *p = ring_reserve(self, 4);
	if (likely(p != NULL)) {
		p[0] = ring_header(CPROF_EV_TASK_BEGIN, 4, 0, name);
		p[1] = cprof_clock_now();
		p[2] = id;
		p[3] = self->task;
		ring_commit(self, 4);
	}
	set_task(self, id);
	record_leave(self);
	return id;
}

CPROF_API void cprof_task_end(uint64_t task)
{
	struct cprof_thread *self = record_enter();
	if (unlikely(!self)) { /* a handler inside a record: the event dropped (counted) */
		self = cprof_me();
		if (self->task == task)
			set_task(self, 0);
		return;
	}
	_Static_assert(!CPROF_EVENT_HEAD32(TASK_END) && CPROF_EVENT_NARGS(TASK_END) == 1, "TASK_END's layout");
	uint64_t *p = ring_reserve(self, 3);
	if (likely(p != NULL)) {
		p[0] = ring_header(CPROF_EV_TASK_END, 3, 0, 0);
		p[1] = cprof_clock_now();
		p[2] = task;
		ring_commit(self, 3);
	}
	if (self->task == task)
		set_task(self, 0);
	record_leave(self);
}

CPROF_API void cprof_task_set(uint64_t task)
{
	struct cprof_thread *self = cprof_me();
	if (self->task == task)
		return;
	set_task(self, task);
	cprof_record(CPROF_EV_TASK_SET, &task, NULL, 0);
}

CPROF_API uint64_t cprof_task_current(void)
{
	return cprof_me()->task;
}

CPROF_API void cprof_log(struct cprof_site *category, const char *fmt, ...)
{
	struct cprof_thread *self = cprof_me();
	if (self->busy)
		return;
	char msg[CPROF_LOG_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof msg)
		n = sizeof msg - 1;
	self->busy = 1;
	uint64_t cat = cprof_site_id(category);
	self->busy = 0;
	cprof_record(CPROF_EV_LOG, &cat, msg, (uint32_t)n);
}

CPROF_API uint64_t cprof_trace_dropped(void)
{
	return cprof_rings_dropped();
}
