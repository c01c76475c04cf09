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
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "http/http.h"
#include "http/m_lazy.h"
#include "interpose/contention.h"
#include "interpose/heap.h"
#include "core/text.h"
#include "interpose/interpose.h"
#include "profiles/stackprof.h"
#include "stacks/stack.h"

static const struct cprof_value_type contention_types[] = {{"contentions", "count"}, {"delay", "nanoseconds"}};

/* Room for row n of a profile's (ids, vals) arrays, nvals values a row:
 * both double when full. Returns 0, or -1 out of memory (the arrays and
 * cap stay as they were, valid). */
static int rows_reserve(uint32_t **ids, int64_t **vals, uint32_t n, uint32_t *cap, unsigned nvals)
{
	if (n < *cap)
		return 0;
	uint32_t ncap = *cap * 2;
	uint32_t *ni = realloc(*ids, (size_t)ncap * sizeof *ni);
	if (!ni)
		return -1;
	*ids = ni;
	int64_t *nv = realloc(*vals, (size_t)ncap * nvals * sizeof *nv);
	if (!nv)
		return -1;
	*vals = nv;
	*cap = ncap;
	return 0;
}

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
		if (rows_reserve(&ids, &vals, n, &cap, 2))
			break;
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

/* Go's text form of block and mutex (?debug=1): "--- contention:" or
 * "--- mutex:", cycles/second (our clock's ticks), then per stack
 * "cycles count @ pcs" and its frames. */
static void frames_text(struct text *t, uint32_t id)
{
	uint32_t depth = 0;
	const uintptr_t *pcs = id ? cprof_stack_get(id, &depth) : NULL;
	text_add(t, " @");
	for (uint32_t k = 0; pcs && k < depth; k++)
		text_add(t, " %#lx", (unsigned long)pcs[k]);
	text_add(t, "\n");
	for (uint32_t k = 0; pcs && k < depth; k++) {
		struct cprof_frame f;
		cprof_symbolize(pcs[k], k == 0, &f);
		uint32_t len;
		const char *fn = cprof_string_get(f.function, &len), *file = cprof_string_get(f.file, &len);
		text_add(t, "#\t%#lx\t%s", (unsigned long)pcs[k], fn ? fn : "?");
		if (file)
			text_add(t, "\t%s:%u\n", file, f.line);
		else
			text_add(t, "\n");
	}
	text_add(t, "\n");
}

void cprof_contention_text(int mutex, struct text *t)
{
	const struct cprof_contention *tab = mutex ? cprof_mutexprof_table() : cprof_blockprof_table();
	uint64_t hz = cprof_clock_tsc ? cprof_clock_ticks_per_sec() : 1000000000u;
	text_add(t, "--- %s:\ncycles/second=%llu\n", mutex ? "mutex" : "contention", (unsigned long long)hz);
	if (mutex)
		text_add(t, "sampling period=%u\n", cprof_mutexprof_fraction);
	for (uint32_t id = 0; id <= CPROF_STACK_IDS; id++) {
		uint64_t c = atomic_load_explicit(&tab[id].count, memory_order_relaxed);
		if (!c)
			continue;
		text_add(t, "%llu %llu", (unsigned long long)atomic_load_explicit(&tab[id].ticks, memory_order_relaxed),
			 (unsigned long long)c);
		frames_text(t, id);
	}
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
					if (rows_reserve(&ids, &vals, n, &cap, 1))
						goto done;
					ids[n] = id;
					vals[n++] = 0;
				}
				vals[i]++;
			}
			p = end ? end + 1 : NULL;
		}
	}
	if (unknown) {
		if (rows_reserve(&ids, &vals, n, &cap, 1))
			goto done;
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
	if (strcmp(name, "heap") == 0 || strcmp(name, "allocs") == 0) {
		const struct cprof_heap_stack *h = cprof_heap_table();
		uint64_t c = 0;
		for (uint32_t id = 0; id <= CPROF_STACK_IDS; id++)
			c += atomic_load_explicit(&h[id].allocs, memory_order_relaxed) != 0;
		return c;
	}
	const struct cprof_contention *t = strcmp(name, "block") == 0   ? cprof_blockprof_table()
					   : strcmp(name, "mutex") == 0 ? cprof_mutexprof_table()
									: NULL;
	uint64_t c = 0;
	for (uint32_t id = 0; t && id <= CPROF_STACK_IDS; id++)
		c += atomic_load_explicit(&t[id].count, memory_order_relaxed) != 0;
	return c;
}

/* ---- heap and allocs ---- */

