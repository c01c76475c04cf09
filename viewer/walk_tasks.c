/*
 * The walk's live tasks: a task's time, regions and ends meet here from
 * several threads, and the task is handed to consumers once complete.
 *
 * A task is emitted once both its ends were read and the walk is past the
 * last batch that refers to it: other threads' batches read later may hold
 * regions and time for it (an idle thread's batch can span many of a busy
 * thread's). Pass 1 finds that batch for every task: the last begin, end or
 * set of the task, or switch of a thread away from it. A region whose task
 * began but whose TASK_BEGIN has not been read yet (another thread's later
 * batch) waits in the task until its name is known.
 *
 * Workload: tens of thousands of tasks live at once at most; the pool
 * recycles slots, the heap orders the finished ones by their last batch.
 */
#include <stdlib.h>

#include "grow.h"
#include "walk_internal.h"

struct live_task {
	struct walk_task t;
	int has_begin, has_end;
	int finished;            /* both seen; emitted once the walk is past emit_at */
	uint32_t emit_at;        /* the last batch (count) that refers to the task */
	struct pending_region {
		struct walk_region r;
		uint32_t tid;    /* r's thread (thread pointers may move meanwhile) */
	} *pending;              /* regions that ended before the task's begin was read */
	uint32_t npending, pending_cap;
	uint32_t next_free;      /* free list link: index + 1, 0 end */
};

struct walk_tasks {
	struct u64map last_ref;    /* id -> last referring batch count + 1 (pass 1) */
	struct u64map current;     /* pass 1: tid -> index + 1 into cur */
	uint64_t *cur;             /* pass 1: each thread's task */
	uint32_t ncur, cur_cap;
	uint32_t *heap;            /* finished tasks (pool indexes), a min-heap by emit_at */
	uint32_t nheap, heap_cap;
	struct u64map map;         /* id -> index + 1 into pool */
	struct live_task *pool;
	uint32_t n, cap, free_head; /* free_head: index + 1 of a free slot, 0 none */
};

struct walk_tasks *tasks_create(void)
{
	return calloc(1, sizeof(struct walk_tasks));
}

/* ---- pass 1 ---- */

/* A thread's task becomes `task` in batch `batch`; the task it leaves is
 * referred to there, and so is `task` when `adopted` (TASK_SET: the thread
 * works for a task another thread began). A task begun and ended on one
 * thread needs no entry: its end is its last reference. */
