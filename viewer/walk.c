/*
 * The walk (see walk.h): drives the two passes over a trace, from a file
 * or a buffer. Pass 1 indexes wake-up edges (walk_wakes.c: all of them on
 * small traces, else where they are so pass 2 reads them again alongside)
 * and the last batch that refers to each task (walk_tasks.c); pass 2 replays each
 * thread's state machine (walk_events.c) and feeds the consumers, whose
 * finish hooks run last. Also the lookups consumers use on a walk.
 */
#include "walk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walk_internal.h"

const char *const walk_class_names[WC_COUNT] = {
#define WALK_X_NAME(e, val, name, colour, title) [WC_##e] = name,
	CPROF_BLOCK_CATEGORIES(WALK_X_NAME)
#undef WALK_X_NAME
	[WC_SCHED] = "sched",
	[WC_OTHER] = "other",
};

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
	return cprof_block_info(category) ? (int)category - 1 : WC_SYSCALL;
}

void walk_ns_prepare(struct walk *w)
{
	uint64_t tps = w->r.header.ticks_per_sec;
	w->ns_mul_tps = 0;
	if (tps > 1000000000u) { /* then the quotient is under 2^64 */
		w->ns_mul = (uint64_t)(((unsigned __int128)1000000000u << 64) / tps);
		w->ns_mul_tps = tps;
	}
}

