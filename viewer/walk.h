/*
 * The walk: the one interpretation of a trace's event stream that every
 * analysis, the timeline index and the reports share.
 *
 * A walk makes two passes over the file. The first collects the wake-up
 * edges per target thread (threads' batches interleave in the file, so a
 * waker's WAKEUP may be read after the woken thread's block). The second
 * replays every thread's state machine (open regions, current task, the
 * open block, time counters) and hands finished intervals to consumers:
 * blocks, regions, tasks, logs, wake-ups. Consumers aggregate; none of
 * them sees raw events, so the numbers agree wherever they are shown.
 *
 * Time classes of a thread (ns): sync, net, syscall = blocked in such a
 * call until made runnable; sched = runnable but not running (from the
 * wake-up edge to the block's end, plus kernel run-queue delay not already
 * covered by those); exec = the rest of the thread's lifetime.
 */
#ifndef CPROF_WALK_H
#define CPROF_WALK_H

#include <stdint.h>

#include "trace_reader.h"
#include "u64map.h"

enum walk_class { WC_SYNC, WC_NET, WC_SYSCALL, WC_SCHED, WC_COUNT };
extern const char *const walk_class_names[WC_COUNT]; /* "sync", "net", "syscall", "sched" */

/* Time spent, in ns: total and the non-exec classes; exec = total - sum. */
struct walk_time {
	int64_t total;
	int64_t wait[WC_COUNT];
};
int64_t walk_time_exec(const struct walk_time *t);
/* a + b, saturating at INT64_MIN/INT64_MAX: sums of durations from hostile
 * files must not overflow (UB) or wrap into negative totals. */
static inline int64_t walk_add(int64_t a, int64_t b)
{
	int64_t s;
	return __builtin_add_overflow(a, b, &s) ? (b > 0 ? INT64_MAX : INT64_MIN) : s;
}
void walk_time_add(struct walk_time *into, const struct walk_time *t);

/* Category of a block (enum cprof_block_category) to its time class. */
int walk_class_of_category(uint64_t category);

struct walk_region_frame {
	uint32_t name;  /* string id */
	uint64_t task;  /* the thread's task when the region began */
	int64_t begin;  /* ns */
	int64_t wait_at_begin[WC_COUNT];
};

struct walk_thread {
	uint32_t tid;
	uint32_t routine;    /* string id of the start routine, 0 unknown */
	int64_t first, last; /* ns of the first and last event */
	int exited;
	uint64_t lost;       /* events dropped (LOST events) */
	uint64_t blocks;     /* blocking calls recorded */
	int64_t wait[WC_COUNT]; /* cumulative ns */

	struct walk_region_frame *regions;
	uint32_t depth, regions_cap;

	uint64_t task;       /* current task, 0 none */
	int64_t task_since;  /* ns */
	int64_t task_wait_at[WC_COUNT];

	int in_block;
	int64_t block_begin;
	uint64_t block_args[4];
	int64_t wake_since_runq; /* ns of wake latency since the last RUNQ_DELAY */
};

struct walk_block {
	const struct walk_thread *thread;
	int cls;             /* WC_SYNC, WC_NET or WC_SYSCALL */
	uint64_t object;
	uint32_t what;       /* string id of the call */
	uint32_t stack;      /* stack id, 0 none */
	int64_t begin, end;  /* ns */
	int64_t blocked;     /* ns until made runnable (= end - begin without a wake-up edge) */
	int64_t sched;       /* ns from the wake-up edge to the end */
	uint32_t depth;      /* open regions around the block */
	uint64_t task;
};

/* task_name of a region whose task began before the capture (no name) */
#define WALK_TASK_UNKNOWN 0x1fffffffu

struct walk_region {
	const struct walk_thread *thread;
	uint32_t name;       /* string id */
	uint64_t task;       /* 0 none */
	uint32_t task_name;  /* string id, 0 none or unknown */
	int64_t begin, end;  /* ns */
	uint32_t depth;      /* 0 outermost */
	struct walk_time time;
};

