/*
 * The seven analyses of go tool trace, as walk consumers that aggregate
 * and then describe themselves as one JSON document. The text reports, the
 * web UI and -format=json all print that document, so they agree.
 */
#ifndef CPROF_ANALYSIS_H
#define CPROF_ANALYSIS_H

#include <cjson/cJSON.h>

#include "stats.h"
#include "walk.h"

enum analysis_kind {
	AN_THREADS,
	AN_NET,
	AN_SYNC,
	AN_SYSCALL,
	AN_SCHED,
	AN_TASKS,
	AN_REGIONS,
	AN_COUNT
};
/* "threads", "net", "sync", "syscall", "sched", "tasks", "regions" */
extern const char *const analysis_names[AN_COUNT];
/* The kind named s, or -1. */
int analysis_by_name(const char *s);
static inline int analysis_is_profile(int kind)
{
	return kind >= AN_NET && kind <= AN_SCHED;
}

struct analysis {
	int kind;
	/* profiles: key = stack id, total = delay; tasks: key = name id;
	 * regions: key = name id << 32 | enclosing task's name id */
	struct stat_table stats;
};

void analysis_init(struct analysis *a, int kind);
struct walk_consumer analysis_consumer(struct analysis *a);
/* The report document (after the walk); the caller frees it. */
cJSON *analysis_json(const struct analysis *a, const struct walk *w);
void analysis_free(struct analysis *a);

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