int64_t walk_ns_slow(const struct walk *w, uint64_t ticks)
{
	/* trace_ticks_to_ns and llround, inline: the walk converts every event
	 * (three times). Same operations, so the same double and the same ns. */
	int64_t d = (int64_t)(ticks - w->r.header.start_ticks);
	/* ticks in ns (CLOCK_MONOTONIC captures): d * 1e9 / 1e9 in doubles is
	 * within d * 2^-52 of d, under 1/8 for |d| <= 2^49, so it rounds to d */
	if (w->r.header.ticks_per_sec == 1000000000u && d >= -((int64_t)1 << 49) && d <= (int64_t)1 << 49)
		return d;
	double ns = (double)d * 1e9 / (double)w->r.header.ticks_per_sec;
	if (!(ns < (double)WALK_NS_LIMIT)) /* NaN too */
		return ns < 0 ? -WALK_NS_LIMIT : WALK_NS_LIMIT;
	if (ns < -(double)WALK_NS_LIMIT)
		return -WALK_NS_LIMIT;
	/* llround (half away from zero): exact below 2^52, where x - trunc(x)
	 * is exact */
	int64_t i = (int64_t)ns;
	double frac = ns - (double)i;
	if (frac >= 0.5)
		i++;
	else if (frac <= -0.5)
		i--;
	return i;
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

/* The routine part of a thread's group (walk_process.c adds the process). */
const char *walk_thread_routine_group(const struct walk *w, const struct walk_thread *t)
{
	if (t->routine)
		return walk_string(w, t->routine);
	if (t->tid == w->r.header.pid || (w->r.tree && t->tid == walk_thread_pid(w, t)))
		return "main";
	const char *n = walk_thread_name(w, t->tid);
	return *n ? n : "(unknown start routine)";
}

const char *walk_thread_name(const struct walk *w, uint32_t tid)
{
	const char *s = trace_reader_thread_name(&w->r, tid);
	return s ? s : "";
}

const struct walk_thread *walk_find_thread(const struct walk *w, uint32_t tid)
{
	uint32_t i = u64map_get(&w->thread_map, tid);
	return i ? &w->threads[i - 1] : NULL;
}

/* ---- driving the passes ---- */

/* Where the trace comes from: a file (path) or memory (buf, len). Each pass
 * opens it afresh. */
struct walk_input {
	const char *path;
	const void *buf;
	size_t len;
	struct trace_mem_source mem, mem_ahead; /* the main pass's, the wake-up reader's */
};

static int input_open(struct walk_input *in, struct trace_reader *r, int ahead)
{
	if (in->path)
		return trace_reader_open_file(r, in->path);
	struct trace_mem_source *m = ahead ? &in->mem_ahead : &in->mem;
	*m = (struct trace_mem_source){.p = in->buf, .len = in->len};
	return trace_reader_open(r, trace_source_mem, m);
}

/* input_open, and the walk reads no per-kind stats. */
static int walk_open(struct walk_input *in, struct trace_reader *r, int ahead)
{
	int rc = input_open(in, r, ahead);
	r->no_kind_stats = 1;
	return rc;
}

/* Pass 1's work for one event: 0, or -2 out of memory. */
static int index_event(struct walk *w, const struct trace_event *ev, uint64_t batch)
{
	int64_t ns = walk_ns(w, ev->ts);
	if (ns < w->begin) /* final before pass 2 (walk.h) */
		w->begin = ns;
	if (wakes_see(w->wakes, ev->tid, ns))
		return -2;
	if (ev->kind == CPROF_EV_WAKEUP && wakes_add(w->wakes, batch, (uint32_t)ev->args[0], ev->tid, ns))
		return -2;
	/* threads the kernel's records describe: their time is partitioned
	 * from those records (walk_states.c) */
	int mode = ev->kind == CPROF_EV_SCHED_STAT ? WS_SCHEDSTAT
		   : ev->kind == CPROF_EV_SCHED_SWITCH_IN || ev->kind == CPROF_EV_SCHED_SWITCH_OUT ? WS_PERF
											   : 0;
	if (mode && !u64map_get(&w->sched_threads, ev->tid) && u64map_put(&w->sched_threads, ev->tid, (uint64_t)mode))
		return -2;
	if (w->need_tasks && ev->kind >= CPROF_EV_TASK_BEGIN && ev->kind <= CPROF_EV_TASK_SET &&
	    tasks_note(w->tasks, ev, (uint32_t)batch))
		return -2;
	return 0;
}

/* Reads r to its end; pass 1 indexes (p NULL), pass 2 replays. Returns the
 * reader's last result (0 complete, -1 error) or -2 out of memory. */
static int run_pass(struct walk *w, struct trace_reader *r, struct progress *g, struct walk_pass *p)
{
	struct trace_event ev;
	int rc;
	g->what = p ? "pass 2 of 2" : "pass 1 of 2";
	while ((rc = trace_reader_next(r, &ev)) == 1) {
		if (w->progress)
			progress_tick(g, r->offset);
		if (walk_only_pid && ev.pid != walk_only_pid)
			continue; /* -pid=: another process of the tree */
		if (!p && index_event(w, &ev, r->batches))
			return -2;
		if (p)
			walk_on_event(p, &ev);
	}
	return rc;
}

static int fail(struct walk *w, const char *cause)
{
	snprintf(w->error, sizeof w->error, "%s: %s", w->path, cause);
	w->status = -1;
	return -1;
}

static int walk_run(struct walk *w, const char *name, struct walk_input *in, const struct walk_consumer *c,
		    int nconsumers)
{
	int progress = w->progress, keep_all = w->wakes_keep_all;
	*w = (struct walk){.path = name, .begin = INT64_MAX, .end = INT64_MIN, .progress = progress,
			   .wakes_keep_all = keep_all};
	w->wakes = wakes_create(keep_all);
	w->tasks = tasks_create();
	struct progress g;
	progress_begin(&g, in->path ? in->path : "", "");
	if (!in->path)
		g.size = in->len;
	/* task bookkeeping across batches only matters to task and region consumers */
	for (int i = 0; i < nconsumers; i++)
		w->need_tasks |= c[i].task || c[i].region;

	/* pass 1: wake-up edges, tasks' last batches */
	struct trace_reader r1;
	if (walk_open(in, &r1, 0)) {
		fail(w, r1.error);
		trace_reader_close(&r1);
		return -1;
	}
	w->r = r1; /* walk_ns needs the header during pass 1 */
	walk_ns_prepare(w);
	int rc = w->wakes && w->tasks ? run_pass(w, &r1, &g, NULL) : -2;
	trace_reader_close(&r1);
	memset(&w->r, 0, sizeof w->r);
	if (rc == -2)
		return fail(w, "out of memory");
	tasks_note_end(w->tasks);
	rc = wakes_end_of_pass1(w->wakes);
	if (rc < 0)
		return fail(w, "out of memory");
	if (rc) { /* too many edges to keep: read them again alongside */
		struct trace_reader ra;
		if (walk_open(in, &ra, 1)) {
			fail(w, ra.error);
			trace_reader_close(&ra);
			return -1;
		}
		wakes_start_ahead(w->wakes, &ra);
	}

	/* pass 2: the state machines */
	if (walk_open(in, &w->r, 0))
		return fail(w, w->r.error);
	walk_ns_prepare(w);
	struct walk_pass p = {.w = w, .c = c, .nc = nconsumers};
	w->pass = &p;
	rc = run_pass(w, &w->r, &g, &p);
	progress_end(&g);
	if (w->begin > w->end)
		w->begin = w->end = 0;
	walk_on_end(&p);
	w->pass = NULL;
	w->events = w->r.events;
	if (rc < 0) {
		snprintf(w->error, sizeof w->error, "%s: %s", name, w->r.error);
		/* a cut capture still has every complete event */
		w->status = w->r.truncated ? 1 : -1;
	}
	if (wakes_failed(w->wakes))
		fail(w, "out of memory (wake-up edges)");
	for (int i = 0; i < nconsumers; i++)
		if (c[i].finish)
			c[i].finish(c[i].self, w);
	return w->status;
}

int walk_file(struct walk *w, const char *path, const struct walk_consumer *c, int nconsumers)
{
	struct walk_input in = {.path = path};
	return walk_run(w, path, &in, c, nconsumers);
}

int walk_buffer(struct walk *w, const char *name, const void *buf, size_t len, const struct walk_consumer *c,
		int nconsumers)
{
	struct walk_input in = {.buf = buf, .len = len};
	return walk_run(w, name, &in, c, nconsumers);
}

void walk_close(struct walk *w)
{
	for (uint32_t i = 0; i < w->nthreads; i++) {
		free(w->threads[i].regions);
		free(w->threads[i].group);
	}
	free(w->threads);
	u64map_free(&w->thread_map);
	u64map_free(&w->sched_threads);
	wakes_free(w->wakes);
	tasks_free(w->tasks);
	trace_reader_close(&w->r);
	w->threads = NULL;
	w->wakes = NULL;
	w->tasks = NULL;
}
