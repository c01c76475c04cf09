/*
 * The cpu analysis: the trace's CPU samples (CPU_SAMPLE, one per 1/cpu_hz
 * s of a thread's CPU time, with its stack), counted by stack, optionally
 * only those inside a time range. Its document has the stacks (the UI's
 * flame graph) and the functions' flat and cumulative samples, like
 * `go tool pprof -top`: flat = samples with the function as the leaf, cum
 * = samples with it anywhere on the stack (once per sample).
 *
 * Workload: ~cpu_hz samples per busy CPU-second, a few thousand distinct
 * stacks; one stat entry per stack, one map entry per function.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "grow.h"

/* ns of CPU time a sample stands for: 1e9 / cpu_hz (100 Hz when unknown) */
static int64_t sample_period(const struct walk *w)
{
	uint32_t hz = w->r.header.cpu_hz;
	return 1000000000 / (int64_t)(hz ? hz : 100);
}

static void on_sample(void *self, struct walk *w, const struct walk_sample *s)
{
	struct analysis *a = self;
	int64_t rel = s->ts - w->begin; /* w->begin is final in pass 2 (walk.h) */
	if (a->has_range && (rel < a->range_begin || rel >= a->range_end))
		return;
	struct walk_time t = {.total = sample_period(w)};
	stat_add(&a->stats, s->stack, t.total, &t);
}

void analysis_cpu_hooks(struct walk_consumer *c)
{
	c->sample = on_sample;
}

int analysis_parse_range(struct analysis *a, const char *s)
{
	char *end;
	errno = 0;
	long long b = strtoll(s, &end, 10);
	if (errno || end == s || *end != ':')
		return -1;
	const char *p = end + 1;
	long long e = strtoll(p, &end, 10);
	if (errno || end == p || *end || e <= b)
		return -1;
	a->has_range = 1;
	a->range_begin = b;
	a->range_end = e;
	return 0;
}

/* One function of the top list. */
struct func {
	uint32_t function, module; /* string ids (function 0: unsymbolized) */
	uint32_t file;
	uint64_t module_offset;    /* of an unsymbolized frame: its name */
	uint64_t flat, cum;        /* samples */
};

static int by_flat(const void *x, const void *y)
{
	const struct func *a = x, *b = y;
	if (a->flat != b->flat)
		return a->flat < b->flat ? 1 : -1;
	return (a->cum < b->cum) - (a->cum > b->cum);
}

/* A function's key: its string id; an unsymbolized frame is its own
 * function, module + offset, like go tool pprof names an address (bit 63
 * set; module and offset folded into the rest: a collision would need
 * 2^22 modules or offsets past 1 TiB). */
static uint64_t frame_key(const struct cprof_frame *f)
{
	if (f->function)
		return f->function;
	return 1ull << 63 | (f->module_offset & ((1ull << 41) - 1)) << 22 | (f->module & ((1u << 22) - 1));
}

void analysis_cpu_json(const struct analysis *a, const struct walk *w, cJSON *doc)
{
	int64_t period = sample_period(w);
	uint64_t samples = 0;
	for (uint32_t i = 0; i < a->stats.n; i++)
		samples += a->stats.e[i].count;
	cJSON_AddNumberToObject(doc, "samples", (double)samples);
	cJSON_AddNumberToObject(doc, "cpu_ns", (double)samples * (double)period);
	cJSON_AddNumberToObject(doc, "period_ns", (double)period);
	cJSON_AddNumberToObject(doc, "cpu_hz", w->r.header.cpu_hz);
	if (a->has_range) {
		cJSON *r = cJSON_AddObjectToObject(doc, "range");
		cJSON_AddNumberToObject(r, "begin_ns", (double)a->range_begin);
		cJSON_AddNumberToObject(r, "end_ns", (double)a->range_end);
	} else {
		cJSON_AddNullToObject(doc, "range");
	}
	/* functions: key = function string id, or frame_key() unsymbolized */
	struct u64map idx = {0};
	struct func *f = NULL;
	uint32_t nf = 0, capf = 0;
	for (uint32_t i = 0; i < a->stats.n; i++) {
		const struct stat_entry *e = &a->stats.e[i];
		const struct trace_stack *s = e->key ? trace_reader_stack(&w->r, (uint32_t)e->key) : NULL;
		uint32_t n = s ? s->nframes : 0;
		for (uint32_t k = 0; k < n; k++) {
			const struct cprof_frame *fr = &s->frames[k];
			uint64_t key = frame_key(fr);
			int seen = 0; /* recursion: cum counts a sample once */
			for (uint32_t j = 0; j < k && !seen; j++) {
				const struct cprof_frame *o = &s->frames[j];
				seen = frame_key(o) == key;
			}
			uint32_t at = (uint32_t)u64map_get(&idx, key);
			if (!at) {
				if (GROW(f, nf, capf, 64) || u64map_put(&idx, key, nf + 1))
					break;
				f[nf] = (struct func){.function = fr->function, .module = fr->module, .file = fr->file,
						      .module_offset = fr->module_offset};
				at = ++nf;
			}
			if (k == 0)
				f[at - 1].flat += e->count;
			if (!seen)
				f[at - 1].cum += e->count;
		}
	}
	if (nf)
		qsort(f, nf, sizeof *f, by_flat);
	cJSON *arr = cJSON_AddArrayToObject(doc, "functions");
	for (uint32_t i = 0; i < nf; i++) {
		cJSON *o = cJSON_CreateObject();
		char name[300];
		if (f[i].function)
			snprintf(name, sizeof name, "%s", walk_string(w, f[i].function));
		else
			snprintf(name, sizeof name, "%s+%#" PRIx64, f[i].module ? walk_string(w, f[i].module) : "?",
				 f[i].module_offset);
		cJSON_AddStringToObject(o, "function", name);
		cJSON_AddStringToObject(o, "file", f[i].file ? walk_string(w, f[i].file) : "");
		cJSON_AddNumberToObject(o, "flat", (double)f[i].flat);
		cJSON_AddNumberToObject(o, "flat_ns", (double)f[i].flat * (double)period);
		cJSON_AddNumberToObject(o, "cum", (double)f[i].cum);
		cJSON_AddNumberToObject(o, "cum_ns", (double)f[i].cum * (double)period);
		cJSON_AddItemToArray(arr, o);
	}
	free(f);
	u64map_free(&idx);
	/* stacks, most sampled first: the UI's flame graph */
	arr = cJSON_AddArrayToObject(doc, "stacks");
	struct stat_entry **v = stat_sorted(&a->stats);
	for (uint32_t i = 0; v && i < a->stats.n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "stack_id", (double)v[i]->key);
		cJSON_AddNumberToObject(o, "count", (double)v[i]->count);
		cJSON_AddNumberToObject(o, "total_ns", (double)v[i]->total);
		cJSON_AddItemToObject(o, "frames", stack_json(w, (uint32_t)v[i]->key));
		cJSON_AddItemToArray(arr, o);
	}
	free(v);
}
