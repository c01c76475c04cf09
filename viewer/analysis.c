/*
 * The analyses: aggregation hooks and their report documents.
 * All durations in the documents are integers in ns ("..._ns").
 */
#include "analysis.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void analysis_init(struct analysis *a, int kind)
{
	*a = (struct analysis){.kind = kind};
}

void analysis_free(struct analysis *a)
{
	stat_free(&a->stats);
}

/* Profiles: a block's delay of the profile's class, by stack. */
static void on_block(void *self, struct walk *w, const struct walk_block *b)
{
	(void)w;
	struct analysis *a = self;
	int cls = analysis_registry[a->kind].cls;
	/* sched: the wake-up latency of every woken block; the others: the
	 * blocked time of their class's blocks */
	if (cls == WC_SCHED ? b->sched <= 0 : b->cls != cls)
		return;
	struct walk_time t = {.total = cls == WC_SCHED ? b->sched : b->blocked};
	t.wait[cls] = t.total;
	stat_add(&a->stats, b->stack, t.total, &t);
}
static void on_task(void *self, struct walk *w, const struct walk_task *k)
{
	(void)w;
	struct analysis *a = self;
	/* duration: wall time; breakdown: the threads' time for the task */
	stat_add(&a->stats, k->name, k->end - k->begin, &k->time);
}

static void on_region(void *self, struct walk *w, const struct walk_region *r)
{
	(void)w;
	struct analysis *a = self;
	stat_add(&a->stats, (uint64_t)r->name << 32 | r->task_name, r->time.total, &r->time);
}

void analysis_profile_hooks(struct walk_consumer *c)
{
	c->block = on_block;
}

void analysis_tasks_hooks(struct walk_consumer *c)
{
	c->task = on_task;
}

void analysis_regions_hooks(struct walk_consumer *c)
{
	c->region = on_region;
}

struct walk_consumer analysis_consumer(struct analysis *a)
{
	struct walk_consumer c = {.self = a};
	if (analysis_registry[a->kind].consumer)
		analysis_registry[a->kind].consumer(&c);
	return c;
}

/* ---- documents ---- */

cJSON *stack_json(const struct walk *w, uint32_t stack)
{
	cJSON *a = cJSON_CreateArray();
	const struct trace_stack *s = stack ? trace_reader_stack(&w->r, stack) : NULL;
	for (uint32_t i = 0; s && i < s->nframes; i++) {
		const struct cprof_frame *f = &s->frames[i];
		cJSON *o = cJSON_CreateObject();
		char unknown[300]; /* no symbol: module + offset, a distinct name per frame */
		if (!f->function)
			snprintf(unknown, sizeof unknown, "%s+%#" PRIx64, f->module ? walk_string(w, f->module) : "?",
				 f->module_offset);
		cJSON_AddStringToObject(o, "function", f->function ? walk_string(w, f->function) : unknown);
		cJSON_AddStringToObject(o, "file", f->file ? walk_string(w, f->file) : "");
		cJSON_AddNumberToObject(o, "line", f->line);
		cJSON_AddStringToObject(o, "module", f->module ? walk_string(w, f->module) : "");
		cJSON_AddNumberToObject(o, "pc", (double)f->pc);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

cJSON *walk_summary_json(const struct walk *w)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "file", w->path);
	cJSON_AddNumberToObject(o, "events", (double)w->events);
	cJSON_AddNumberToObject(o, "begin_ns", (double)w->begin);
	cJSON_AddNumberToObject(o, "duration_ns", (double)(w->end - w->begin));
	cJSON_AddNumberToObject(o, "threads", w->nthreads);
	cJSON_AddNumberToObject(o, "lost", (double)w->lost);
	/* sched-cpu: where the kernel's scheduling records came from */
	cJSON_AddStringToObject(o, "sched_source", trace_sched_source_name(&w->r));
	cJSON_AddNumberToObject(o, "sched_lost", (double)w->r.sched_lost);
	cJSON_AddNumberToObject(o, "cpu_hz", w->r.header.cpu_hz);
	cJSON *d = cJSON_AddArrayToObject(o, "dropped");
	for (uint32_t i = 0; i < w->nthreads; i++) {
		const struct walk_thread *t = &w->threads[i];
		if (!t->lost)
			continue;
		cJSON *e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "tid", t->tid);
		cJSON_AddStringToObject(e, "name", walk_thread_name(w, t->tid));
		cJSON_AddNumberToObject(e, "count", (double)t->lost);
		cJSON_AddItemToArray(d, e);
	}
	/* flight snapshots: threads whose ring held only the window's end */
	cJSON *fp = cJSON_AddArrayToObject(o, "flight_partial");
	for (uint32_t i = 0; i < w->nthreads; i++) {
		const struct walk_thread *t = &w->threads[i];
		if (!t->flight_from)
			continue;
		cJSON *e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "tid", t->tid);
		cJSON_AddStringToObject(e, "name", walk_thread_name(w, t->tid));
		cJSON_AddNumberToObject(e, "from_ns", (double)t->flight_from);
		cJSON_AddItemToArray(fp, e);
	}
	if (w->status)
		cJSON_AddStringToObject(o, "warning", w->error);
	if (w->regions_unkept)
		cJSON_AddNumberToObject(o, "regions_unkept", (double)w->regions_unkept);
	return o;
}

