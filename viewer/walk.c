/*
 * The walk (see walk.h): pass 1 indexes wake-up edges, pass 2 replays each
 * thread's state machine and feeds the consumers.
 *
 * Invariants the tracer guarantees and this code relies on: a thread's
 * events are in time order across batches; BLOCK_BEGIN and its BLOCK_END
 * are adjacent in the thread's stream; a thread that already works for a
 * task when a capture starts gets a TASK_SET before its first event.
 * Task ids are unique in a process. Nothing else is trusted: unmatched
 * ends, unknown ids and absurd values are counted or ignored, never fatal.
 */
#include "walk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

const char *const walk_class_names[WC_COUNT] = {"sync", "net", "syscall", "sched"};

int64_t walk_time_exec(const struct walk_time *t)
{
	int64_t e = t->total;
	for (int i = 0; i < WC_COUNT; i++)
		e = walk_add(e, -t->wait[i]); /* waits are >= 0 */
	return e > 0 ? e : 0;
}

void walk_time_add(struct walk_time *into, const struct walk_time *t)
{
	into->total = walk_add(into->total, t->total);
	for (int i = 0; i < WC_COUNT; i++)
		into->wait[i] = walk_add(into->wait[i], t->wait[i]);
}

int walk_class_of_category(uint64_t category)
{
	return category == CPROF_BLOCK_SYNC ? WC_SYNC : category == CPROF_BLOCK_NET ? WC_NET : WC_SYSCALL;
}

int64_t walk_ns(const struct walk *w, uint64_t ticks)
{
	double ns = trace_ticks_to_ns(&w->r, ticks);
	if (!(ns < (double)WALK_NS_LIMIT)) /* NaN too */
		return ns < 0 ? -WALK_NS_LIMIT : WALK_NS_LIMIT;
	if (ns < -(double)WALK_NS_LIMIT)
		return -WALK_NS_LIMIT;
	return llround(ns);
}

const char *walk_string(const struct walk *w, uint32_t id)
{
	const char *s = id ? trace_reader_string(&w->r, id) : NULL;
	return s ? s : "?";
}

const char *walk_task_name(const struct walk *w, uint32_t task_name)
{
	return !task_name ? "" : task_name == WALK_TASK_UNKNOWN ? "(begun before the capture)" : walk_string(w, task_name);
}

const char *walk_thread_group(const struct walk *w, const struct walk_thread *t)
{
	if (t->routine)
		return walk_string(w, t->routine);
	if (t->tid == w->r.header.pid)
		return "main";
	const char *n = walk_thread_name(w, t->tid);
	return *n ? n : "(unknown start routine)";
}

const char *walk_thread_name(const struct walk *w, uint32_t tid)
{
	const char *s = trace_reader_thread_name(&w->r, tid);
	return s ? s : "";
}

/* ---- wake-up index (pass 1) ---- */

struct wake_list {
	int64_t *ts; /* ns, sorted after pass 1 */
	uint32_t n, cap;
};

struct walk_wakes {
	struct u64map map; /* target tid -> index + 1 */
	struct wake_list *lists;
	uint32_t n, cap;
};

static int wakes_add(struct walk_wakes *k, uint32_t target, int64_t ts)
{
	uint32_t i = u64map_get(&k->map, target);
	if (!i) {
		if (k->n == k->cap) {
			uint32_t cap = k->cap ? k->cap * 2 : 16;
			void *p = realloc(k->lists, cap * sizeof *k->lists);
			if (!p)
				return -1;
			k->lists = p;
			k->cap = cap;
		}
		k->lists[k->n] = (struct wake_list){0};
		if (u64map_put(&k->map, target, ++k->n))
			return -1;
		i = k->n;
	}
	struct wake_list *l = &k->lists[i - 1];
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 64;
		void *p = realloc(l->ts, cap * sizeof *l->ts);
		if (!p)
			return -1;
		l->ts = p;
		l->cap = cap;
	}
	l->ts[l->n++] = ts;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The first wake-up of target in [begin, end], or -1. */
