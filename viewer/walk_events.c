/*
 * The walk's pass 2: each thread's state machine, one handler per event
 * kind, handing finished intervals to the consumers.
 *
 * Invariants the tracer guarantees and this code relies on: a thread's
 * events are in time order across batches; BLOCK_BEGIN and its BLOCK_END
 * are adjacent in the thread's stream; a thread that already works for a
 * task when a capture starts gets a TASK_SET before its first event.
 * Task ids are unique in a process. Nothing else is trusted: unmatched
 * ends, unknown ids and absurd values are counted or ignored, never fatal.
 * Names and stacks are read at the positions the event table gives
 * (cprof_event_string_arg, cprof_event_stack_arg).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "walk_internal.h"

/* The event's string (name, call, routine) and stack ids; 0 when the kind
 * has none. */
static uint32_t ev_string(const struct trace_event *ev)
{
	int i = cprof_event_string_arg(ev->kind);
	return i < 0 ? 0 : (uint32_t)ev->args[i];
}

static uint32_t ev_stack(const struct trace_event *ev)
{
	int i = cprof_event_stack_arg(ev->kind);
	return i < 0 ? 0 : (uint32_t)ev->args[i];
}

struct walk_thread *walk_thread_get(struct walk *w, uint32_t tid)
{
	uint32_t i = u64map_get(&w->thread_map, tid);
	if (i)
		return &w->threads[i - 1];
	if (GROW(w->threads, w->nthreads, w->threads_cap, 32))
		return NULL;
	if (u64map_put(&w->thread_map, tid, w->nthreads + 1))
		return NULL;
	struct walk_thread *t = &w->threads[w->nthreads++];
	*t = (struct walk_thread){.tid = tid, .first = INT64_MIN};
	return t;
}

int walk_thread_sanity(const struct walk_thread *t)
{
	if (t->first == INT64_MIN)
		return t->depth == 0 && !t->in_block;
	if (t->first > t->last || (t->in_block != 0 && t->in_block != 1) || t->wake_since_runq < 0)
		return 0;
	for (int i = 0; i < WC_COUNT; i++)
		if (t->wait[i] < 0)
			return 0;
	uint32_t kept = t->depth < t->regions_cap ? t->depth : t->regions_cap;
	if (kept && (t->regions[0].begin < t->first || t->regions[kept - 1].begin > t->last ||
		     (kept > 1 && t->regions[kept - 2].begin > t->regions[kept - 1].begin)))
		return 0;
	return !t->task || t->task_since <= t->last;
}

/* The thread stops working for its task at ns: its time goes to the task. */
static void switch_task(struct walk *w, struct walk_thread *t, uint64_t task, int64_t ns)
{
	if (t->task) {
		struct walk_time spent = {.total = ns > t->task_since ? ns - t->task_since : 0};
		for (int i = 0; i < WC_COUNT; i++)
			spent.wait[i] = t->wait[i] - t->task_wait_at[i];
		if (w->need_tasks) /* else no consumer takes tasks (walk.h) */
			tasks_add_time(w->tasks, t->task, &spent);
	}
	t->task = task;
	t->task_since = ns;
	memcpy(t->task_wait_at, t->wait, sizeof t->wait);
}

static void region_begin(struct walk *w, struct walk_thread *t, const struct trace_event *ev, int64_t ns)
{
	/* Nesting has no limit but memory. A frame that cannot be kept is
	 * counted and reported (depth still pairs the ends); once one is
	 * missing the stack stops growing, so kept frames stay contiguous. */
	if (t->depth > t->regions_cap || (t->depth == t->regions_cap && GROW(t->regions, t->depth, t->regions_cap, 16))) {
		if (t->depth < UINT32_MAX)
			t->depth++;
		w->regions_unkept++;
		return;
	}
	struct walk_region_frame *f = &t->regions[t->depth++];
	f->name = ev_string(ev);
	f->task = t->task;
	/* a region nested in another begins no earlier (time running back
	 * in a hostile file would break the nesting the consumers rely on) */
	f->begin = t->depth > 1 && ns < f[-1].begin ? f[-1].begin : ns;
	memcpy(f->wait_at_begin, t->wait, sizeof t->wait);
}

static void region_end(struct walk_pass *p, struct walk_thread *t, int64_t ns)
{
	if (!t->depth) {
		p->w->regions_incomplete++; /* its begin was before the capture */
		return;
	}
	if (--t->depth >= t->regions_cap)
		return;
	const struct walk_region_frame *rf = &t->regions[t->depth];
	struct walk_region r = {.thread = t, .name = rf->name, .task = rf->task, .begin = rf->begin,
				.end = ns < rf->begin ? rf->begin : ns, .depth = t->depth}; /* time never runs back */
	r.time.total = r.end - rf->begin;
	for (int i = 0; i < WC_COUNT; i++)
		r.time.wait[i] = t->wait[i] - rf->wait_at_begin[i];
	if (p->w->need_tasks) /* else no consumer takes regions */
		tasks_emit_region(p, &r);
}

