/*
 * check_chrome_json FILE [min-regions [task-name]]: the rules Perfetto and
 * speedscope rely on, checked on a -json output (see viewer/chrome_json.c):
 *   - valid JSON with a traceEvents array;
 *   - every thread with events has exactly one "M" thread_name;
 *   - per thread, "X" slices nest properly (sorted by begin, each one ends
 *     before the enclosing one does), dur >= 0, cat region, task or a block
 *     category; B/E, if any, nest and every E names its B;
 *   - async "b"/"e" pair by id with the same cat and name on both ends, and
 *     carry the task's name (task-name, when given: every task has it);
 *   - flows: each id has exactly one "s" and one "f";
 *   - at least min-regions region slices.
 * Timestamps are compared in integer ns (ts has three decimals of µs).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "slurp.h"

static const char *sget(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double nget(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int64_t ns_of(double us)
{
	return llround(us * 1000.0);
}

/* A growable array of fixed-size records. */
struct vec {
	void *p;
	size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 1024;
		v->p = realloc(v->p, v->cap * v->size);
		if (!v->p)
			abort();
	}
	return (char *)v->p + v->n++ * v->size;
}

struct slice {
	double tid;
	int64_t begin, end; /* ns */
};

static int by_tid_begin(const void *a, const void *b)
{
	const struct slice *x = a, *y = b;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return (x->end < y->end) - (x->end > y->end); /* longer (enclosing) first */
}

/* X slices nest per thread: returns how many overlap their enclosing one. */
static long check_nesting(struct vec *xs)
{
	qsort(xs->p, xs->n, sizeof(struct slice), by_tid_begin);
	const struct slice *s = xs->p;
	int64_t *open = malloc((xs->n + 1) * sizeof *open); /* ends of the enclosing slices */
	size_t depth = 0;
	long bad = 0;
	for (size_t i = 0; i < xs->n; i++) {
		if (i && s[i].tid != s[i - 1].tid)
			depth = 0;
		while (depth && open[depth - 1] <= s[i].begin && !(open[depth - 1] == s[i].begin && s[i].end == s[i].begin))
			depth--;
		if (depth && s[i].end > open[depth - 1]) {
			if (bad < 5)
				fprintf(stderr, "tid %.0f: X [%lld, %lld] crosses the end %lld of its parent\n", s[i].tid,
					(long long)s[i].begin, (long long)s[i].end, (long long)open[depth - 1]);
			bad++;
			continue;
		}
		open[depth++] = s[i].end;
	}
	free(open);
	return bad;
}

/* Per-id state of async spans and flows: the first end seen, matched by the other. */
struct pair {
	char id[40];
	const cJSON *first;
	int begins, ends;
};

static struct pair *pair_of(struct vec *v, const char *id)
{
	/* ids are few per trace in tests (tasks, flows): a linear search from the end */
	for (size_t i = v->n; i-- > 0;) {
		struct pair *p = (struct pair *)v->p + i;
		if (strcmp(p->id, id) == 0)
			return p;
		if (v->n - i > 4096)
			break; /* pairs are written close together */
	}
	struct pair *p = vec_push(v);
	memset(p, 0, sizeof *p);
	snprintf(p->id, sizeof p->id, "%s", id);
	return p;
}

struct tstate {
	double tid;
	int names, events, depth;
	const char *stack[512];
};

