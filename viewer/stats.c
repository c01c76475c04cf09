#include "stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

/* bucket_lo[i] = round(10^(i/5)) ns; computed once */
static int64_t bucket_lo[HIST_BUCKETS + 1];

static void init_buckets(void)
{
	if (bucket_lo[1])
		return;
	for (int i = 0; i <= HIST_BUCKETS; i++)
		bucket_lo[i] = llround(pow(10.0, (double)i / HIST_PER_DECADE));
	bucket_lo[0] = 0; /* bucket 0 also takes 0 ns */
}

int64_t histogram_bucket_lo(int i)
{
	init_buckets();
	return bucket_lo[i < 0 ? 0 : i > HIST_BUCKETS ? HIST_BUCKETS : i];
}

void histogram_add(struct histogram *h, int64_t ns)
{
	init_buckets();
	int lo = 0, hi = HIST_BUCKETS - 1; /* the last bucket whose lower bound <= ns */
	while (lo < hi) {
		int mid = (lo + hi + 1) / 2;
		if (bucket_lo[mid] <= ns)
			lo = mid;
		else
			hi = mid - 1;
	}
	h->count[lo]++;
}

struct stat_entry *stat_add(struct stat_table *s, uint64_t key, int64_t dur, const struct walk_time *t)
{
	uint32_t i = u64map_get(&s->map, key);
	if (!i) {
		if (GROW(s->e, s->n, s->cap, 32))
			return NULL;
		if (u64map_put(&s->map, key, s->n + 1))
			return NULL;
		i = ++s->n;
		s->e[i - 1] = (struct stat_entry){.key = key, .min = INT64_MAX, .max = INT64_MIN};
	}
	struct stat_entry *e = &s->e[i - 1];
	e->count++;
	e->total = walk_add(e->total, dur);
	walk_time_add(&e->time, t);
	if (dur < e->min)
		e->min = dur;
	if (dur > e->max)
		e->max = dur;
	histogram_add(&e->hist, dur);
	return e;
}

static int by_total_desc(const void *a, const void *b)
{
	const struct stat_entry *x = *(struct stat_entry *const *)a, *y = *(struct stat_entry *const *)b;
	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	return x->key < y->key ? -1 : x->key > y->key;
}

struct stat_entry **stat_sorted(const struct stat_table *s)
{
	struct stat_entry **v = malloc((s->n + 1) * sizeof *v);
	if (!v)
		return NULL;
	for (uint32_t i = 0; i < s->n; i++)
		v[i] = &s->e[i];
	qsort(v, s->n, sizeof *v, by_total_desc);
	return v;
}

void stat_free(struct stat_table *s)
{
	free(s->e);
	u64map_free(&s->map);
	*s = (struct stat_table){0};
}

void stat_json_totals(cJSON *obj, const struct stat_entry *e)
{
	cJSON_AddNumberToObject(obj, "count", (double)e->count);
	cJSON_AddNumberToObject(obj, "total_ns", (double)e->total);
	cJSON_AddNumberToObject(obj, "mean_ns", e->count ? (double)(e->total / (int64_t)e->count) : 0);
	cJSON_AddNumberToObject(obj, "min_ns", e->count ? (double)e->min : 0);
	cJSON_AddNumberToObject(obj, "max_ns", e->count ? (double)e->max : 0);
}

cJSON *histogram_json(const struct histogram *h)
{
	cJSON *a = cJSON_CreateArray();
	int first = -1, last = -1;
	for (int i = 0; i < HIST_BUCKETS; i++)
		if (h->count[i]) {
			if (first < 0)
				first = i;
			last = i;
		}
	for (int i = first; first >= 0 && i <= last; i++) {
		cJSON *b = cJSON_CreateObject();
		cJSON_AddNumberToObject(b, "lo_ns", (double)histogram_bucket_lo(i));
		cJSON_AddNumberToObject(b, "hi_ns", (double)histogram_bucket_lo(i + 1));
		cJSON_AddNumberToObject(b, "count", (double)h->count[i]);
		cJSON_AddItemToArray(a, b);
	}
	return a;
}

void time_json_fields(cJSON *o, const struct walk_time *t)
{
	cJSON_AddNumberToObject(o, "total_ns", (double)t->total);
	cJSON_AddNumberToObject(o, "exec_ns", (double)walk_time_exec(t));
	for (int i = 0; i < WC_COUNT; i++) {
		char key[32];
		snprintf(key, sizeof key, "%s_ns", walk_class_names[i]);
		cJSON_AddNumberToObject(o, key, (double)t->wait[i]);
	}
}

cJSON *breakdown_json(const struct walk_time *t)
{
	cJSON *o = cJSON_CreateObject();
	time_json_fields(o, t);
	return o;
}
