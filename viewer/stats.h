/*
 * Keyed duration statistics shared by the analyses: a count, a log-scale
 * histogram (5 buckets per decade of ns, like go tool trace) and a time
 * breakdown, per 64-bit key (a stack id, a task name, a region x task).
 */
#ifndef CPROF_STATS_H
#define CPROF_STATS_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "u64map.h"
#include "walk.h"

#define HIST_PER_DECADE 5
#define HIST_BUCKETS 65 /* [1 ns, 10^13 ns); shorter counts in 0, longer in the last */

struct histogram {
	uint64_t count[HIST_BUCKETS];
};

void histogram_add(struct histogram *h, int64_t ns);
/* Lower bound of bucket i in ns (bucket i is [lo(i), lo(i+1))). */
int64_t histogram_bucket_lo(int i);

struct stat_entry {
	uint64_t key;
	uint64_t count;
	int64_t total, min, max; /* durations, ns */
	struct walk_time time;   /* summed breakdowns (for a task: thread time, which may exceed its duration) */
	struct histogram hist;
};

struct stat_table {
	struct u64map map; /* key -> index + 1 */
	struct stat_entry *e;
	uint32_t n, cap;
};

/* Adds one interval of duration dur (ns) and breakdown t under key.
 * Returns the entry, or NULL out of memory. */
struct stat_entry *stat_add(struct stat_table *s, uint64_t key, int64_t dur, const struct walk_time *t);
/* Entries sorted by total time, longest first (the table keeps working). */
struct stat_entry **stat_sorted(const struct stat_table *s);
void stat_free(struct stat_table *s);

/* {"count","total_ns","mean_ns","min_ns","max_ns"} into obj. */
void stat_json_totals(cJSON *obj, const struct stat_entry *e);
/* [{"lo_ns","hi_ns","count"}] from the first to the last nonempty bucket. */
cJSON *histogram_json(const struct histogram *h);
/* Adds "total_ns","exec_ns","sync_ns","net_ns","syscall_ns","sched_ns" to o. */
void time_json_fields(cJSON *o, const struct walk_time *t);
/* {"total_ns","exec_ns","sync_ns","net_ns","syscall_ns","sched_ns"} */
cJSON *breakdown_json(const struct walk_time *t);

#endif