static struct tstate *tstate(struct vec *v, double tid)
{
	for (size_t i = 0; i < v->n; i++)
		if (((struct tstate *)v->p)[i].tid == tid)
			return (struct tstate *)v->p + i;
	struct tstate *t = vec_push(v);
	memset(t, 0, sizeof *t);
	t->tid = tid;
	return t;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	long min_regions = argc > 2 ? atol(argv[2]) : 0;
	const char *task_name = argc > 3 ? argv[3] : NULL;
	char *text = slurp(argv[1], NULL);
	CHECKF(text != NULL, "%s unreadable", argv[1]);
	cJSON *doc = text ? cJSON_Parse(text) : NULL;
	CHECKF(doc != NULL, "not valid JSON near: %.60s", cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "?");
	const cJSON *evs = cJSON_GetObjectItemCaseSensitive(doc, "traceEvents");
	CHECK(cJSON_IsArray(evs));
	struct vec threads = {.size = sizeof(struct tstate)}, xs = {.size = sizeof(struct slice)};
	struct vec tasks = {.size = sizeof(struct pair)}, flows = {.size = sizeof(struct pair)};
	long regions = 0, bad_nest = 0, bad_x = 0, bad_task = 0, named_tasks = 0, total = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, evs) {
		total++;
		const char *ph = sget(e, "ph"), *name = sget(e, "name"), *cat = sget(e, "cat");
		if (!ph)
			continue;
		struct tstate *t = tstate(&threads, nget(e, "tid"));
		if (strcmp(ph, "M") == 0) {
			t->names += name && strcmp(name, "thread_name") == 0;
			continue;
		}
		t->events++;
		if (strcmp(ph, "X") == 0) {
			int known = cat && (!strcmp(cat, "region") || !strcmp(cat, "task") || !strcmp(cat, "sync") ||
					    !strcmp(cat, "net") || !strcmp(cat, "syscall"));
			bad_x += nget(e, "dur") < 0 || !known || !name;
			regions += cat && !strcmp(cat, "region");
			struct slice *s = vec_push(&xs);
			s->tid = t->tid;
			s->begin = ns_of(nget(e, "ts"));
			s->end = s->begin + ns_of(nget(e, "dur"));
		} else if (strcmp(ph, "B") == 0) {
			if (t->depth < 512)
				t->stack[t->depth] = name;
			t->depth++;
		} else if (strcmp(ph, "E") == 0) {
			if (t->depth == 0) {
				bad_nest++;
				continue;
			}
			t->depth--;
			if (t->depth < 512 && (!name || !t->stack[t->depth] || strcmp(name, t->stack[t->depth]) != 0))
				bad_nest++;
		} else if (strcmp(ph, "b") == 0 || strcmp(ph, "e") == 0) {
			const char *id = sget(e, "id");
			CHECK(id && cat && name); /* Perfetto: same cat, name, id on both ends */
			if (!id || !cat || !name)
				continue;
			struct pair *p = pair_of(&tasks, id);
			*(ph[0] == 'b' ? &p->begins : &p->ends) += 1;
			if (!p->first)
				p->first = e;
			else if (strcmp(sget(p->first, "name"), name) || strcmp(sget(p->first, "cat"), cat))
				bad_task++;
			if (task_name && strcmp(name, task_name) != 0)
				bad_task++;
			named_tasks += task_name && ph[0] == 'b' && strcmp(name, task_name) == 0;
		} else if (strcmp(ph, "s") == 0 || strcmp(ph, "f") == 0) {
			char id[40];
			snprintf(id, sizeof id, "%.0f", nget(e, "id"));
			struct pair *p = pair_of(&flows, id);
			*(ph[0] == 's' ? &p->begins : &p->ends) += 1;
		}
	}
	int unnamed = 0, renamed = 0;
	for (size_t i = 0; i < threads.n; i++) {
		const struct tstate *t = (struct tstate *)threads.p + i;
		unnamed += t->events && !t->names;
		renamed += t->names > 1;
	}
	long unpaired_tasks = 0, unpaired_flows = 0;
	for (size_t i = 0; i < tasks.n; i++)
		unpaired_tasks += ((struct pair *)tasks.p)[i].begins != 1 || ((struct pair *)tasks.p)[i].ends != 1;
	for (size_t i = 0; i < flows.n; i++)
		unpaired_flows += ((struct pair *)flows.p)[i].begins != 1 || ((struct pair *)flows.p)[i].ends != 1;
	long crossing = check_nesting(&xs);
	CHECKF(bad_nest == 0, "%ld E events not closing their B by name", bad_nest);
	CHECKF(bad_x == 0, "%ld bad X slices", bad_x);
	CHECKF(crossing == 0, "%ld X slices cross their enclosing slice", crossing);
	CHECKF(unpaired_tasks == 0, "%ld task ids without exactly one b and one e", unpaired_tasks);
	CHECKF(bad_task == 0, "%ld task events whose name or cat differ (want \"%s\")", bad_task,
	       task_name ? task_name : "the same on both ends");
	CHECKF(!task_name || named_tasks > 0, "no task named %s", task_name ? task_name : "");
	CHECKF(unpaired_flows == 0, "%ld flow ids without exactly one s and one f", unpaired_flows);
	CHECKF(unnamed == 0, "%d threads without thread_name", unnamed);
	CHECKF(renamed == 0, "%d threads named more than once", renamed);
	CHECKF(regions >= min_regions, "%ld regions, want at least %ld", regions, min_regions);
	printf("check_chrome_json: %ld events, %ld regions, %zu threads, %zu tasks, %zu flows\n", total, regions,
	       threads.n, tasks.n, flows.n);
	free(threads.p);
	free(xs.p);
	free(tasks.p);
	free(flows.p);
	cJSON_Delete(doc);
	free(text);
	return check_done("check_chrome_json");
}
