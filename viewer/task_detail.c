/*
 * One task name's drill-down (go tool trace's "usertask" page): walk 1
 * picks the tasks, walk 2 collects what happened for them on every thread.
 */
#include <stdlib.h>
#include <string.h>

#include "analysis.h"

#define MAX_ITEMS_PER_TASK 2000

struct pick {
	const char *name;
	int64_t min_ns, max_ns;
	int limit;
	struct walk_task *tasks;
	int n;
	struct u64map index; /* task id -> index + 1 */
};

static void pick_task(void *self, struct walk *w, const struct walk_task *k)
{
	struct pick *p = self;
	int64_t d = k->end - k->begin;
	if (p->n >= p->limit || d < p->min_ns || d > p->max_ns || strcmp(walk_string(w, k->name), p->name) != 0)
		return;
	if (u64map_put(&p->index, k->id, (uint32_t)p->n + 1) == 0)
		p->tasks[p->n++] = *k;
}

struct item {
	int64_t ts, dur; /* ns */
	uint32_t tid;
	uint8_t type;    /* 0 region, 1 block, 2 log */
	uint32_t name;   /* string id */
	uint32_t stack;
	char *message;
};

struct collect {
	struct pick *pick;
	struct item **items; /* per picked task */
	int *nitems, *caps;
};

static void add_item(struct collect *c, uint64_t task, const struct item *it)
{
	uint32_t i = task ? u64map_get(&c->pick->index, task) : 0;
	if (!i--)
		return;
	if (c->nitems[i] >= MAX_ITEMS_PER_TASK)
		return;
	if (c->nitems[i] == c->caps[i]) {
		int cap = c->caps[i] ? c->caps[i] * 2 : 32;
		void *p = realloc(c->items[i], (size_t)cap * sizeof **c->items);
		if (!p)
			return;
		c->items[i] = p;
		c->caps[i] = cap;
	}
	c->items[i][c->nitems[i]++] = *it;
}

static void collect_region(void *self, struct walk *w, const struct walk_region *r)
{
	(void)w;
	struct item it = {.ts = r->begin, .dur = r->end - r->begin, .tid = r->thread->tid, .type = 0, .name = r->name};
	add_item(self, r->task, &it);
}

static void collect_block(void *self, struct walk *w, const struct walk_block *b)
{
	(void)w;
	struct item it = {.ts = b->begin, .dur = b->end - b->begin, .tid = b->thread->tid, .type = 1,
			  .name = b->what, .stack = b->stack};
	add_item(self, b->task, &it);
}

static void collect_log(void *self, struct walk *w, const struct walk_log *l)
{
	(void)w;
	struct collect *c = self;
	if (!l->task || !u64map_get(&c->pick->index, l->task))
		return;
	struct item it = {.ts = l->ts, .tid = l->thread->tid, .type = 2, .name = l->category,
			  .message = strndup(l->message ? l->message : "", l->len)};
	add_item(c, l->task, &it);
}

static int by_ts(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	return (x->ts > y->ts) - (x->ts < y->ts);
}

static const char *const item_types[] = {"region", "block", "log"};

cJSON *task_detail_json(const char *path, const char *name, int64_t min_ns, int64_t max_ns, int limit,
			char *err, size_t errlen)
{
	struct pick p = {.name = name, .min_ns = min_ns, .max_ns = max_ns, .limit = limit > 0 ? limit : 1};
	p.tasks = calloc((size_t)p.limit, sizeof *p.tasks);
	struct walk w = {0};
	struct walk_consumer c1 = {.self = &p, .task = pick_task};
	if (!p.tasks || walk_file(&w, path, &c1, 1) < 0) {
		snprintf(err, errlen, "%s", p.tasks ? w.error : "out of memory");
		walk_close(&w);
		free(p.tasks);
		u64map_free(&p.index);
		return NULL;
	}
	walk_close(&w);

	struct collect c = {.pick = &p};
	c.items = calloc((size_t)p.n + 1, sizeof *c.items);
	c.nitems = calloc((size_t)p.n + 1, sizeof *c.nitems);
	c.caps = calloc((size_t)p.n + 1, sizeof *c.caps);
	struct walk_consumer c2 = {.self = &c, .region = collect_region, .block = collect_block, .log = collect_log};
	cJSON *doc = NULL;
	if (c.items && c.nitems && c.caps && walk_file(&w, path, &c2, 1) >= 0) {
		doc = cJSON_CreateObject();
		cJSON_AddStringToObject(doc, "report", "task");
		cJSON_AddItemToObject(doc, "trace", walk_summary_json(&w));
		cJSON_AddStringToObject(doc, "name", name);
		cJSON *arr = cJSON_AddArrayToObject(doc, "tasks");
		for (int i = 0; i < p.n; i++) {
			const struct walk_task *k = &p.tasks[i];
			cJSON *o = cJSON_CreateObject();
			cJSON_AddNumberToObject(o, "id", (double)k->id);
			cJSON_AddNumberToObject(o, "parent", (double)k->parent);
			cJSON_AddNumberToObject(o, "begin_ns", (double)(k->begin - w.begin));
			cJSON_AddNumberToObject(o, "duration_ns", (double)(k->end - k->begin));
			cJSON_AddNumberToObject(o, "begin_tid", k->begin_tid);
			cJSON_AddNumberToObject(o, "end_tid", k->end_tid);
			cJSON_AddItemToObject(o, "breakdown", breakdown_json(&k->time));
			cJSON *ev = cJSON_AddArrayToObject(o, "events");
			qsort(c.items[i], (size_t)c.nitems[i], sizeof **c.items, by_ts);
			for (int j = 0; j < c.nitems[i]; j++) {
				const struct item *it = &c.items[i][j];
				cJSON *e = cJSON_CreateObject();
				cJSON_AddStringToObject(e, "type", item_types[it->type]);
				cJSON_AddNumberToObject(e, "ts_ns", (double)(it->ts - w.begin));
				cJSON_AddNumberToObject(e, "tid", it->tid);
				cJSON_AddStringToObject(e, "name", walk_string(&w, it->name));
				if (it->type != 2)
					cJSON_AddNumberToObject(e, "duration_ns", (double)it->dur);
				if (it->type == 1)
					cJSON_AddItemToObject(e, "frames", stack_json(&w, it->stack));
				if (it->message)
					cJSON_AddStringToObject(e, "message", it->message);
				cJSON_AddItemToArray(ev, e);
			}
			cJSON_AddItemToArray(arr, o);
		}
	} else {
		snprintf(err, errlen, "%s", w.error[0] ? w.error : "out of memory");
	}
	walk_close(&w);
	for (int i = 0; i < p.n; i++) {
		for (int j = 0; c.items && c.nitems && j < c.nitems[i]; j++)
			free(c.items[i][j].message);
		if (c.items)
			free(c.items[i]);
	}
	free(c.items);
	free(c.nitems);
	free(c.caps);
	free(p.tasks);
	u64map_free(&p.index);
	return doc;
}
