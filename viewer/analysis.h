/*
 * The seven analyses of go tool trace, as walk consumers that aggregate
 * and then describe themselves as one JSON document. The text reports, the
 * web UI and -format=json all print that document, so they agree.
 */
#ifndef CPROF_ANALYSIS_H
#define CPROF_ANALYSIS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

#include "stats.h"
#include "walk.h"

/* The analyses, in the order the CLI lists them and the UI's menu shows
 * them; everything else about them is in analysis_registry. */
enum analysis_kind {
	AN_THREADS,
	AN_SYNC,
	AN_NET,
	AN_SYSCALL,
	AN_SCHED,
	AN_TASKS,
	AN_REGIONS,
	AN_CPU,
	AN_COUNT
};

struct analysis;

/* One analysis, as the CLI (-report, -pprof), the web UI (/api/report, its
 * menu and pages) and the tests name, run and print it. */
struct analysis_def {
	const char *name;  /* -report=NAME, /api/report?name=NAME, the UI's #NAME */
	const char *title; /* heading of the text report and the UI's page */
	const char *nav;   /* the UI's menu entry */
	const char *page;  /* the UI's renderer: "threads", "profile", "named" or "cpu" */
	int cls;           /* profiles: the walk class of the delay they sum (they
			    * have -pprof); -1 for the others */
	/* sets the walk hooks the analysis aggregates with (NULL: none, it
	 * reads the walk's threads at the end) */
	void (*consumer)(struct walk_consumer *c);
	/* adds the analysis's fields to its document (after the walk) */
	void (*json)(const struct analysis *a, const struct walk *w, cJSON *doc);
	/* prints the document's body as text (report_text.c) */
	void (*text)(FILE *out, const cJSON *doc);
};

/* Indexed by enum analysis_kind. */
extern const struct analysis_def analysis_registry[AN_COUNT];

/* The kind named s, or -1. */
int analysis_by_name(const char *s);
static inline int analysis_is_profile(int kind)
{
	return kind >= 0 && kind < AN_COUNT && analysis_registry[kind].cls >= 0;
}
/* "threads, sync, ..." into buf (profiles only when profiles is set). */
const char *analysis_list(char *buf, size_t len, int profiles);

struct analysis {
	int kind;
	/* profiles: key = stack id, total = delay; tasks: key = name id;
	 * regions: key = name id << 32 | enclosing task's name id */
	struct stat_table stats;
	/* cpu: only samples in [range_begin, range_end) ns since the trace's
	 * first event count, when has_range */
	int has_range;
	int64_t range_begin, range_end;
};

void analysis_init(struct analysis *a, int kind);
/* The walk consumer that feeds a (the registry's hooks). */
struct walk_consumer analysis_consumer(struct analysis *a);
/* The report document (after the walk): "report", "trace" and the
 * registry's fields; the caller frees it. */
cJSON *analysis_json(const struct analysis *a, const struct walk *w);
void analysis_free(struct analysis *a);

/* The registry's consumer and json entries (analysis.c). */
void analysis_profile_hooks(struct walk_consumer *c);
void analysis_tasks_hooks(struct walk_consumer *c);
void analysis_regions_hooks(struct walk_consumer *c);
void analysis_threads_json(const struct analysis *a, const struct walk *w, cJSON *doc);
void analysis_profile_json(const struct analysis *a, const struct walk *w, cJSON *doc);
void analysis_named_json(const struct analysis *a, const struct walk *w, cJSON *doc);
/* cpu (analysis_cpu.c): CPU samples by stack, and functions flat/cum */
void analysis_cpu_hooks(struct walk_consumer *c);
void analysis_cpu_json(const struct analysis *a, const struct walk *w, cJSON *doc);
/* "START:END" (ns, START < END) into a's range: 0, or -1 malformed. */
int analysis_parse_range(struct analysis *a, const char *s);

/* The common header of every report: file, events, span, drops, warning. */
cJSON *walk_summary_json(const struct walk *w);
/* [{"function","file","line","module"}], leaf first. */
cJSON *stack_json(const struct walk *w, uint32_t stack);

/* One task name's drill-down: up to `limit` tasks named `name` whose
 * duration is in [min_ns, max_ns], each with its breakdown and its
 * regions, blocks and logs in time order across threads. Two walks.
 * Returns NULL with *err set on a file error. */
cJSON *task_detail_json(const char *path, const char *name, int64_t min_ns, int64_t max_ns, int limit,
			char *err, size_t errlen);

#endif