/* Go's scaleHeapSample: a block of average size s was sampled with
 * probability 1 - e^(-s/rate); count and bytes scaled up by its inverse. */
static void scale(uint64_t count, uint64_t bytes, uint64_t rate, int64_t *c, int64_t *b)
{
	if (!count || !bytes || rate <= 1) {
		*c = (int64_t)count, *b = (int64_t)bytes;
		return;
	}
	double avg = (double)bytes / (double)count, k = 1 / (1 - cprof_exp(-avg / (double)rate));
	*c = (int64_t)((double)count * k + 0.5);
	*b = (int64_t)((double)bytes * k + 0.5);
}

/* Every stack with sampled allocations: ids and four values each
 * (alloc_objects, alloc_space, inuse_objects, inuse_space). */
static uint32_t heap_rows(uint32_t **ids_out, int64_t **vals_out)
{
	const struct cprof_heap_stack *t = cprof_heap_table();
	uint32_t n = 0, cap = 1024;
	uint32_t *ids = malloc(cap * sizeof *ids);
	int64_t *vals = malloc(cap * 4 * sizeof *vals);
	uint64_t rate = cprof_heap_rate;
	for (uint32_t id = 0; ids && vals && id <= CPROF_STACK_IDS; id++) {
		uint64_t a = atomic_load_explicit(&t[id].allocs, memory_order_relaxed);
		if (!a)
			continue;
		uint64_t ab = atomic_load_explicit(&t[id].alloc_bytes, memory_order_relaxed);
		uint64_t f = atomic_load_explicit(&t[id].frees, memory_order_relaxed);
		uint64_t fb = atomic_load_explicit(&t[id].free_bytes, memory_order_relaxed);
		if (f > a) /* read while a free landed: never negative */
			f = a;
		if (fb > ab)
			fb = ab;
		if (rows_reserve(&ids, &vals, n, &cap, 4))
			break;
		ids[n] = id;
		scale(a, ab, rate, &vals[4 * n], &vals[4 * n + 1]);
		scale(a - f, ab - fb, rate, &vals[4 * n + 2], &vals[4 * n + 3]);
		n++;
	}
	if (!ids || !vals) {
		free(ids);
		free(vals);
		ids = NULL, vals = NULL, n = 0;
	}
	*ids_out = ids;
	*vals_out = vals;
	return n;
}

static const struct cprof_value_type heap_types[] = {
	{"alloc_objects", "count"}, {"alloc_space", "bytes"}, {"inuse_objects", "count"}, {"inuse_space", "bytes"}};
static const struct cprof_value_type heap_period = {"space", "bytes"};

/* heap (inuse_space first) or allocs (alloc_space): the same profile. */
int cprof_pprof_heap(int allocs, struct trace_buf *out)
{
	uint32_t *ids;
	int64_t *vals;
	uint32_t n = heap_rows(&ids, &vals);
	int rc = cprof_stackprof_build(heap_types, 4, allocs ? "alloc_space" : "inuse_space", &heap_period,
				       (int64_t)cprof_heap_rate, ids ? ids : (uint32_t[1]){0}, vals, n, out);
	free(ids);
	free(vals);
	return rc;
}

/* Go's text form (?debug=1): a header of totals, then per stack
 * "inuse_objects: inuse_bytes [alloc_objects: alloc_bytes] @ pcs" and its
 * frames. */
void cprof_heap_text(struct text *t)
{
	uint32_t *ids;
	int64_t *vals;
	uint32_t n = heap_rows(&ids, &vals);
	int64_t tot[4] = {0};
	for (uint32_t i = 0; i < n; i++)
		for (int k = 0; k < 4; k++)
			tot[k] += vals[4 * i + k];
	text_add(t, "heap profile: %lld: %lld [%lld: %lld] @ heap/%llu\n", (long long)tot[2], (long long)tot[3],
		 (long long)tot[0], (long long)tot[1], (unsigned long long)cprof_heap_rate * 2);
	for (uint32_t i = 0; i < n; i++) {
		text_add(t, "%lld: %lld [%lld: %lld]", (long long)vals[4 * i + 2], (long long)vals[4 * i + 3],
			 (long long)vals[4 * i], (long long)vals[4 * i + 1]);
		frames_text(t, ids[i]);
	}
	text_add(t, "\n# cprof-trace: MemProfileRate = %llu (CPROF_TRACE_MEM_RATE); samples lost (live table full): %llu\n",
		 (unsigned long long)cprof_heap_rate, (unsigned long long)cprof_heap_lost());
	free(ids);
	free(vals);
}