static int by_total_json(const void *a, const void *b)
{
	double x = cJSON_GetObjectItem(*(cJSON *const *)a, "total_ns")->valuedouble;
	double y = cJSON_GetObjectItem(*(cJSON *const *)b, "total_ns")->valuedouble;
	return (x < y) - (x > y);
}

/* Sorts a cJSON array of objects by total_ns, largest first. */
static void sort_by_total(cJSON *arr)
{
	int n = cJSON_GetArraySize(arr);
	if (n < 2)
		return;
	cJSON **v = malloc((size_t)n * sizeof *v);
	if (!v)
		return;
	for (int i = 0; i < n; i++)
		v[i] = cJSON_DetachItemFromArray(arr, 0);
	qsort(v, (size_t)n, sizeof *v, by_total_json);
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, v[i]);
	free(v);
}

static cJSON *thread_groups(const struct walk *w)
{
	struct group {
		const char *routine;
		struct walk_time sum;
		uint64_t lost;
		int count;
		cJSON *threads;
	} *g = calloc(w->nthreads + 1, sizeof *g);
	uint32_t ng = 0;
	/* groups by name through a hash of the name: 100,000 threads with
	 * 100,000 names stay linear */
	struct u64map by_hash = {0}; /* name hash -> first group + 1 */
	uint32_t *next = calloc(w->nthreads + 1, sizeof *next); /* group -> next with the same hash + 1 */
	cJSON *groups = cJSON_CreateArray();
	if (!g || !next) {
		free(g);
		free(next);
		return groups;
	}
	for (uint32_t i = 0; i < w->nthreads; i++) {
		const struct walk_thread *t = &w->threads[i];
		const char *name = walk_thread_group(w, t);
		uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
		for (const char *c = name; *c; c++)
			h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
		uint32_t k = u64map_get(&by_hash, h);
		while (k && strcmp(g[k - 1].routine, name) != 0)
			k = next[k - 1];
		if (k) {
			k--;
		} else {
			k = ng++;
			g[k] = (struct group){.routine = name, .threads = cJSON_CreateArray()};
			uint32_t first = u64map_get(&by_hash, h);
			next[k] = first;
			if (first)
				u64map_del(&by_hash, h);
			u64map_put(&by_hash, h, k + 1); /* out of memory: the group is found no more, still right */
		}
		struct walk_time tt = {.total = t->win_end - t->win_begin};
		memcpy(tt.wait, t->wait, sizeof tt.wait);
		walk_time_add(&g[k].sum, &tt);
		g[k].lost += t->lost;
		g[k].count++;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "tid", t->tid);
		cJSON_AddStringToObject(o, "name", walk_thread_name(w, t->tid));
		time_json_fields(o, &tt);
		cJSON_AddNumberToObject(o, "blocks", (double)t->blocks);
		/* where its time classes came from (walk_states.c) */
		cJSON_AddStringToObject(o, "time_source", t->ks.mode == WS_PERF	       ? "perf"
							  : t->ks.mode == WS_SCHEDSTAT ? "schedstat"
										       : "interposed");
		cJSON_AddNumberToObject(o, "lost", (double)t->lost);
		cJSON_AddBoolToObject(o, "exited", t->exited);
		cJSON_AddItemToArray(g[k].threads, o);
	}
	for (uint32_t k = 0; k < ng; k++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "routine", g[k].routine);
		sort_by_total(g[k].threads);
		cJSON_AddItemToObject(o, "threads", g[k].threads);
		cJSON_AddNumberToObject(o, "count", g[k].count);
		time_json_fields(o, &g[k].sum);
		cJSON_AddNumberToObject(o, "lost", (double)g[k].lost);
		cJSON_AddItemToArray(groups, o);
	}
	free(g);
	free(next);
	u64map_free(&by_hash);
	sort_by_total(groups);
	return groups;
}

