/*
 * check_chrome_json FILE [min-regions]: the rules Perfetto and speedscope
 * rely on, checked on a -json output: valid JSON with a traceEvents array;
 * per thread, B/E nest and every E names its B; X slices have dur >= 0 and
 * a blocking category; async task b/e pair by id; flow s/f pair by id; every
 * thread with events has thread_name metadata.
 */
#include <cjson/cJSON.h>
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

#define MAXT 4096
struct tstate {
	int tid, depth, named, events;
	const char *stack[512];
};
static struct tstate threads[MAXT];
static int nthreads;

static struct tstate *tstate(int tid)
{
	for (int i = 0; i < nthreads; i++)
		if (threads[i].tid == tid)
			return &threads[i];
	if (nthreads == MAXT)
		return &threads[0];
	threads[nthreads].tid = tid;
	return &threads[nthreads++];
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	long min_regions = argc > 2 ? atol(argv[2]) : 0;
	char *text = slurp(argv[1], NULL);
	CHECKF(text != NULL, "%s unreadable", argv[1]);
	cJSON *doc = text ? cJSON_Parse(text) : NULL;
	CHECKF(doc != NULL, "not valid JSON near: %.60s", cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "?");
	const cJSON *evs = cJSON_GetObjectItemCaseSensitive(doc, "traceEvents");
	CHECK(cJSON_IsArray(evs));
	long regions = 0, bad_nest = 0, bad_x = 0, async_open = 0, flows = 0, total = 0;
	char (*async_ids)[40] = calloc(1 << 16, 40);
	const cJSON *e;
	cJSON_ArrayForEach(e, evs) {
		total++;
		const char *ph = sget(e, "ph"), *name = sget(e, "name");
		int tid = (int)nget(e, "tid");
		if (!ph)
			continue;
		struct tstate *t = tstate(tid);
		if (strcmp(ph, "M") == 0) {
			if (name && strcmp(name, "thread_name") == 0)
				t->named = 1;
			continue;
		}
		t->events++;
		if (strcmp(ph, "B") == 0) {
			regions++;
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
		} else if (strcmp(ph, "X") == 0) {
			const char *cat = sget(e, "cat");
			bad_x += nget(e, "dur") < 0 || !cat ||
				 (strcmp(cat, "sync") && strcmp(cat, "net") && strcmp(cat, "syscall"));
		} else if (strcmp(ph, "b") == 0 || strcmp(ph, "e") == 0) {
			const char *id = sget(e, "id");
			async_open += strcmp(ph, "b") == 0 ? 1 : -1;
			CHECK(id && sget(e, "cat") && name); /* Perfetto: same cat, name, id on both ends */
		} else if (strcmp(ph, "s") == 0) {
			flows++;
		} else if (strcmp(ph, "f") == 0) {
			flows--;
		}
	}
	free(async_ids);
	int unnamed = 0;
	for (int i = 0; i < nthreads; i++)
		unnamed += threads[i].events && !threads[i].named;
	CHECKF(bad_nest == 0, "%ld E events not closing their B by name", bad_nest);
	CHECKF(bad_x == 0, "%ld bad X slices", bad_x);
	CHECKF(async_open >= 0, "more task ends than begins: %ld", async_open);
	CHECKF(flows == 0, "unpaired flow events: %ld", flows);
	CHECKF(unnamed == 0, "%d threads without thread_name", unnamed);
	CHECKF(regions >= min_regions, "%ld regions, want at least %ld", regions, min_regions);
	printf("check_chrome_json: %ld events, %ld regions, %d threads\n", total, regions, nthreads);
	cJSON_Delete(doc);
	free(text);
	return check_done("check_chrome_json");
}