static int64_t wakes_first(const struct walk_wakes *k, uint32_t target, int64_t begin, int64_t end)
{
	uint32_t i = u64map_get(&k->map, target);
	if (!i)
		return -1;
	const struct wake_list *l = &k->lists[i - 1];
	uint32_t lo = 0, hi = l->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (l->ts[mid] < begin)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < l->n && l->ts[lo] <= end ? l->ts[lo] : -1;
}

static void wakes_free(struct walk_wakes *k)
{
	if (!k)
		return;
	for (uint32_t i = 0; i < k->n; i++)
		free(k->lists[i].ts);
	free(k->lists);
	u64map_free(&k->map);
	free(k);
}

/* ---- live tasks ---- */

struct live_task {
	struct walk_task t;
	int has_begin, has_end;
	int finished;            /* both seen; emitted once the walk is past emit_at */
	uint32_t emit_at;        /* the last batch (count) that refers to the task */
	struct walk_region *pending; /* regions that ended before the task's begin was read */
	uint32_t *pending_tid;
	uint32_t npending, pending_cap;
	uint32_t next_free;
};

/*
 * A task is emitted once both its ends were read and the walk is past the
 * last batch that refers to it: other threads' batches read later may hold
 * regions and time for it (an idle thread's batch can span many of a busy
 * thread's). Pass 1 finds that batch for every task: the last begin, end or
 * set of the task, or switch of a thread away from it.
 */
struct walk_tasks {
	struct u64map last_ref;    /* id -> last referring batch count + 1 (pass 1) */
	struct u64map current;     /* pass 1: tid -> index + 1 into cur */
	uint64_t *cur;             /* pass 1: each thread's task */
	uint32_t ncur, cur_cap;
	uint32_t *heap;            /* finished tasks (pool indexes), a min-heap by emit_at */
	uint64_t nheap, heap_cap;
	struct u64map map; /* id -> index + 1 */
	struct live_task *pool;
	uint32_t n, cap, free_head; /* free_head: index + 1 of a free slot, 0 none */
};

/* Pass 1: a thread's task becomes `task` in batch `batch`; the task it
 * leaves is referred to there, and so is `task` when `adopted` (TASK_SET:
 * the thread works for a task another thread began). A task begun and
 * ended on one thread needs no entry: its end is its last reference. */
static int tasks_note_switch(struct walk_tasks *k, uint32_t tid, uint64_t task, int adopted, uint32_t batch)
{
	uint32_t i = u64map_get(&k->current, tid);
	if (!i) {
		if (k->ncur == k->cur_cap) {
			uint32_t cap = k->cur_cap ? k->cur_cap * 2 : 64;
			void *q = realloc(k->cur, cap * sizeof *k->cur);
			if (!q)
				return -1;
			k->cur = q;
			k->cur_cap = cap;
		}
		k->cur[k->ncur] = 0;
		if (u64map_put(&k->current, tid, ++k->ncur))
			return -1;
		i = k->ncur;
	}
	uint64_t prev = k->cur[i - 1];
	k->cur[i - 1] = task;
	if (prev && u64map_put(&k->last_ref, prev, batch + 1))
		return -1;
	if (task && adopted && u64map_put(&k->last_ref, task, batch + 1))
		return -1;
	return 0;
}

/* Pass 1: one event's references to tasks. */
static int tasks_note(struct walk_tasks *k, const struct trace_event *ev, uint32_t batch)
{
	switch (ev->kind) {
	case CPROF_EV_TASK_BEGIN:
		return tasks_note_switch(k, ev->tid, ev->args[1], 0, batch);
	case CPROF_EV_TASK_SET:
		return tasks_note_switch(k, ev->tid, ev->args[0], 1, batch);
	case CPROF_EV_TASK_END: {
		/* ending the thread's own task: the end is the reference */
		uint32_t i = u64map_get(&k->current, ev->tid);
		if (i && k->cur[i - 1] == ev->args[0])
			k->cur[i - 1] = 0;
		return 0;
	}
	default:
		return 0;
	}
}

/* After pass 1: tasks still current on a thread at the end are referred to
 * until the end (the thread's time goes to them then). */