void analysis_threads_json(const struct analysis *a, const struct walk *w, cJSON *doc)
{
	(void)a;
	cJSON_AddItemToObject(doc, "groups", thread_groups(w));
}

void analysis_profile_json(const struct analysis *a, const struct walk *w, cJSON *doc)
{
	int64_t total = 0;
	uint64_t count = 0;
	for (uint32_t i = 0; i < a->stats.n; i++) {
		total = walk_add(total, a->stats.e[i].total);
		count += a->stats.e[i].count;
	}
	cJSON_AddNumberToObject(doc, "count", (double)count);
	cJSON_AddNumberToObject(doc, "total_ns", (double)total);
	cJSON *arr = cJSON_AddArrayToObject(doc, "stacks");
	struct stat_entry **v = stat_sorted(&a->stats);
	for (uint32_t i = 0; v && i < a->stats.n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "stack_id", (double)v[i]->key);
		stat_json_totals(o, v[i]);
		cJSON_AddItemToObject(o, "frames", stack_json(w, (uint32_t)v[i]->key));
		cJSON_AddItemToArray(arr, o);
	}
	free(v);
}

/* Tasks (key: name) and regions (key: name << 32 | enclosing task's name). */
void analysis_named_json(const struct analysis *a, const struct walk *w, cJSON *doc)
{
	int regions = a->kind == AN_REGIONS;
	cJSON_AddNumberToObject(doc, "incomplete", (double)(regions ? w->regions_incomplete : w->tasks_incomplete));
	cJSON *arr = cJSON_AddArrayToObject(doc, regions ? "regions" : "tasks");
	struct stat_entry **v = stat_sorted(&a->stats);
	for (uint32_t i = 0; v && i < a->stats.n; i++) {
		const struct stat_entry *e = v[i];
		cJSON *o = cJSON_CreateObject();
		if (regions) {
			cJSON_AddStringToObject(o, "name", walk_string(w, (uint32_t)(e->key >> 32)));
			cJSON_AddStringToObject(o, "task", walk_task_name(w, (uint32_t)e->key));
		} else {
			cJSON_AddStringToObject(o, "name", walk_string(w, (uint32_t)e->key));
		}
		stat_json_totals(o, e);
		cJSON_AddItemToObject(o, "breakdown", breakdown_json(&e->time));
		cJSON_AddItemToObject(o, "histogram", histogram_json(&e->hist));
		cJSON_AddItemToArray(arr, o);
	}
	free(v);
}

cJSON *analysis_json(const struct analysis *a, const struct walk *w)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "report", analysis_registry[a->kind].name);
	cJSON_AddItemToObject(doc, "trace", walk_summary_json(w));
	analysis_registry[a->kind].json(a, w, doc);
	return doc;
}
