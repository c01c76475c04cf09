/*
 * What the walk's files share and nothing else sees: the pass-2 context
 * that hands intervals to consumers, the wake-up index (walk_wakes.c), the
 * live tasks (walk_tasks.c) and the per-event handlers (walk_events.c).
 * walk.c drives the two passes over them.
 */
#ifndef CPROF_WALK_INTERNAL_H
#define CPROF_WALK_INTERNAL_H

#include "walk.h"

/* Pass 2: the walk and its consumers. */
struct walk_pass {
	struct walk *w;
	const struct walk_consumer *c;
	int nc;
	uint64_t batches; /* batches read when the last event was handled */
	uint32_t last_index; /* index + 1 in w->threads of the last event's thread, 0 none */
};

/* Calls every consumer's hook that is set, in consumer order. */
#define WALK_EMIT(p, hook, arg)                                                \
	do {                                                                   \
		for (int ci_ = 0; ci_ < (p)->nc; ci_++)                        \
			if ((p)->c[ci_].hook)                                  \
				(p)->c[ci_].hook((p)->c[ci_].self, (p)->w, arg); \
	} while (0)

/* ---- walk_events.c: the per-thread state machines (pass 2) ---- */

/* The thread's state, created on first sight; NULL when out of memory. */
struct walk_thread *walk_thread_get(struct walk *w, uint32_t tid);
/* One event of pass 2. */
void walk_on_event(struct walk_pass *p, const struct trace_event *ev);
/* After the last event: closes threads' tasks, emits what waits, counts the
 * incomplete, takes drops from the LOST chunk. */
void walk_on_end(struct walk_pass *p);

/* ---- walk_states.c: kernel states (pass 2) ---- */

/* The thread's first event: born says it is its THREAD_START. Chooses
 * the thread's mode from pass 1 (w->sched_threads) and opens its window. */
void states_thread_begin(struct walk *w, struct walk_thread *t, int born, int64_t ns);
/* Every event of the thread, after the walk's own handling. */
void states_on_event(struct walk *w, struct walk_thread *t, const struct trace_event *ev, int64_t ns);
/* An interposed call of class cls spanned [begin, end] ns. */
void states_block_end(struct walk *w, struct walk_thread *t, int cls, int64_t begin, int64_t end);
/* After the last event, once t->win_end is set: closes the open state. */
void states_finish(struct walk *w, struct walk_thread *t);

/* ---- walk_wakes.c: wake-up edges per target thread ---- */

/* keep_all: pass 1 keeps every edge (never the reader ahead). */
struct walk_wakes *wakes_create(int keep_all);
/* Pass 1: a WAKEUP of target by waker at ts ns, read in batch `batch`.
 * 0, or -1 out of memory. */
int wakes_add(struct walk_wakes *k, uint64_t batch, uint32_t target, uint32_t waker, int64_t ts);
/* Pass 1: every event's thread and ns. 0, or -1 out of memory. */
int wakes_see(struct walk_wakes *k, uint32_t tid, int64_t ns);
/* After pass 1: 1 when pass 2 must read ahead (wakes_start_ahead), else 0. */
int wakes_end_of_pass1(struct walk_wakes *k);
/* Before pass 2: the reader ahead, opened on the same input; k owns it
 * (a copy of *r: r is not to be used or closed after). */
void wakes_start_ahead(struct walk_wakes *k, const struct trace_reader *r);
/* Pass 2: the first wake-up of target in [begin, end] (ns): its time, and
 * its waker in *waker; -1 (and *waker 0) when there is none. Queries of a
 * target come from its own events, so their begins do not go below
 * walk_wake_floor. */
int64_t wakes_first(struct walk *w, uint32_t target, int64_t begin, int64_t end, uint32_t *waker);
/* 1 when pass 2 ran out of memory for edges (its answers are not to be trusted). */
int wakes_failed(const struct walk_wakes *k);
void wakes_free(struct walk_wakes *k);
/* walk_events.c: the earliest begin a later wakes_first of thread tid can
 * have, given its events so far in pass 2 and that its next events are no
 * earlier than its last (INT64_MIN before its first event). */
int64_t walk_wake_floor(const struct walk *w, uint32_t tid);
/* walk_states.c: the same for the thread's kernel states (INT64_MAX: no
 * bound from them). */
int64_t states_wake_floor(const struct walk_thread *t);

/* ---- walk_tasks.c: live tasks ---- */

struct walk_tasks *tasks_create(void);
/* Pass 1: one TASK_BEGIN / TASK_END / TASK_SET read in batch `batch`.
 * 0, or -1 out of memory. */
int tasks_note(struct walk_tasks *k, const struct trace_event *ev, uint32_t batch);
/* After pass 1. */
void tasks_note_end(struct walk_tasks *k);
/* Pass 2: the thread that worked for task `id` adds its time t to it. */
void tasks_add_time(struct walk_tasks *k, uint64_t id, const struct walk_time *t);
/* Pass 2: a TASK_BEGIN / TASK_END / adoption (TASK_SET) of task id. */
void tasks_begin(struct walk_pass *p, uint64_t id, uint32_t name, uint64_t parent, uint32_t tid, int64_t ns);
void tasks_end(struct walk_pass *p, uint64_t id, uint32_t tid, int64_t ns);
void tasks_adopt(struct walk_tasks *k, uint64_t id);
/* Pass 2: emits region r, or keeps it until its task's name is read. */
void tasks_emit_region(struct walk_pass *p, struct walk_region *r);
/* Emits the finished tasks whose last batch has been read (all: every one). */
void tasks_emit_due(struct walk_pass *p, int all);
/* At the end: emits the regions still waiting; returns the tasks begun or
 * ended outside the capture. */
uint64_t tasks_end_of_walk(struct walk_pass *p);
void tasks_free(struct walk_tasks *k);

#endif