static void tasks_note_end(struct walk_tasks *k)
{
	for (uint32_t i = 0; i < k->ncur; i++)
		if (k->cur[i])
			u64map_put(&k->last_ref, k->cur[i], UINT32_MAX);
	free(k->cur);
	k->cur = NULL;
	u64map_free(&k->current);
}

static struct live_task *task_get(struct walk_tasks *k, uint64_t id, int create)
{
	uint32_t i = u64map_get(&k->map, id);
	if (i)
		return &k->pool[i - 1];
	if (!create)
		return NULL;
	if (k->free_head) {
		i = k->free_head;
		k->free_head = k->pool[i - 1].next_free;
	} else {
		if (k->n == k->cap) {
			uint32_t cap = k->cap ? k->cap * 2 : 256;
			void *p = realloc(k->pool, cap * sizeof *k->pool);
			if (!p)
				return NULL;
			k->pool = p;
			k->cap = cap;
		}
		i = ++k->n;
	}
	if (u64map_put(&k->map, id, i))
		return NULL;
	struct live_task *lt = &k->pool[i - 1];
	*lt = (struct live_task){0};
	lt->t.id = id;
	return lt;
}

static void task_release(struct walk_tasks *k, struct live_task *lt)
{
	uint32_t i = (uint32_t)(lt - k->pool) + 1;
	u64map_del(&k->map, lt->t.id);
	free(lt->pending);
	free(lt->pending_tid);
	lt->pending = NULL;
	lt->pending_tid = NULL;
	lt->next_free = k->free_head;
	k->free_head = i;
}

static void tasks_free(struct walk_tasks *k)
{
	if (!k)
		return;
	for (uint32_t i = 0; i < k->n; i++) {
		free(k->pool[i].pending);
		free(k->pool[i].pending_tid);
	}
	free(k->heap);
	free(k->cur);
	u64map_free(&k->last_ref);
	u64map_free(&k->current);
	free(k->pool);
	u64map_free(&k->map);
	free(k);
}

/* ---- threads ---- */

static struct walk_thread *thread_get(struct walk *w, uint32_t tid)
{
	uint32_t i = u64map_get(&w->thread_map, tid);
	if (i)
		return &w->threads[i - 1];
	if (w->nthreads == w->threads_cap) {
		uint32_t cap = w->threads_cap ? w->threads_cap * 2 : 32;
		void *p = realloc(w->threads, cap * sizeof *w->threads);
		if (!p)
			return NULL;
		w->threads = p;
		w->threads_cap = cap;
	}
	if (u64map_put(&w->thread_map, tid, w->nthreads + 1))
		return NULL;
	struct walk_thread *t = &w->threads[w->nthreads++];
	*t = (struct walk_thread){.tid = tid, .first = INT64_MIN};
	return t;
}

const struct walk_thread *walk_find_thread(const struct walk *w, uint32_t tid)
{
	uint32_t i = u64map_get(&w->thread_map, tid);
	return i ? &w->threads[i - 1] : NULL;
}

/* ---- pass 2 ---- */

struct pass {
	struct walk *w;
	const struct walk_consumer *c;
	int nc;
	uint64_t batches; /* batches read when the last event was handled */
};

#define EMIT(p, hook, arg)                                                     \
	do {                                                                   \
		for (int ci_ = 0; ci_ < (p)->nc; ci_++)                        \
			if ((p)->c[ci_].hook)                                  \
				(p)->c[ci_].hook((p)->c[ci_].self, (p)->w, arg); \
	} while (0)

/* The thread stops working for its task at ns: its time goes to the task. */
static void thread_switch_task(struct pass *p, struct walk_thread *t, uint64_t task, int64_t ns)
{
	if (t->task) {
		struct live_task *lt = task_get(p->w->tasks, t->task, 0);
		if (lt) {
			lt->t.time.total = walk_add(lt->t.time.total, ns > t->task_since ? ns - t->task_since : 0);
			for (int i = 0; i < WC_COUNT; i++)
				lt->t.time.wait[i] = walk_add(lt->t.time.wait[i], t->wait[i] - t->task_wait_at[i]);
		}
	}
	t->task = task;
	t->task_since = ns;
	memcpy(t->task_wait_at, t->wait, sizeof t->wait);
}