static void block_end(struct walk_pass *p, struct walk_thread *t, int64_t ns)
{
	if (!t->in_block)
		return;
	t->in_block = 0;
	struct walk_block b = {.thread = t, .cls = walk_class_of_category(t->block_category),
			       .object = t->block_object, .what = t->block_what, .stack = t->block_stack,
			       .begin = t->block_begin, .end = ns, .depth = t->depth, .task = t->task};
	if (b.end < b.begin)
		b.end = b.begin;
	b.woke = wakes_first(p->w, t->tid, b.begin, b.end, &b.waker);
	b.blocked = b.woke < 0 ? b.end - b.begin : b.woke - b.begin;
	b.sched = b.woke < 0 ? 0 : b.end - b.woke;
	if (t->ks.mode == WS_INTERPOSED) {
		t->wait[b.cls] = walk_add(t->wait[b.cls], b.blocked);
		t->wait[WC_SCHED] = walk_add(t->wait[WC_SCHED], b.sched);
		t->wake_since_runq = walk_add(t->wake_since_runq, b.sched);
	} else {
		states_block_end(p->w, t, b.cls, b.begin, b.end);
	}
	t->blocks++;
	WALK_EMIT(p, block, &b);
}

/* Kernel run-queue delay since the last sample; the wake-up latencies since
 * then are part of it already. */
static void runq_delay(struct walk_thread *t, uint64_t delay_ns)
{
	if (t->ks.mode != WS_INTERPOSED)
		return; /* the kernel's records say it exactly */
	int64_t extra = (int64_t)(delay_ns > INT64_MAX ? INT64_MAX : delay_ns) - t->wake_since_runq;
	if (extra > 0)
		t->wait[WC_SCHED] = walk_add(t->wait[WC_SCHED], extra);
	t->wake_since_runq = 0;
}

int64_t walk_wake_floor(const struct walk *w, uint32_t tid)
{
	const struct walk_thread *t = walk_find_thread(w, tid);
	if (!t || t->first == INT64_MIN)
		return INT64_MIN; /* its window may open at the capture's start */
	int64_t f = t->last;
	if (t->in_block && t->block_begin < f)
		f = t->block_begin;
	int64_t s = states_wake_floor(t);
	return s < f ? s : f;
}

/* The thread's and the walk's time span grow to ns. */
static void see_time(struct walk *w, struct walk_thread *t, int64_t ns)
{
	/* a thread attached lazily records its first block before its start */
	int fresh = t->first == INT64_MIN;
	if (fresh || ns < t->first)
		t->first = ns;
	/* not "first == ns": a block stamped before the first event would
	 * move last back too; and never back: open regions and tasks began
	 * by then */
	if (fresh || ns > t->last)
		t->last = ns;
	if (ns < w->begin)
		w->begin = ns;
	if (ns > w->end)
		w->end = ns;
}

