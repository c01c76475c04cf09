/*
 * The threads analysis against the kernel: every thread of tests/states_app
 * printed its own /proc/thread-self/schedstat account (FACTS: "thread TID
 * ROLE WALL_NS ONCPU_NS RUNQ_NS"); the threads report of its trace (JSON)
 * must give each the same running (exec) and runnable (sched) shares of
 * its time within TOLERANCE percentage points, so blocked as well. Every
 * thread's columns must sum to its total exactly (a partition, not a
 * clamp), and the blocked time of the lock contenders, sleepers and
 * condition waiters must lie mostly (70%: schedstat intervals straddle
 * calls) in their call's category.
 *
 *   check_states FACTS REPORT.json [TOLERANCE_POINTS [THREADS [exec]]]
 * THREADS: how many FACTS lines to expect (9, states_app's); "exec": compare
 * running only (a server measured from outside, over a window a little
 * wider than the capture's, where only on-CPU time is steady enough).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "slurp.h"

/* the report's time columns besides exec */
static const char *const class_keys[] = {"sync_ns", "net_ns", "syscall_ns", "sched_ns", "other_ns"};
#define NCLASSES (sizeof class_keys / sizeof class_keys[0])

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const cJSON *find_thread(const cJSON *doc, long tid)
{
	const cJSON *g, *t;
	cJSON_ArrayForEach(g, cJSON_GetObjectItem(doc, "groups"))
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(g, "threads")) if ((long)num(t, "tid") == tid) return t;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: check_states FACTS REPORT.json [TOLERANCE_POINTS [THREADS [exec]]]\n");
		return 2;
	}
	double tol = argc > 3 ? atof(argv[3]) : 5.0;
	int expect_threads = argc > 4 ? atoi(argv[4]) : 9;
	int exec_only = argc > 5 && !strcmp(argv[5], "exec");
	size_t len;
	char *json = slurp(argv[2], &len);
	cJSON *doc = json ? cJSON_ParseWithLength(json, len) : NULL;
	if (!doc) {
		fprintf(stderr, "check_states: cannot parse %s\n", argv[2]);
		return 1;
	}
	const cJSON *trace = cJSON_GetObjectItem(doc, "trace");
	printf("source: %s, kernel records lost: %.0f, events lost: %.0f\n",
	       cJSON_GetStringValue(cJSON_GetObjectItem(trace, "sched_source")), num(trace, "sched_lost"), num(trace, "lost"));

	/* every thread: a partition of its window */
	const cJSON *g, *t;
	int threads = 0;
	cJSON_ArrayForEach(g, cJSON_GetObjectItem(doc, "groups"))
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(g, "threads"))
	{
		double sum = num(t, "exec_ns");
		for (size_t c = 0; c < NCLASSES; c++)
			sum += num(t, class_keys[c]);
		CHECKF(num(t, "exec_ns") >= 0 && fabs(sum - num(t, "total_ns")) < 1.0, "thread %.0f: exec %.0f + classes = %.0f, total %.0f",
		       num(t, "tid"), num(t, "exec_ns"), sum, num(t, "total_ns"));
		threads++;
	}
	CHECK(threads >= expect_threads);

	FILE *f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	char role[32];
	long tid;
	unsigned long long wall, on, rq;
	int compared = 0, contenders = 0;
	double contender_sync = 0; /* the largest share of a contender's blocked time in lock waits */
	printf("%-8s %-10s %8s | %7s %7s %7s | %7s %7s %7s | blocked in\n", "tid", "role", "wall ms",
	       "k run%", "k rq%", "k blk%", "run%", "rq%", "blk%");
	while (fscanf(f, " thread %ld %31s %llu %llu %llu", &tid, role, &wall, &on, &rq) == 5) {
		const cJSON *th = find_thread(doc, tid);
		CHECKF(th != NULL, "thread %ld (%s) is not in the report", tid, role);
		if (!th || !wall)
			continue;
		double total = num(th, "total_ns");
		double k_run = 100.0 * (double)on / (double)wall, k_rq = 100.0 * (double)rq / (double)wall;
		double run = 100.0 * num(th, "exec_ns") / total, runq = 100.0 * num(th, "sched_ns") / total;
		/* where its blocked time must lie: a contender waits for the lock
		 * (sync) or sleeps holding it (syscall); glibc's lock is unfair, so
		 * one contender may hold it many times in a row and wait little */
		double sync = 100.0 * num(th, "sync_ns") / total, sys = 100.0 * num(th, "syscall_ns") / total;
		double blocked = 100.0 - run - runq;
		double explained = !strcmp(role, "contender") ? sync + sys
				   : !strcmp(role, "waiter")  ? sync
				   : !strcmp(role, "sleeper") ? sys
							      : blocked;
		printf("%-8ld %-10s %8.1f | %7.1f %7.1f %7.1f | %7.1f %7.1f %7.1f | sync %.1f%% syscall %.1f%%\n", tid, role,
		       wall / 1e6, k_run, k_rq, 100.0 - k_run - k_rq, run, runq, blocked, sync, sys);
		CHECKF(fabs(run - k_run) <= tol, "thread %ld (%s): running %.1f%%, kernel %.1f%%", tid, role, run, k_run);
		CHECKF(exec_only || fabs(runq - k_rq) <= tol, "thread %ld (%s): runnable %.1f%%, kernel %.1f%%", tid, role, runq,
		       k_rq);
		CHECKF(blocked < 1 || explained >= 0.7 * blocked, "thread %ld (%s): %.1f%% blocked, %.1f%% in its calls' categories", tid,
		       role, blocked, explained);
		contenders += !strcmp(role, "contender");
		if (!strcmp(role, "contender") && blocked > 0 && sync / blocked > contender_sync)
			contender_sync = sync / blocked;
		compared++;
	}
	fclose(f);
	/* glibc's lock is unfair: one contender may hold it nearly every time
	 * and hardly wait, but then the other waits */
	CHECKF(!contenders || contender_sync >= 0.1, "no contender's blocked time is 10%% lock waits (%.2f)",
	       contender_sync);
	CHECKF(compared == expect_threads, "%d threads compared", compared);
	cJSON_Delete(doc);
	free(json);
	return check_done("check_states");
}