static void emit_region(struct pass *p, struct walk_region *r, struct live_task *lt)
{
	if (lt && !lt->has_begin) { /* the task's name is not known yet */
		if (lt->npending == lt->pending_cap) {
			uint32_t cap = lt->pending_cap ? lt->pending_cap * 2 : 8;
			void *a = realloc(lt->pending, cap * sizeof *lt->pending);
			void *b = a ? realloc(lt->pending_tid, cap * sizeof *lt->pending_tid) : NULL;
			if (a)
				lt->pending = a;
			if (b)
				lt->pending_tid = b;
			if (!a || !b)
				goto now;
			lt->pending_cap = cap;
		}
		lt->pending_tid[lt->npending] = r->thread->tid;
		lt->pending[lt->npending++] = *r;
		return;
	}
now:
	r->task_name = lt ? lt->t.name : r->task ? WALK_TASK_UNKNOWN : 0;
	EMIT(p, region, r);
}

static void flush_pending(struct pass *p, struct live_task *lt)
{
	for (uint32_t i = 0; i < lt->npending; i++) {
		struct walk_region *r = &lt->pending[i];
		r->thread = thread_get(p->w, lt->pending_tid[i]);
		r->task_name = lt->has_begin ? lt->t.name : WALK_TASK_UNKNOWN;
		EMIT(p, region, r);
	}
	lt->npending = 0;
}

static void task_emit(struct pass *p, struct live_task *lt)
{
	if (lt->t.end < lt->t.begin) /* ends on two threads of a hostile file: never negative */
		lt->t.end = lt->t.begin;
	flush_pending(p, lt);
	EMIT(p, task, &lt->t);
	task_release(p->w->tasks, lt);
}

#define HEAP_KEY(k, i) ((k)->pool[(k)->heap[i]].emit_at)

static void heap_swap(uint32_t *h, uint64_t a, uint64_t b)
{
	uint32_t t = h[a];
	h[a] = h[b];
	h[b] = t;
}