void walk_on_event(struct walk_pass *p, const struct trace_event *ev)
{
	struct walk *w = p->w;
	if (w->r.batches != p->batches) {
		p->batches = w->r.batches;
		if (w->need_tasks)
			tasks_emit_due(p, 0);
	}
	/* a batch is one thread's: mostly the thread of the last event */
	struct walk_thread *t;
	if (p->last_index && w->threads[p->last_index - 1].tid == ev->tid) {
		t = &w->threads[p->last_index - 1];
	} else {
		t = walk_thread_get(w, ev->tid);
		if (!t)
			return;
		p->last_index = (uint32_t)(t - w->threads) + 1;
	}
	int64_t ns = walk_ns(w, ev->ts);
	int fresh = t->first == INT64_MIN;
	see_time(w, t, ns);
	if (fresh) /* born in the capture: created by a thread we know (the
		    * main thread's THREAD_START names no creator) */
		states_thread_begin(w, t, ev->kind == CPROF_EV_THREAD_START && ev->args[0] != 0, ns);
	/* kernel states first: sleeps that ended before an own event are
	 * charged before a region or task snapshots the thread's time */
	states_on_event(w, t, ev, ns);
	switch (ev->kind) {
	case CPROF_EV_THREAD_START:
		t->routine = ev_string(ev);
		break;
	case CPROF_EV_THREAD_EXIT:
		t->exited = 1;
		break;
	case CPROF_EV_REGION_BEGIN:
		region_begin(p->w, t, ev, ns);
		break;
	case CPROF_EV_REGION_END:
		region_end(p, t, ns);
		break;
	case CPROF_EV_TASK_BEGIN:
		switch_task(w, t, ev->args[1], ns);
		if (w->need_tasks)
			tasks_begin(p, ev->args[1], ev_string(ev), ev->args[2], t->tid, ns);
		break;
	case CPROF_EV_TASK_END:
		if (t->task == ev->args[0])
			switch_task(w, t, 0, ns);
		if (w->need_tasks)
			tasks_end(p, ev->args[0], t->tid, ns);
		break;
	case CPROF_EV_TASK_SET:
		if (w->need_tasks)
			tasks_adopt(w->tasks, ev->args[0]);
		switch_task(w, t, ev->args[0], ns);
		break;
	case CPROF_EV_LOG: {
		struct walk_log l = {.thread = t, .ts = ns, .category = ev_string(ev), .task = t->task,
				     .message = (const char *)ev->bytes, .len = ev->nbytes};
		WALK_EMIT(p, log, &l);
		break;
	}
	case CPROF_EV_BLOCK_BEGIN:
		t->in_block = 1;
		t->block_begin = ns;
		t->block_category = ev->args[0];
		t->block_object = ev->args[1];
		t->block_what = ev_string(ev); /* the call */
		t->block_stack = ev_stack(ev);
		break;
	case CPROF_EV_BLOCK_END:
		block_end(p, t, ns);
		break;
	case CPROF_EV_WAKEUP: {
		struct walk_wake k = {.waker = t->tid, .target = (uint32_t)ev->args[0], .ts = ns, .stack = ev_stack(ev)};
		WALK_EMIT(p, wake, &k);
		break;
	}
	case CPROF_EV_RUNQ_DELAY:
		runq_delay(t, ev->args[0]);
		break;
	case CPROF_EV_FLIGHT_FROM:
		t->flight_from = ns > 0 ? ns : 1;
		break;
	case CPROF_EV_CPU_SAMPLE: {
		struct walk_sample s = {.thread = t, .ts = ns, .stack = ev_stack(ev)};
		WALK_EMIT(p, sample, &s);
		break;
	}
	case CPROF_EV_LOST: {
		t->lost += ev->args[0];
		struct walk_lost l = {.thread = t, .ts = ns, .count = ev->args[0]};
		WALK_EMIT(p, lost, &l);
		break;
	}
	default:
		break;
	}
	assert(walk_thread_sanity(t));
}

void walk_on_end(struct walk_pass *p)
{
	struct walk *w = p->w;
	for (uint32_t i = 0; i < w->nthreads; i++) {
		struct walk_thread *t = &w->threads[i];
		if (t->task)
			switch_task(w, t, 0, t->last);
		w->regions_incomplete += t->depth;
	}
	if (w->need_tasks)
		w->tasks_incomplete += tasks_end_of_walk(p);
	/* the LOST chunk is authoritative for per-thread drops */
	if (w->r.nlost) {
		for (uint32_t i = 0; i < w->nthreads; i++)
			w->threads[i].lost = 0;
		for (uint32_t i = 0; i < w->r.nlost; i++) {
			if (walk_only_pid && trace_reader_thread_pid(&w->r, w->r.lost[i].tid) != walk_only_pid)
				continue; /* -pid=: another process of the tree */
			struct walk_thread *t = walk_thread_get(w, w->r.lost[i].tid);
			if (t) {
				t->lost += w->r.lost[i].dropped;
				if (t->first == INT64_MIN)
					t->first = t->last = w->begin;
			}
		}
	}
	/* Each thread's window: with kernel records, from the capture's start
	 * (or its birth) to the capture's end (or its death), its states
	 * closed there; without, its first to its last event. */
	for (uint32_t i = 0; i < w->nthreads; i++) {
		struct walk_thread *t = &w->threads[i];
		if (t->ks.mode == WS_INTERPOSED || t->first == INT64_MIN) {
			t->win_begin = t->first == INT64_MIN ? w->begin : t->first;
			t->win_end = t->first == INT64_MIN ? w->begin : t->last;
			continue;
		}
		t->win_begin = t->ks.win_begin < t->first ? t->ks.win_begin : t->first;
		t->win_end = t->exited || w->end < t->last ? t->last : w->end;
		states_finish(w, t);
	}
	w->lost = 0;
	for (uint32_t i = 0; i < w->nthreads; i++) {
		w->lost += w->threads[i].lost;
		assert(walk_thread_sanity(&w->threads[i]));
	}
}
