/*
 * The walk: the one interpretation of a trace's event stream that every
 * analysis, the timeline index and the reports share.
 *
 * A walk makes two passes over the file. The first indexes the wake-up
 * edges per target thread (threads' batches interleave in the file, so a
 * waker's WAKEUP may be read after the woken thread's block; on large
 * traces only where they are, and pass 2 reads them with a second reader
 * ahead of its own, keeping those it may still need: walk_wakes.c). The second
 * replays every thread's state machine (open regions, current task, the
 * open block, time counters) and hands finished intervals to consumers:
 * blocks, regions, tasks, logs, wake-ups, CPU samples and (with perf
 * records) kernel states. Consumers aggregate; none of
 * them sees raw events, so the numbers agree wherever they are shown.
 *
 * Time classes of a thread (ns), a partition of its window (from the
 * capture's start or its birth to the capture's end or its death):
 *   - with the kernel's scheduling records (walk_states.c): exec = running;
 *     sched = runnable (preempted, or woken and not yet running); sync, net,
 *     syscall = asleep inside such an interposed call until made runnable;
 *     other = asleep with no interposed call around it.
 *   - without them (older traces, CPROF_TRACE_SCHED=off): sync, net,
 *     syscall = blocked in such a call until made runnable; sched = from
 *     the wake-up edge to the block's end, plus kernel run-queue delay not
 *     already covered; exec = the rest of the thread's lifetime.
 */
#ifndef CPROF_WALK_H
#define CPROF_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "progress.h"
#include "trace_reader.h"
#include "u64map.h"
#include "walk_states.h"

/* The time classes: one per block category (same order, class = category
 * - 1, from CPROF_BLOCK_CATEGORIES), then sched. */
enum walk_class {
#define WALK_X_CLASS(e, val, name, colour, title) WC_##e = (val) - 1,
	CPROF_BLOCK_CATEGORIES(WALK_X_CLASS)
#undef WALK_X_CLASS
	WC_SCHED = CPROF_BLOCK_COUNT,
	/* blocked, with the kernel's word only: no interposed call explains
	 * the sleep (kernel scheduling records only) */
	WC_OTHER,
	WC_COUNT
};
_Static_assert(WC_COUNT <= WC_COUNT_MAX, "walk_states.h sizes its arrays by WC_COUNT_MAX");
/* "sync", "net", "syscall" (the categories' names), "sched", "other" */
extern const char *const walk_class_names[WC_COUNT];

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

/* Category of a block (enum cprof_block_category) to its time class; an
 * unknown category counts as a syscall. */
int walk_class_of_category(uint64_t category);

struct walk_region_frame {
	uint32_t name;  /* string id */
	uint64_t task;  /* the thread's task when the region began */
	int64_t begin;  /* ns */
	int64_t wait_at_begin[WC_COUNT];
};

/*
 * A thread's state during the walk. Invariants (walk_thread_sanity checks
 * them after every event in debug and sanitizer builds):
 *   - first <= last once the thread has an event (first == INT64_MIN before);
 *   - regions[0 .. min(depth, regions_cap)) are the open regions, outermost
 *     first, their begins non-decreasing and within [first, last]; depth may
 *     exceed regions_cap only once regions_cap reached the depth limit;
 *   - every wait[] and wake_since_runq is >= 0; in_block is 0 or 1;
 *   - task_since <= last when task != 0.
 */
struct walk_thread {
	uint32_t tid;
	char *group;         /* walk_thread_group's label, made on first use (walk_process.c) */
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