/* Both ends seen: the task waits in the heap until its last batch is read. */
static void task_finish(struct pass *p, struct live_task *lt)
{
	struct walk_tasks *k = p->w->tasks;
	if (lt->finished)
		return;
	uint32_t ref = u64map_get(&k->last_ref, lt->t.id);
	lt->emit_at = ref ? ref - 1 : 0;
	if (lt->emit_at < p->batches) { /* nothing later refers to it */
		task_emit(p, lt);
		return;
	}
	if (k->nheap == k->heap_cap) {
		uint64_t cap = k->heap_cap ? k->heap_cap * 2 : 256;
		void *q = realloc(k->heap, cap * sizeof *k->heap);
		if (!q) {
			task_emit(p, lt);
			return;
		}
		k->heap = q;
		k->heap_cap = cap;
	}
	lt->finished = 1;
	uint64_t i = k->nheap++;
	k->heap[i] = (uint32_t)(lt - k->pool);
	while (i && HEAP_KEY(k, (i - 1) / 2) > HEAP_KEY(k, i)) {
		heap_swap(k->heap, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

/* Emits the finished tasks whose last batch has been read (all: every one). */
static void tasks_emit_due(struct pass *p, int all)
{
	struct walk_tasks *k = p->w->tasks;
	while (k->nheap && (all || HEAP_KEY(k, 0) < p->batches)) {
		uint32_t top = k->heap[0];
		k->heap[0] = k->heap[--k->nheap];
		for (uint64_t i = 0;;) {
			uint64_t l = 2 * i + 1, m = i;
			if (l < k->nheap && HEAP_KEY(k, l) < HEAP_KEY(k, m))
				m = l;
			if (l + 1 < k->nheap && HEAP_KEY(k, l + 1) < HEAP_KEY(k, m))
				m = l + 1;
			if (m == i)
				break;
			heap_swap(k->heap, i, m);
			i = m;
		}
		task_emit(p, &k->pool[top]);
	}
}

static void on_event(struct pass *p, const struct trace_event *ev)
{
	struct walk *w = p->w;
	if (w->r.batches != p->batches) {
		p->batches = w->r.batches;
		tasks_emit_due(p, 0);
	}
	struct walk_thread *t = thread_get(w, ev->tid);
	if (!t)
		return;
	int64_t ns = walk_ns(w, ev->ts);
	/* a thread attached lazily records its first block before its start */
	if (t->first == INT64_MIN || ns < t->first)
		t->first = ns;
	if (t->first == ns || ns > t->last)
		t->last = ns;
	if (ns < w->begin)
		w->begin = ns;
	if (ns > w->end)
		w->end = ns;
	switch (ev->kind) {
	case CPROF_EV_THREAD_START:
		t->routine = (uint32_t)ev->args[1];
		break;
	case CPROF_EV_THREAD_EXIT:
		t->exited = 1;
		break;
	case CPROF_EV_REGION_BEGIN:
		/* Nesting has no limit but memory. A frame that cannot be
		 * kept is counted (depth still pairs the ends); once one is
		 * missing the stack stops growing, so frames stay contiguous. */
		if (t->depth >= t->regions_cap) {
			uint32_t cap = t->regions_cap ? t->regions_cap * 2 : 16;
			void *q = t->depth == t->regions_cap && cap > t->regions_cap && t->depth < UINT32_MAX
					  ? realloc(t->regions, (size_t)cap * sizeof *t->regions) : NULL;
			if (!q) {
				if (t->depth < UINT32_MAX)
					t->depth++;
				w->regions_unkept++;
				break;
			}
			t->regions = q;
			t->regions_cap = cap;
		}
		struct walk_region_frame *f = &t->regions[t->depth++];
		f->name = (uint32_t)ev->args[0];
		f->task = t->task;
		f->begin = ns;
		memcpy(f->wait_at_begin, t->wait, sizeof t->wait);
		break;
	case CPROF_EV_REGION_END: {
		if (!t->depth) {
			w->regions_incomplete++; /* its begin was before the capture */
			break;
		}
		if (--t->depth >= t->regions_cap)
			break;
		const struct walk_region_frame *rf = &t->regions[t->depth];
		struct walk_region r = {.thread = t, .name = rf->name, .task = rf->task, .begin = rf->begin,
					.end = ns < rf->begin ? rf->begin : ns, .depth = t->depth}; /* time never runs back */
		r.time.total = r.end - rf->begin;
		for (int i = 0; i < WC_COUNT; i++)
			r.time.wait[i] = t->wait[i] - rf->wait_at_begin[i];
		emit_region(p, &r, rf->task ? task_get(w->tasks, rf->task, 0) : NULL);
		break;
	}
	case CPROF_EV_TASK_BEGIN: {
		struct live_task *lt = task_get(w->tasks, ev->args[1], 1);
		if (!lt)
			break;
		lt->has_begin = 1;
		lt->t.name = (uint32_t)ev->args[0];
		lt->t.parent = ev->args[2];
		lt->t.begin = ns;
		lt->t.begin_tid = t->tid;
		thread_switch_task(p, t, ev->args[1], ns);
		flush_pending(p, lt);
		if (lt->has_end)
			task_finish(p, lt);
		break;
	}
	case CPROF_EV_TASK_END: {
		if (t->task == ev->args[0])
			thread_switch_task(p, t, 0, ns);
		struct live_task *lt = task_get(w->tasks, ev->args[0], 1);
		if (!lt)
			break;
		lt->has_end = 1;
		lt->t.end = ns;
		lt->t.end_tid = t->tid;
		if (lt->has_begin)
			task_finish(p, lt);
		break;
	}
	case CPROF_EV_TASK_SET:
		if (ev->args[0])
			task_get(w->tasks, ev->args[0], 1);
		thread_switch_task(p, t, ev->args[0], ns);
		break;
	case CPROF_EV_LOG: {
		struct walk_log l = {.thread = t, .ts = ns, .category = (uint32_t)ev->args[0], .task = t->task,
				     .message = (const char *)ev->bytes, .len = ev->nbytes};
		EMIT(p, log, &l);
		break;
	}
	case CPROF_EV_BLOCK_BEGIN:
		t->in_block = 1;
		t->block_begin = ns;
		memcpy(t->block_args, ev->args, sizeof t->block_args);
		break;
	case CPROF_EV_BLOCK_END: {
		if (!t->in_block)
			break;
		t->in_block = 0;
		struct walk_block b = {.thread = t, .cls = walk_class_of_category(t->block_args[0]),
				       .object = t->block_args[1], .what = (uint32_t)t->block_args[2],
				       .stack = (uint32_t)t->block_args[3], .begin = t->block_begin, .end = ns,
				       .depth = t->depth, .task = t->task};
		if (b.end < b.begin)
			b.end = b.begin;
		int64_t woke = wakes_first(w->wakes, t->tid, b.begin, b.end);
		b.blocked = woke < 0 ? b.end - b.begin : woke - b.begin;
		b.sched = woke < 0 ? 0 : b.end - woke;
		t->wait[b.cls] = walk_add(t->wait[b.cls], b.blocked);
		t->wait[WC_SCHED] = walk_add(t->wait[WC_SCHED], b.sched);
		t->wake_since_runq = walk_add(t->wake_since_runq, b.sched);
		t->blocks++;
		EMIT(p, block, &b);
		break;
	}
	case CPROF_EV_WAKEUP: {
		struct walk_wake k = {.waker = t->tid, .target = (uint32_t)ev->args[0], .ts = ns,
				      .stack = (uint32_t)ev->args[2]};
		EMIT(p, wake, &k);
		break;
	}
	case CPROF_EV_RUNQ_DELAY: {
		/* kernel run-queue delay since the last sample; the wake-up
		 * latencies since then are part of it already */
		int64_t extra = (int64_t)(ev->args[0] > INT64_MAX ? INT64_MAX : ev->args[0]) - t->wake_since_runq;
		if (extra > 0)
			t->wait[WC_SCHED] = walk_add(t->wait[WC_SCHED], extra);
		t->wake_since_runq = 0;
		break;
	}
	case CPROF_EV_LOST:
		t->lost += ev->args[0];
		break;
	default:
		break;
	}
}

static void finish(struct pass *p)
{
	struct walk *w = p->w;
	for (uint32_t i = 0; i < w->nthreads; i++) {
		struct walk_thread *t = &w->threads[i];
		if (t->task)
			thread_switch_task(p, t, 0, t->last);
		w->regions_incomplete += t->depth;
	}
	tasks_emit_due(p, 1);
	struct walk_tasks *k = w->tasks;
	for (uint32_t i = 0; i < k->n; i++) {
		struct live_task *lt = &k->pool[i];
		if (u64map_get(&k->map, lt->t.id) != i + 1)
			continue; /* a free slot */
		flush_pending(p, lt);
		/* begun or ended outside the capture; a task only adopted
		 * (TASK_SET) by a thread during the capture is not counted */
		if (lt->has_begin != lt->has_end)
			w->tasks_incomplete++;
	}
	/* the LOST chunk is authoritative for per-thread drops */
	if (w->r.nlost) {
		for (uint32_t i = 0; i < w->nthreads; i++)
			w->threads[i].lost = 0;
		for (uint32_t i = 0; i < w->r.nlost; i++) {
			struct walk_thread *t = thread_get(w, w->r.lost[i].tid);
			if (t) {
				t->lost += w->r.lost[i].dropped;
				if (t->first == INT64_MIN)
					t->first = t->last = w->begin;
			}
		}
	}
	w->lost = 0;
	for (uint32_t i = 0; i < w->nthreads; i++)
		w->lost += w->threads[i].lost;
}

/* ---- driving the passes ---- */

static double now_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void progress_begin(struct progress *g, const char *path, const char *what)
{
	*g = (struct progress){.path = path, .what = what, .start = now_seconds()};
	struct stat st;
	if (stat(path, &st) == 0)
		g->size = (uint64_t)st.st_size;
}

void progress_tick(struct progress *g, uint64_t offset)
{
	if ((++g->calls & 0xffff) != 0)
		return;
	double now = now_seconds();
	if (now - g->start < 1.0 || (g->shown && now - g->last < 1.0))
		return;
	g->last = now;
	g->shown = 1;
	fprintf(stderr, "\rcprof-trace: %s: %s: %.0f of %.0f MB (%.0f%%)   ", g->path, g->what, (double)offset / 1e6,
		(double)g->size / 1e6, g->size ? 100.0 * (double)offset / (double)g->size : 0.0);
}

void progress_end(struct progress *g)
{
	if (g->shown)
		fprintf(stderr, "\r%*s\r", 78, "");
	g->shown = 0;
}

static int run_pass(struct walk *w, struct trace_reader *r, int pass, struct progress *g, struct pass *p)
{
	struct trace_event ev;
	int rc;
	g->what = pass == 1 ? "pass 1 of 2" : "pass 2 of 2";
	while ((rc = trace_reader_next(r, &ev)) == 1) {
		if (w->progress)
			progress_tick(g, r->offset);
		if (pass == 1) {
			if (ev.kind == CPROF_EV_WAKEUP &&
			    wakes_add(w->wakes, (uint32_t)ev.args[0], walk_ns(w, ev.ts)))
				return -2;
			if (w->need_tasks && ev.kind >= CPROF_EV_TASK_BEGIN && ev.kind <= CPROF_EV_TASK_SET &&
			    tasks_note(w->tasks, &ev, (uint32_t)r->batches))
				return -2;
		} else {
			on_event(p, &ev);
		}
	}
	return rc;
}

int walk_file(struct walk *w, const char *path, const struct walk_consumer *c, int nconsumers)
{
	int progress = w->progress;
	*w = (struct walk){.path = path, .begin = INT64_MAX, .end = INT64_MIN, .progress = progress};
	w->wakes = calloc(1, sizeof *w->wakes);
	w->tasks = calloc(1, sizeof *w->tasks);
	struct progress g;
	progress_begin(&g, path, "");
	/* task bookkeeping across batches only matters to task and region consumers */
	for (int i = 0; i < nconsumers; i++)
		w->need_tasks |= c[i].task || c[i].region;

	/* pass 1: wake-up edges */
	struct trace_reader r1;
	if (trace_reader_open_file(&r1, path)) {
		snprintf(w->error, sizeof w->error, "%s: %s", path, r1.error);
		trace_reader_close(&r1);
		w->status = -1;
		return -1;
	}
	w->r = r1; /* walk_ns needs the header during pass 1 */
	int rc = w->wakes && w->tasks ? run_pass(w, &r1, 1, &g, NULL) : -2;
	trace_reader_close(&r1);
	memset(&w->r, 0, sizeof w->r);
	if (rc == -2) {
		snprintf(w->error, sizeof w->error, "%s: out of memory", path);
		w->status = -1;
		return -1;
	}
	tasks_note_end(w->tasks);
	for (uint32_t i = 0; i < w->wakes->n; i++)
		qsort(w->wakes->lists[i].ts, w->wakes->lists[i].n, sizeof(int64_t), cmp_i64);

	/* pass 2: the state machines */
	if (trace_reader_open_file(&w->r, path)) {
		snprintf(w->error, sizeof w->error, "%s: %s", path, w->r.error);
		w->status = -1;
		return -1;
	}
	struct pass p = {.w = w, .c = c, .nc = nconsumers};
	rc = run_pass(w, &w->r, 2, &g, &p);
	progress_end(&g);
	if (w->begin > w->end)
		w->begin = w->end = 0;
	finish(&p);
	w->events = w->r.events;
	if (rc < 0) {
		snprintf(w->error, sizeof w->error, "%s: %s", path, w->r.error);
		/* a cut capture still has every complete event */
		w->status = w->r.truncated ? 1 : -1;
	}
	return w->status;
}

void walk_close(struct walk *w)
{
	for (uint32_t i = 0; i < w->nthreads; i++)
		free(w->threads[i].regions);
	free(w->threads);
	u64map_free(&w->thread_map);
	wakes_free(w->wakes);
	tasks_free(w->tasks);
	trace_reader_close(&w->r);
	w->threads = NULL;
	w->wakes = NULL;
	w->tasks = NULL;
}