static int note_switch(struct walk_tasks *k, uint32_t tid, uint64_t task, int adopted, uint32_t batch)
{
	uint32_t i = u64map_get(&k->current, tid);
	if (!i) {
		if (GROW(k->cur, k->ncur, k->cur_cap, 64))
			return -1;
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

int tasks_note(struct walk_tasks *k, const struct trace_event *ev, uint32_t batch)
{
	switch (ev->kind) {
	case CPROF_EV_TASK_BEGIN:
		return note_switch(k, ev->tid, ev->args[1], 0, batch);
	case CPROF_EV_TASK_SET:
		return note_switch(k, ev->tid, ev->args[0], 1, batch);
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

/* Tasks still current on a thread at the end are referred to until the end
 * (the thread's time goes to them then). */
void tasks_note_end(struct walk_tasks *k)
{
	for (uint32_t i = 0; i < k->ncur; i++)
		if (k->cur[i])
			u64map_put(&k->last_ref, k->cur[i], UINT32_MAX);
	free(k->cur);
	k->cur = NULL;
	u64map_free(&k->current);
}

/* ---- the pool ---- */

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
		if (GROW(k->pool, k->n, k->cap, 256))
			return NULL;
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
	lt->pending = NULL;
	lt->next_free = k->free_head;
	k->free_head = i;
}

void tasks_free(struct walk_tasks *k)
{
	if (!k)
		return;
	for (uint32_t i = 0; i < k->n; i++)
		free(k->pool[i].pending);
	free(k->heap);
	free(k->cur);
	u64map_free(&k->last_ref);
	u64map_free(&k->current);
	free(k->pool);
	u64map_free(&k->map);
	free(k);
}

/* ---- pass 2: regions waiting for their task's name ---- */

void tasks_emit_region(struct walk_pass *p, struct walk_region *r)
{
	struct live_task *lt = r->task ? task_get(p->w->tasks, r->task, 0) : NULL;
	/* the task's name is not known yet: keep the region (out of memory: emit
	 * it now, as of a task begun before the capture) */
	if (lt && !lt->has_begin && !GROW(lt->pending, lt->npending, lt->pending_cap, 8)) {
		lt->pending[lt->npending++] = (struct pending_region){*r, r->thread->tid};
		return;
	}
	r->task_name = lt ? lt->t.name : r->task ? WALK_TASK_UNKNOWN : 0;
	WALK_EMIT(p, region, r);
}

static void flush_pending(struct walk_pass *p, struct live_task *lt)
{
	for (uint32_t i = 0; i < lt->npending; i++) {
		struct walk_region *r = &lt->pending[i].r;
		r->thread = walk_thread_get(p->w, lt->pending[i].tid);
		r->task_name = lt->has_begin ? lt->t.name : WALK_TASK_UNKNOWN;
		WALK_EMIT(p, region, r);
	}
	lt->npending = 0;
}

/* ---- pass 2: finished tasks, emitted in order of their last batch ---- */

static void task_emit(struct walk_pass *p, struct live_task *lt)
{
	if (lt->t.end < lt->t.begin) /* ends on two threads of a hostile file: never negative */
		lt->t.end = lt->t.begin;
	flush_pending(p, lt);
	WALK_EMIT(p, task, &lt->t);
	task_release(p->w->tasks, lt);
}

#define HEAP_KEY(k, i) ((k)->pool[(k)->heap[i]].emit_at)

static void heap_swap(uint32_t *h, uint32_t a, uint32_t b)
{
	uint32_t t = h[a];
	h[a] = h[b];
	h[b] = t;
}

/* Both ends seen: the task waits in the heap until its last batch is read. */
static void task_finish(struct walk_pass *p, struct live_task *lt)
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
	if (GROW(k->heap, k->nheap, k->heap_cap, 256)) {
		task_emit(p, lt); /* out of memory: now, maybe before all its time is in */
		return;
	}
	lt->finished = 1;
	uint32_t i = k->nheap++;
	k->heap[i] = (uint32_t)(lt - k->pool);
	while (i && HEAP_KEY(k, (i - 1) / 2) > HEAP_KEY(k, i)) {
		heap_swap(k->heap, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

void tasks_emit_due(struct walk_pass *p, int all)
{
	struct walk_tasks *k = p->w->tasks;
	while (k->nheap && (all || HEAP_KEY(k, 0) < p->batches)) {
		uint32_t top = k->heap[0];
		k->heap[0] = k->heap[--k->nheap];
		for (uint32_t i = 0;;) {
			uint32_t l = 2 * i + 1, m = i;
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

/* ---- pass 2: the task events ---- */

void tasks_add_time(struct walk_tasks *k, uint64_t id, const struct walk_time *t)
{
	struct live_task *lt = task_get(k, id, 0);
	if (lt)
		walk_time_add(&lt->t.time, t);
}

void tasks_begin(struct walk_pass *p, uint64_t id, uint32_t name, uint64_t parent, uint32_t tid, int64_t ns)
{
	struct live_task *lt = task_get(p->w->tasks, id, 1);
	if (!lt)
		return;
	lt->has_begin = 1;
	lt->t.name = name;
	lt->t.parent = parent;
	lt->t.begin = ns;
	lt->t.begin_tid = tid;
	flush_pending(p, lt);
	if (lt->has_end)
		task_finish(p, lt);
}

void tasks_end(struct walk_pass *p, uint64_t id, uint32_t tid, int64_t ns)
{
	struct live_task *lt = task_get(p->w->tasks, id, 1);
	if (!lt)
		return;
	lt->has_end = 1;
	lt->t.end = ns;
	lt->t.end_tid = tid;
	if (lt->has_begin)
		task_finish(p, lt);
}

void tasks_adopt(struct walk_tasks *k, uint64_t id)
{
	if (id)
		task_get(k, id, 1);
}

uint64_t tasks_end_of_walk(struct walk_pass *p)
{
	tasks_emit_due(p, 1);
	struct walk_tasks *k = p->w->tasks;
	uint64_t incomplete = 0;
	for (uint32_t i = 0; i < k->n; i++) {
		struct live_task *lt = &k->pool[i];
		if (u64map_get(&k->map, lt->t.id) != i + 1)
			continue; /* a free slot */
		flush_pending(p, lt);
		/* begun or ended outside the capture; a task only adopted
		 * (TASK_SET) by a thread during the capture is not counted */
		if (lt->has_begin != lt->has_end)
			incomplete++;
	}
	return incomplete;
}
