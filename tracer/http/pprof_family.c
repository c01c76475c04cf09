/*
 * The rest of Go's /debug/pprof as pprof profiles: block, mutex, goroutine
 * and threadcreate (heap and allocs: see profiles/ when present).
 *
 * Each builds its profile on the HTTP thread from counters the program's
 * threads keep without a lock (interpose/contention.c, interpose/thread.c)
 * or, for goroutine, from the ptrace helper's report (goroutine.c): no
 * program thread waits for a profile, and none is stopped except by the
 * helper's ptrace of each thread for the goroutine profile (an unwind each).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "http/http.h"
#include "interpose/contention.h"
#include "interpose/interpose.h"
#include "profiles/stackprof.h"
#include "stacks/stack.h"

static const struct cprof_value_type contention_types[] = {{"contentions", "count"}, {"delay", "nanoseconds"}};

/* block or mutex: every stack id with contentions. */
static int contention_profile(const struct cprof_contention *t, struct trace_buf *out)
{
	uint32_t n = 0, cap = 1024;
	uint32_t *ids = malloc(cap * sizeof *ids);
	int64_t *vals = malloc(cap * 2 * sizeof *vals);
	double ns_per_tick = cprof_clock_tsc ? 1e9 / (double)cprof_clock_ticks_per_sec() : 1.0;
	for (uint32_t id = 0; ids && vals && id <= CPROF_STACK_IDS; id++) {
		uint64_t c = atomic_load_explicit(&t[id].count, memory_order_relaxed);
		if (!c)
			continue;
		if (n == cap) {
			cap *= 2;
			uint32_t *ni = realloc(ids, cap * sizeof *ids);
			if (ni)
				ids = ni;
			int64_t *nv = ni ? realloc(vals, cap * 2 * sizeof *vals) : NULL;
			if (!nv)
				break;
			vals = nv;
		}
		ids[n] = id;
		vals[2 * n] = (int64_t)c;
		vals[2 * n + 1] = (int64_t)((double)atomic_load_explicit(&t[id].ticks, memory_order_relaxed) * ns_per_tick);
		n++;
	}
	int rc = ids && vals ? cprof_stackprof_build(contention_types, 2, NULL, &contention_types[0], 1, ids, vals, n, out)
			     : -ENOMEM;
	free(ids);
	free(vals);
	return rc;
}

int cprof_pprof_block(struct trace_buf *out)
{
	return contention_profile(cprof_blockprof_table(), out);
}

int cprof_pprof_mutex(struct trace_buf *out)
{
	return contention_profile(cprof_mutexprof_table(), out);
}

int cprof_pprof_threadcreate(struct trace_buf *out)
{
	enum { CAP = 4096 };
	static const struct cprof_value_type type = {"threadcreate", "count"};
	uint32_t *ids = malloc(CAP * sizeof *ids), *counts = malloc(CAP * sizeof *counts), n = 0;
	int64_t *vals = malloc(CAP * sizeof *vals);
	int rc = -ENOMEM;
	if (ids && counts && vals) {
		cprof_threadcreate_counts(ids, counts, CAP, &n);
		for (uint32_t i = 0; i < n; i++)
			vals[i] = counts[i];
		rc = cprof_stackprof_build(&type, 1, NULL, &type, 1, ids, vals, n, out);
	}
	free(ids);
	free(counts);
	free(vals);
	return rc;
}

/* Parses the helper's report ("T tid" lines, then frames with "pc=0x..."),
 * interns each thread's stack and counts threads by stack id. */
int cprof_pprof_goroutine(struct trace_buf *out)
{
	static const struct cprof_value_type type = {"goroutine", "count"};
	char *report = cprof_threads_report();
	uint32_t cap = 256, n = 0;
	uint32_t *ids = malloc(cap * sizeof *ids);
	int64_t *vals = malloc(cap * sizeof *vals);
	int rc = -ENOMEM;
	if (!ids || !vals)
		goto done;
	uint32_t unknown = 0; /* threads without a stack */
	if (!report || report[0] == 'E') {
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;
		while (d && (e = readdir(d)))
			unknown += atoi(e->d_name) > 0;
		if (d)
			closedir(d);
	} else {
		for (char *p = report; p && *p;) {
			if (strncmp(p, "T ", 2) != 0) {
				p = strchr(p, '\n');
				p = p ? p + 1 : NULL;
				continue;
			}
			char *end = strstr(p + 1, "\nT ");
			if (end)
				*end = 0;
			uintptr_t pcs[CPROF_STACK_DEPTH];
			uint32_t depth = 0;
			for (char *q = p; depth < CPROF_STACK_DEPTH && (q = strstr(q, "pc=0x")); q += 5)
				pcs[depth++] = (uintptr_t)strtoull(q + 3, NULL, 16);
			uint32_t id = depth ? cprof_stack_intern(pcs, depth) : 0;
			if (!id) {
				unknown++;
			} else {
				uint32_t i = 0;
				while (i < n && ids[i] != id)
					i++;
				if (i == n) {
					if (n == cap) {
						cap *= 2;
						uint32_t *ni = realloc(ids, cap * sizeof *ids);
						if (ni)
							ids = ni;
						int64_t *nv = ni ? realloc(vals, cap * sizeof *vals) : NULL;
						if (!nv)
							goto done;
						vals = nv;
					}
					ids[n] = id;
					vals[n++] = 0;
				}
				vals[i]++;
			}
			p = end ? end + 1 : NULL;
		}
	}
	if (unknown) {
		if (n == cap) {
			uint32_t *ni = realloc(ids, (cap + 1) * sizeof *ids);
			if (ni)
				ids = ni;
			int64_t *nv = ni ? realloc(vals, (cap + 1) * sizeof *vals) : NULL;
			if (!nv)
				goto done;
			vals = nv;
		}
		ids[n] = 0;
		vals[n++] = unknown;
	}
	rc = cprof_stackprof_build(&type, 1, NULL, &type, 1, ids, vals, n, out);
done:
	free(report);
	free(ids);
	free(vals);
	return rc;
}

/* Totals for the index: samples (stacks) of each profile. */
uint64_t cprof_pprof_count(const char *name)
{
	const struct cprof_contention *t = strcmp(name, "block") == 0   ? cprof_blockprof_table()
					   : strcmp(name, "mutex") == 0 ? cprof_mutexprof_table()
									: NULL;
	uint64_t c = 0;
	for (uint32_t id = 0; t && id <= CPROF_STACK_IDS; id++)
		c += atomic_load_explicit(&t[id].count, memory_order_relaxed) != 0;
	return c;
}