struct walk_task {
	uint64_t id, parent;
	uint32_t name;       /* string id */
	uint32_t begin_tid, end_tid;
	int64_t begin, end;  /* ns */
	struct walk_time time; /* summed over the threads that worked for it */
};

struct walk_log {
	const struct walk_thread *thread;
	int64_t ts;
	uint32_t category;   /* string id */
	uint64_t task;
	const char *message; /* not NUL-terminated */
	uint32_t len;
};

struct walk_wake {
	uint32_t waker, target; /* tids */
	int64_t ts;
	uint32_t stack;
};

struct walk;

/* A consumer of the walk; any hook may be NULL. Hooks run in file order
 * (each thread's intervals in time order; threads interleave). */
struct walk_consumer {
	void *self;
	void (*block)(void *self, struct walk *w, const struct walk_block *b);
	void (*region)(void *self, struct walk *w, const struct walk_region *r);
	void (*task)(void *self, struct walk *w, const struct walk_task *t);
	void (*log)(void *self, struct walk *w, const struct walk_log *l);
	void (*wake)(void *self, struct walk *w, const struct walk_wake *k);
};

struct walk_wakes; /* per target thread: sorted wake-up times */
struct walk_tasks; /* live tasks */

struct walk {
	const char *path;
	struct trace_reader r;   /* the main pass's reader: strings, stacks, names */
	struct walk_thread *threads;
	uint32_t nthreads, threads_cap;
	struct u64map thread_map; /* tid -> index + 1 */
	struct walk_wakes *wakes;
	struct walk_tasks *tasks;
	int64_t begin, end;      /* ns of the first and last event */
	uint64_t events, lost;
	uint64_t tasks_incomplete; /* begun or ended outside the capture */
	uint64_t regions_incomplete;
	uint64_t regions_unkept;   /* regions not reported: no memory for their frame */
	int status;              /* 0 complete, 1 truncated (what was complete is in), -1 error */
	char error[300];         /* "PATH: offset N: cause" */
	int progress;            /* print progress on stderr after 1 s */
	int need_tasks;          /* a consumer takes tasks or regions */
};

/* Runs both passes, calling the consumers. Returns w->status; on -1 and 1
 * w->error says why. walk_close frees everything (after the consumers have
 * used w's tables). */
int walk_file(struct walk *w, const char *path, const struct walk_consumer *c, int nconsumers);
void walk_close(struct walk *w);

/* Progress on stderr for reads that take more than a second: call
 * progress_tick often (it reads the clock every 65536 calls). */
struct progress {
	const char *path, *what;
	uint64_t size, calls;
	double start, last;
	int shown;
};
void progress_begin(struct progress *g, const char *path, const char *what);
void progress_tick(struct progress *g, uint64_t offset);
void progress_end(struct progress *g);

const char *walk_string(const struct walk *w, uint32_t id); /* never NULL */
/* The thread's group in the threads analysis, like Go's goroutines by start
 * function: its start routine, "main" for the process's first thread, else
 * its name (threads that started before the capture have no routine). */
const char *walk_thread_group(const struct walk *w, const struct walk_thread *t);
/* A region's task_name as text: "" none, "(begun before the capture)". */
const char *walk_task_name(const struct walk *w, uint32_t task_name);
const char *walk_thread_name(const struct walk *w, uint32_t tid); /* never NULL */
const struct walk_thread *walk_find_thread(const struct walk *w, uint32_t tid);
/* ticks as ns since the capture's start, clamped to +-WALK_NS_LIMIT (about
 * 13 days): differences of two never overflow, absurd timestamps of a
 * hostile file stay absurd but defined. */
#define WALK_NS_LIMIT ((int64_t)1 << 50)
int64_t walk_ns(const struct walk *w, uint64_t ticks);

#endif