	int in_block;        /* a BLOCK_BEGIN waits for its BLOCK_END */
	int64_t block_begin; /* ns */
	uint64_t block_category, block_object; /* of the open block */
	uint32_t block_what, block_stack;      /* string id, stack id */
	int64_t wake_since_runq; /* ns of wake latency since the last RUNQ_DELAY */
	int64_t win_begin, win_end; /* the thread's window, ns (final after the walk) */
	int64_t flight_from; /* a flight snapshot holds it only from this ns on; 0: all of the window */
	struct walk_states ks;   /* kernel states (walk_states.c) */
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
	int64_t woke;        /* ns of the wake-up edge that made it runnable, -1 none */
	uint32_t waker;      /* tid of the thread that recorded that edge, 0 none */
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

/* The tracer dropped events on this thread (a LOST event). */
struct walk_lost {
	const struct walk_thread *thread;
	int64_t ts;          /* ns */
	uint64_t count;      /* events */
};

/* A CPU sample of the thread (CPU_SAMPLE: one per 1/cpu_hz s of its CPU
 * time), where it ran. */
struct walk_sample {
	const struct walk_thread *thread;
	int64_t ts;          /* ns */
	uint32_t stack;      /* stack id, 0 none */
};

/* A kernel state of a thread (walk_states.c, perf records only: schedstat
 * samples give shares of intervals, not states). A thread's states do not
 * overlap and arrive in time order per state class; a blocked interval is
 * handed over once its cause is known, so it may follow later states. */
#define WALK_RUNNING WC_COUNT /* walk_state.cls of a thread on a CPU */
struct walk_state {
	const struct walk_thread *thread;
	int64_t begin, end;  /* ns */
	int cls;             /* WALK_RUNNING, WC_SCHED (runnable), a block
			      * class (asleep in such a call) or WC_OTHER */
	int32_t cpu;         /* running: the CPU it ran on, else -1 */
};

struct walk;

/* A consumer of the walk; any hook may be NULL. Hooks run in file order
 * (each thread's intervals in time order; threads interleave); finish runs
 * once after the last hook, when every thread's totals, name and the walk's
 * counters are final (also after a truncated or corrupt input: w->status
 * says so; not when the trace could not be opened). */
struct walk_consumer {
	void *self;
	void (*block)(void *self, struct walk *w, const struct walk_block *b);
	void (*region)(void *self, struct walk *w, const struct walk_region *r);
	void (*task)(void *self, struct walk *w, const struct walk_task *t);
	void (*log)(void *self, struct walk *w, const struct walk_log *l);
	void (*wake)(void *self, struct walk *w, const struct walk_wake *k);
	void (*lost)(void *self, struct walk *w, const struct walk_lost *l);
	void (*sample)(void *self, struct walk *w, const struct walk_sample *s);
	void (*state)(void *self, struct walk *w, const struct walk_state *s);
	void (*finish)(void *self, struct walk *w);
};

struct walk_wakes; /* per target thread: wake-up times (walk_wakes.c) */
struct walk_pass;  /* pass 2's consumers (walk_internal.h) */
struct walk_tasks; /* live tasks */

struct walk {
	const char *path;        /* the file, or the name given to walk_buffer */
	struct trace_reader r;   /* the main pass's reader: strings, stacks, names */
	struct walk_thread *threads;
	uint32_t nthreads, threads_cap;
	struct u64map thread_map; /* tid -> index + 1 */
	struct walk_wakes *wakes;
	struct walk_tasks *tasks;
	struct u64map sched_threads; /* tid -> enum walk_states_mode, for threads with kernel records (pass 1) */
	/* ns of the first and last event; begin is final from pass 1 on, so
	 * consumers may place pass 2's intervals relative to it */
	int64_t begin, end;
	const struct walk_pass *pass; /* during pass 2: where walk_states.c emits */
	uint64_t events, lost;
	uint64_t tasks_incomplete; /* begun or ended outside the capture */
	uint64_t regions_incomplete;
	uint64_t regions_unkept;   /* regions not reported: no memory for their frame */
	int status;              /* 0 complete, 1 truncated (what was complete is in), -1 error */
	char error[300];         /* "PATH: offset N: cause" */
	int progress;            /* print progress on stderr after 1 s */
	/* keep every wake-up edge from pass 1, however many (no reader ahead in
	 * pass 2: faster, memory per WAKEUP): for callers whose own index grows
	 * with the events anyway (the web UI's timeline) */
	int wakes_keep_all;
	int need_tasks;          /* a consumer takes tasks or regions; else the walk keeps no
				  * tasks (tasks_incomplete stays 0) */
	/* walk_ns's fast path: floor(1e9 * 2^64 / ns_mul_tps); used only
	 * while ns_mul_tps equals the header's ticks_per_sec (0: never) */
	uint64_t ns_mul;         /* 2^-64 ns per tick */
	uint64_t ns_mul_tps;     /* ticks per second ns_mul was made for, > 1e9 */
};

/* Runs both passes over the file at path, calling the consumers. Returns
 * w->status; on -1 and 1 w->error says why. walk_close frees everything
 * (after the consumers have used w's tables). Set w->progress before the
 * call to print progress. */
int walk_file(struct walk *w, const char *path, const struct walk_consumer *c, int nconsumers);
/* The same over a whole trace in memory (buf is read, not kept after the
 * call); name stands for the path in messages and reports. */
int walk_buffer(struct walk *w, const char *name, const void *buf, size_t len, const struct walk_consumer *c,
		int nconsumers);
void walk_close(struct walk *w);

/* 1 when t's invariants (above struct walk_thread) hold. For assert(). */
int walk_thread_sanity(const struct walk_thread *t);

const char *walk_string(const struct walk *w, uint32_t id); /* never NULL */
/* The thread's group in the threads analysis, like Go's goroutines by start
 * function: its start routine, "main" for the process's first thread, else
 * its name (threads that started before the capture have no routine). */
const char *walk_thread_group(const struct walk *w, const struct walk_thread *t);

/* ---- processes (walk_process.c) ---- */
/* When not 0, walks see only the events of this process (-pid=). */
extern uint32_t walk_only_pid;
/* Whether the trace holds more than one process (then thread groups are
 * prefixed with their process: "pid 123 nginx: worker process / main"). */
int walk_multi_process(const struct walk *w);
/* The pid of thread t, 0 unknown. */
uint32_t walk_thread_pid(const struct walk *w, const struct walk_thread *t);
/* "pid N cmd" of process pid into buf (argv[0] without its directory,
 * the command line cut at 60 bytes). */
void walk_process_label(const struct walk *w, uint32_t pid, char *buf, size_t cap);
/* A region's task_name as text: "" none, "(begun before the capture)". */
const char *walk_task_name(const struct walk *w, uint32_t task_name);
const char *walk_thread_name(const struct walk *w, uint32_t tid); /* never NULL */
const struct walk_thread *walk_find_thread(const struct walk *w, uint32_t tid);
/* ticks as ns since the capture's start, clamped to +-WALK_NS_LIMIT (about
 * 13 days): differences of two never overflow, absurd timestamps of a
 * hostile file stay absurd but defined. */
#define WALK_NS_LIMIT ((int64_t)1 << 50)
/* The conversion as trace_ticks_to_ns + llround computes it:
 * llround((double)d * 1e9 / (double)ticks_per_sec), d = ticks - start. */
int64_t walk_ns_slow(const struct walk *w, uint64_t ticks);
/* Sets ns_mul for the reader's header (the walk calls it on each open). */
void walk_ns_prepare(struct walk *w);

/* walk_ns_slow's result without its division, for clocks faster than 1 GHz
 * (TSC captures). In 2^-64 ns units, M = floor(1e9 * 2^64 / tps) < 2^64
 * and P = d * M is the exact E = d * 1e9 / tps less under d <= 2^48 units
 * (2^-16 ns): q = P >> 64, f = P mod 2^64. The slow path's double a is
 * within E * 2^-51.9 of E (d < 2^53 exact, two roundings), under q * 2^-50
 * + 2^-16 ns. So when f is farther than margin = q * 2^-50 + 2^-15 ns from
 * one half, E and a round alike: up above it, down below. Else, for d < 0,
 * huge d, slower clocks or a walk not prepared: the slow path (ns clocks
 * exact before it). */
static inline int64_t walk_ns(const struct walk *w, uint64_t ticks)
{
	int64_t d = (int64_t)(ticks - w->r.header.start_ticks);
	if (w->ns_mul_tps == w->r.header.ticks_per_sec && w->ns_mul_tps && d >= 0 && d < ((int64_t)1 << 48)) {
		unsigned __int128 p = (unsigned __int128)(uint64_t)d * w->ns_mul;
		uint64_t q = (uint64_t)(p >> 64), f = (uint64_t)p; /* q < d < 2^48 */
		uint64_t margin = (q << 14) + ((uint64_t)1 << 49), half = (uint64_t)1 << 63;
		if (f > half + margin)
			return (int64_t)q + 1;
		if (f < half - margin)
			return (int64_t)q;
	}
	if (w->r.header.ticks_per_sec == 1000000000u && d >= -((int64_t)1 << 49) && d <= (int64_t)1 << 49)
		return d;
	return walk_ns_slow(w, ticks);
}

#endif
