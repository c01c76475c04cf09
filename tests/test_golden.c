/*
 * Golden tests of the walk and everything built on it: each
 * tests/golden/NAME.txt (a trace in text, tests/text_trace.h) is turned into
 * a binary trace by the real writer, walked from memory once with every
 * analysis of the registry and the Chrome JSON writer as consumers, and the
 * documents are compared with tests/golden/NAME.json:
 *   {"reports": {"threads": {...}, "sync": {...}, ...}, "chrome": {...}}
 * and, for traces with kernel states or CPU samples, the timeline's kernel
 * layers: "timeline": {"states": {TID: [[begin, end, state, cpu]...]},
 * "samples": {TID: [ns...]}, "cpus": [[[begin, end, tid]...]...],
 * "counts": [[ns, running, runnable]...]} (ns since the trace's start).
 * On a difference it prints the first differing path and writes the actual
 * document next to the test's working directory.
 *
 *   test_golden DIR             compare every DIR/ *.txt
 *   UPDATE_GOLDEN=1 test_golden DIR   rewrite the expected documents
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "check.h"
#include "chrome_json.h"
#include "slurp.h"
#include "text_trace.h"
#include "timeline.h"

/* The timeline's kernel layers as JSON (see above); NULL when it has none. */
static cJSON *kernel_layers(const struct timeline *tl, const struct walk *w)
{
	if (!tl->states && !tl->samples)
		return NULL;
	cJSON *o = cJSON_CreateObject();
	cJSON *states = cJSON_AddObjectToObject(o, "states"), *samples = cJSON_AddObjectToObject(o, "samples");
	for (uint32_t i = 0; i < tl->nthreads; i++) {
		const struct tl_thread *th = &tl->threads[i];
		char tid[16];
		snprintf(tid, sizeof tid, "%u", th->tid);
		if (th->states.n) {
			cJSON *a = cJSON_AddArrayToObject(states, tid);
			for (uint32_t j = 0; j < th->states.n; j++) {
				const struct tl_span *sp = &th->states.s[j];
				cJSON *e = cJSON_CreateArray();
				cJSON_AddItemToArray(e, cJSON_CreateNumber((double)(sp->begin - w->begin)));
				cJSON_AddItemToArray(e, cJSON_CreateNumber((double)(sp->end - w->begin)));
				cJSON_AddItemToArray(e, cJSON_CreateString(sp->name == WALK_RUNNING ? "running"
									   : sp->name == WC_SCHED  ? "runnable"
												   : walk_class_names[sp->name]));
				cJSON_AddItemToArray(e, cJSON_CreateNumber((double)sp->meta - 1));
				cJSON_AddItemToArray(a, e);
			}
		}
		if (th->nsamples) {
			cJSON *a = cJSON_AddArrayToObject(samples, tid);
			for (uint32_t j = 0; j < th->nsamples; j++)
				cJSON_AddItemToArray(a, cJSON_CreateNumber((double)(th->samples[j] - w->begin)));
		}
	}
	cJSON *cpus = cJSON_AddArrayToObject(o, "cpus");
	for (uint32_t c = 0; c < tl->ncpus; c++) {
		cJSON *a = cJSON_CreateArray();
		for (uint32_t j = 0; j < tl->cpus[c].n; j++) {
			const struct tl_span *sp = &tl->cpus[c].s[j];
			double v[3] = {(double)(sp->begin - w->begin), (double)(sp->end - w->begin), tl->threads[sp->name].tid};
			cJSON_AddItemToArray(a, cJSON_CreateDoubleArray(v, 3));
		}
		cJSON_AddItemToArray(cpus, a);
	}
	cJSON *counts = cJSON_AddArrayToObject(o, "counts");
	for (uint64_t k = 0; k < tl->ncounts; k++) {
		double v[3] = {(double)(tl->counts[k].ts - w->begin), tl->counts[k].running, tl->counts[k].runnable};
		cJSON_AddItemToArray(counts, cJSON_CreateDoubleArray(v, 3));
	}
	return o;
}

/* Runs the analyses and the Chrome JSON over the trace; NULL on a walk error. */
static cJSON *documents(const char *name, const struct trace_buf *trace)
{
	struct analysis an[AN_COUNT];
	struct walk_consumer c[AN_COUNT + 2];
	for (int k = 0; k < AN_COUNT; k++) {
		analysis_init(&an[k], k);
		c[k] = analysis_consumer(&an[k]);
	}
	char *json = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&json, &len);
	struct chrome_json cj;
	c[AN_COUNT] = chrome_json_consumer(&cj, out);
	struct timeline tl = {0};
	c[AN_COUNT + 1] = timeline_consumer(&tl);
	struct walk w = {0};
	int rc = walk_buffer(&w, name, trace->p, trace->len, c, AN_COUNT + 2);
	fclose(out);
	cJSON *doc = NULL;
	CHECKF(rc == 0, "%s: walk: %s", name, w.error);
	if (rc == 0) {
		doc = cJSON_CreateObject();
		cJSON *reports = cJSON_AddObjectToObject(doc, "reports");
		for (int k = 0; k < AN_COUNT; k++)
			cJSON_AddItemToObject(reports, analysis_registry[k].name, analysis_json(&an[k], &w));
		cJSON *chrome = cJSON_Parse(json);
		CHECKF(chrome != NULL, "%s: the Chrome JSON does not parse: %.80s", name, json);
		cJSON_AddItemToObject(doc, "chrome", chrome ? chrome : cJSON_CreateNull());
		cJSON *k = kernel_layers(&tl, &w);
		if (k)
			cJSON_AddItemToObject(doc, "timeline", k);
	}
	timeline_free(&tl);
	for (int k = 0; k < AN_COUNT; k++)
		analysis_free(&an[k]);
	chrome_json_free(&cj);
	walk_close(&w);
	free(json);
	return doc;
}

