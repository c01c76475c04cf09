/*
 * The event kinds of the cprof-trace format, defined once.
 *
 * Every encoder, decoder, ring-record sizer and the dump derive from
 * CPROF_EVENTS below; tests/test_events.c checks the table's own rules.
 *
 * Columns: X(ENUM, "wire name", value, head32, nargs, bytes, "arg names")
 *   value  : the kind byte on the wire (stable: never renumber, only add).
 *   head32 : 1 when args[0] is at most 32 bits and travels in the ring
 *            record's header word (saves 8 bytes per record in the ring).
 *   nargs  : how many unsigned integer arguments (varints on disk).
 *   bytes  : 1 when the event carries a trailing byte string (length-prefixed
 *            on disk, at most CPROF_EVENT_MAX_BYTES).
 *   "arg names": space-separated, for the dump and the spec.
 *
 * Units: every timestamp is in ticks of the file's clock (header).
 */
#ifndef CPROF_TRACE_EVENTS_H
#define CPROF_TRACE_EVENTS_H

#include <stdint.h>

/* Longest byte string an event may carry (log messages are cut to this). */
#define CPROF_EVENT_MAX_BYTES 512u
/* Most integer arguments any event has; decoders size arrays by it. */
#define CPROF_EVENT_MAX_ARGS 4

/* SCHED_SWITCH_OUT states. */
enum cprof_sched_state {
	CPROF_SCHED_PREEMPTED = 1, /* runnable: the kernel took the CPU away */
	CPROF_SCHED_SLEEPING = 2,  /* blocked, or gave the CPU up itself */
};

/* Blocking categories (args of BLOCK_BEGIN). */
enum cprof_block_category {
	CPROF_BLOCK_SYNC = 1,    /* mutex, rwlock, cond, sem, join, barrier */
	CPROF_BLOCK_NET = 2,     /* socket I/O and polling */
	CPROF_BLOCK_SYSCALL = 3, /* other blocking syscalls: files, sleep, wait */
};

#define CPROF_EVENTS(X)                                                        \
	/* Padding in a ring block: the rest of the block is empty. Never on    \
	 * disk. */                                                            \
	X(PAD, "pad", 0, 0, 0, 0, "")                                          \
	/* Start of a ring block: the ring owner's generation and current     \
	 * task. Ring only; a reader turns it into TASK_SET when it matters. */ \
	X(BLOCK_START, "block_start", 1, 1, 2, 0, "generation task")           \
	X(REGION_BEGIN, "region_begin", 2, 1, 1, 0, "name")                    \
	/* name 0: the innermost open region of this thread. */                \
	X(REGION_END, "region_end", 3, 1, 1, 0, "name")                        \
	/* parent 0: a root task. The thread now works for task. */            \
	X(TASK_BEGIN, "task_begin", 4, 1, 3, 0, "name task parent")            \
	X(TASK_END, "task_end", 5, 0, 1, 0, "task")                            \
	/* The thread now works for task (0: none). */                         \
	X(TASK_SET, "task_set", 6, 0, 1, 0, "task")                            \
	X(LOG, "log", 7, 1, 1, 1, "category")                                  \
	/* creator: tid of the creating thread or 0; routine: string id of   \
	 * the start routine's symbol or 0; stack: creation stack id or 0. */ \
	X(THREAD_START, "thread_start", 8, 0, 3, 0, "creator routine stack")   \
	X(THREAD_EXIT, "thread_exit", 9, 0, 0, 0, "")                          \
	X(THREAD_NAME, "thread_name", 10, 1, 1, 0, "name")                     \
	/* category: enum cprof_block_category; object: mutex address, fd,    \
	 * ...; what: string id of the blocking call; stack: stack id or 0. */ \
	X(BLOCK_BEGIN, "block_begin", 11, 1, 4, 0, "category object what stack") \
	X(BLOCK_END, "block_end", 12, 0, 0, 0, "")                             \
	/* This thread made thread `target` runnable through `object`. */      \
	X(WAKEUP, "wakeup", 13, 1, 3, 0, "target object stack")                \
	/* delay: kernel run-queue delay since the last sample, in ns. */      \
	X(RUNQ_DELAY, "runq_delay", 14, 0, 1, 0, "delay_ns")                   \
	X(CPU_SAMPLE, "cpu_sample", 15, 1, 1, 0, "stack")                      \
	/* The writer dropped `count` events since tick `since` (ring full). */ \
	X(LOST, "lost", 16, 1, 2, 0, "count since")                            \
	/* Kernel scheduling records (tracer/sched/), written by the drainer  \
	 * into the batch of the thread they describe, never by the thread.   \
	 * The thread left CPU `cpu`: state 1 preempted (still runnable),     \
	 * 2 sleeping (blocked or yielded the CPU voluntarily). */           \
	X(SCHED_SWITCH_OUT, "sched_switch_out", 17, 1, 2, 0, "cpu state")      \
	/* The thread started running on CPU `cpu`. */                         \
	X(SCHED_SWITCH_IN, "sched_switch_in", 18, 1, 1, 0, "cpu")              \
	/* The kernel's cumulative totals for the thread at ts, ns            \
	 * (/proc/self/task/TID/schedstat fields 1 and 2). */                  \
	X(SCHED_STAT, "sched_stat", 19, 0, 2, 0, "oncpu_ns runq_ns")

enum cprof_event_kind {
#define CPROF_X_ENUM(e, name, val, head32, nargs, bytes, argn) CPROF_EV_##e = val,
	CPROF_EVENTS(CPROF_X_ENUM)
#undef CPROF_X_ENUM
	CPROF_EV_COUNT
};

struct cprof_event_info {
	const char *name;     /* wire name, e.g. "region_begin" */
	const char *argnames; /* space-separated argument names */
	uint8_t head32;       /* args[0] rides in the ring header word */
	uint8_t nargs;        /* integer arguments */
	uint8_t bytes;        /* has a trailing byte string */
};

/* Indexed by kind; kinds >= CPROF_EV_COUNT are unknown. */
extern const struct cprof_event_info cprof_event_table[CPROF_EV_COUNT];

static inline const struct cprof_event_info *cprof_event_info(unsigned kind)
{
	return kind < CPROF_EV_COUNT ? &cprof_event_table[kind] : 0;
}

#endif