/* Prints the first path where a and b differ; 1 when they do. */
static int first_difference(const cJSON *a, const cJSON *b, char *path, size_t len)
{
	if (cJSON_Compare(a, b, 1))
		return 0;
	size_t at = strlen(path);
	if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
		const cJSON *x;
		cJSON_ArrayForEach(x, a) {
			snprintf(path + at, len - at, ".%s", x->string);
			const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
			if (!y || first_difference(x, y, path, len))
				return 1;
		}
		snprintf(path + at, len - at, " (keys differ)");
		return 1;
	}
	if (cJSON_IsArray(a) && cJSON_IsArray(b) && cJSON_GetArraySize(a) == cJSON_GetArraySize(b)) {
		for (int i = 0; i < cJSON_GetArraySize(a); i++) {
			snprintf(path + at, len - at, "[%d]", i);
			if (first_difference(cJSON_GetArrayItem(a, i), cJSON_GetArrayItem(b, i), path, len))
				return 1;
		}
	}
	char *x = cJSON_PrintUnformatted(a), *y = cJSON_PrintUnformatted(b);
	snprintf(path + strlen(path), len - strlen(path), ": expected %.200s, got %.200s", x, y);
	free(x);
	free(y);
	return 1;
}

static void run_case(const char *dir, const char *file, int update)
{
	char txt[1024], expected_path[1024], name[256];
	snprintf(txt, sizeof txt, "%s/%s", dir, file);
	snprintf(name, sizeof name, "%.*s", (int)(strlen(file) - 4), file);
	snprintf(expected_path, sizeof expected_path, "%s/%s.json", dir, name);
	char *text = slurp(txt, NULL);
	CHECKF(text != NULL, "%s unreadable", txt);
	struct trace_buf trace = {0};
	char err[300];
	int rc = text ? text_trace_convert(text, &trace, err, sizeof err) : -1;
	CHECKF(rc == 0, "%s: %s", txt, err);
	cJSON *actual = rc == 0 ? documents(name, &trace) : NULL;
	if (actual && update) {
		char *s = cJSON_Print(actual);
		FILE *f = fopen(expected_path, "w");
		CHECKF(f && fprintf(f, "%s\n", s) > 0 && fclose(f) == 0, "cannot write %s", expected_path);
		printf("golden %s: written\n", name);
		free(s);
	} else if (actual) {
		char *want = slurp(expected_path, NULL);
		cJSON *expected = want ? cJSON_Parse(want) : NULL;
		char path[2048] = "";
		int differs = !expected || first_difference(expected, actual, path, sizeof path);
		CHECKF(!differs, "%s: %s%s", name, expected ? "differs at " : "no valid expected document ",
		       expected ? path : expected_path);
		if (differs) {
			char out[300];
			snprintf(out, sizeof out, "%s.actual.json", name);
			char *s = cJSON_Print(actual);
			FILE *f = fopen(out, "w");
			if (f) {
				fprintf(f, "%s\n", s);
				fclose(f);
			}
			free(s);
			fprintf(stderr, "golden %s: the actual document is in %s (UPDATE_GOLDEN=1 to accept it)\n", name,
				out);
		} else {
			printf("golden %s: ok\n", name);
		}
		cJSON_Delete(expected);
		free(want);
	}
	cJSON_Delete(actual);
	trace_buf_free(&trace);
	free(text);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_txt(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 4 && strcmp(d->d_name + n - 4, ".txt") == 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: [UPDATE_GOLDEN=1] test_golden DIR\n");
		return 2;
	}
	const char *u = getenv("UPDATE_GOLDEN");
	int update = u && *u && strcmp(u, "0") != 0;
	struct dirent **list;
	int n = scandir(argv[1], &list, is_txt, by_name);
	CHECKF(n >= 5, "%d golden cases in %s, want at least 5", n, argv[1]);
	for (int i = 0; i < n; i++) {
		run_case(argv[1], list[i]->d_name, update);
		free(list[i]);
	}
	if (n >= 0)
		free(list);
	return check_done("test_golden");
}
