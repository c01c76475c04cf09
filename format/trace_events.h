/*
 * The event kinds of the cprof-trace format, defined once.
 *
 * Every encoder, decoder, ring-record sizer and the dump derive from
 * CPROF_EVENTS below; tests/test_events.c checks the table's own rules.
 *
 * Columns: X(ENUM, "wire name", value, head32, nargs, bytes, strs, stacks,
 *             "arg names")
 *   value  : the kind byte on the wire (stable: never renumber, only add).
 *   head32 : 1 when args[0] is at most 32 bits and travels in the ring
 *            record's header word (saves 8 bytes per record in the ring).
 *   nargs  : how many unsigned integer arguments (varints on disk).
 *   bytes  : 1 when the event carries a trailing byte string (length-prefixed
 *            on disk, at most CPROF_EVENT_MAX_BYTES).
 *   strs   : bit i set when args[i] is a string id (of the STRINGS chunks;
 *            0 means "none"), like Go's tracev2 StringIDs.
 *   stacks : bit i set when args[i] is a stack id (of the STACKS chunks;
 *            0 means "none"), like Go's StackIDs.
 *   "arg names": space-separated, for the dump and the spec.
 *
 * Rules tests/test_events.c checks: values are dense; strs and stacks only
 * name existing arguments and never the same one; a kind has at most one
 * string argument and at most one stack argument (the walk reads "the"
 * name and "the" stack of an event through cprof_event_string_arg and
 * cprof_event_stack_arg).
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

/*
 * Blocking categories (args[0] of BLOCK_BEGIN), defined once for the tracer,
 * the walk, the Chrome JSON, the timeline and the web UI.
 * Columns: X(ENUM, value, "name", "colour", "title")
 *   value  : on the wire (stable); dense from 1, in the order of the table.
 *   name   : the time class in reports and JSON keys ("sync" -> "sync_ns").
 *   colour : CSS colour of the category's slices and bars in viewers.
 *   title  : column heading in the threads report.
 */
#define CPROF_BLOCK_CATEGORIES(X)                                              \
	/* mutex, rwlock, cond, sem, join, barrier */                          \
	X(SYNC, 1, "sync", "#e06666", "sync block")                            \
	/* socket I/O and polling */                                          \
	X(NET, 2, "net", "#6aa84f", "net wait")                                \
	/* other blocking syscalls: files, sleep, wait */                     \
	X(SYSCALL, 3, "syscall", "#f1a33c", "syscall")

enum cprof_block_category {
#define CPROF_X_CAT(e, val, name, colour, title) CPROF_BLOCK_##e = val,
	CPROF_BLOCK_CATEGORIES(CPROF_X_CAT)
#undef CPROF_X_CAT
	CPROF_BLOCK_END_
};
/* Categories are 1 .. CPROF_BLOCK_COUNT. */
#define CPROF_BLOCK_COUNT (CPROF_BLOCK_END_ - 1)

struct cprof_block_info {
	const char *name;   /* "sync" */
	const char *colour; /* "#e06666" */
	const char *title;  /* "sync block" */
};

/* Indexed by category - 1. */
extern const struct cprof_block_info cprof_block_table[CPROF_BLOCK_COUNT];

/* The category's entry; NULL for a value outside the table. */
static inline const struct cprof_block_info *cprof_block_info(uint64_t category)
{
	return category >= 1 && category <= CPROF_BLOCK_COUNT ? &cprof_block_table[category - 1] : 0;
}

#define CPROF_EVENTS(X)                                                        \
	/* Padding in a ring block: the rest of the block is empty. Never on    \
	 * disk. */                                                            \
	X(PAD, "pad", 0, 0, 0, 0, 0, 0, "")                                     \
	/* Start of a ring block: the ring owner's generation and current     \
	 * task. Ring only; a reader turns it into TASK_SET when it matters. */ \
	X(BLOCK_START, "block_start", 1, 1, 2, 0, 0, 0, "generation task")      \
	X(REGION_BEGIN, "region_begin", 2, 1, 1, 0, 1, 0, "name")               \
	/* name 0: the innermost open region of this thread. */                \
	X(REGION_END, "region_end", 3, 1, 1, 0, 1, 0, "name")                   \
	/* parent 0: a root task. The thread now works for task. */            \
	X(TASK_BEGIN, "task_begin", 4, 1, 3, 0, 1, 0, "name task parent")       \
	X(TASK_END, "task_end", 5, 0, 1, 0, 0, 0, "task")                       \
	/* The thread now works for task (0: none). */                         \
	X(TASK_SET, "task_set", 6, 0, 1, 0, 0, 0, "task")                       \
	X(LOG, "log", 7, 1, 1, 1, 1, 0, "category")                             \
	/* creator: tid of the creating thread or 0; routine: string id of   \
	 * the start routine's symbol or 0; stack: creation stack id or 0. */ \
	X(THREAD_START, "thread_start", 8, 0, 3, 0, 2, 4, "creator routine stack") \
	X(THREAD_EXIT, "thread_exit", 9, 0, 0, 0, 0, 0, "")                     \
	X(THREAD_NAME, "thread_name", 10, 1, 1, 0, 1, 0, "name")                \
	/* category: enum cprof_block_category; object: mutex address, fd,    \
	 * ...; what: string id of the blocking call; stack: stack id or 0. */ \
	X(BLOCK_BEGIN, "block_begin", 11, 1, 4, 0, 4, 8, "category object what stack") \
	X(BLOCK_END, "block_end", 12, 0, 0, 0, 0, 0, "")                        \
	/* This thread made thread `target` runnable through `object`. */      \
	X(WAKEUP, "wakeup", 13, 1, 3, 0, 0, 4, "target object stack")           \
	/* delay: kernel run-queue delay since the last sample, in ns. */      \
	X(RUNQ_DELAY, "runq_delay", 14, 0, 1, 0, 0, 0, "delay_ns")              \
	X(CPU_SAMPLE, "cpu_sample", 15, 1, 1, 0, 0, 1, "stack")                 \
	/* The writer dropped `count` events since tick `since` (ring full). */ \
	X(LOST, "lost", 16, 1, 2, 0, 0, 0, "count since")                      \
	/* Kernel scheduling records (tracer/sched/), written by the drainer  \
	 * into the batch of the thread they describe, never by the thread.   \
	 * The thread left CPU `cpu`: state 1 preempted (still runnable),     \
	 * 2 sleeping (blocked or yielded the CPU voluntarily). */           \
	X(SCHED_SWITCH_OUT, "sched_switch_out", 17, 1, 2, 0, 0, 0, "cpu state") \
	/* The thread started running on CPU `cpu`. */                         \
	X(SCHED_SWITCH_IN, "sched_switch_in", 18, 1, 1, 0, 0, 0, "cpu")        \
	/* The kernel's cumulative totals for the thread at ts, ns            \
	 * (/proc/self/task/TID/schedstat fields 1 and 2). */                  \
	X(SCHED_STAT, "sched_stat", 19, 0, 2, 0, 0, 0, "oncpu_ns runq_ns")     \
	/* A flight snapshot (?last=N) holds this thread's events only from    \
	 * here: its older ones in the window were overwritten in its ring. */ \
	X(FLIGHT_FROM, "flight_from", 20, 0, 0, 0, 0, 0, "")

enum cprof_event_kind {
#define CPROF_X_ENUM(e, name, val, head32, nargs, bytes, strs, stacks, argn) CPROF_EV_##e = val,
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
	uint8_t string_args;  /* bit i: args[i] is a string id */
	uint8_t stack_args;   /* bit i: args[i] is a stack id */
};

/* Indexed by kind; kinds >= CPROF_EV_COUNT are unknown. */
extern const struct cprof_event_info cprof_event_table[CPROF_EV_COUNT];

static inline const struct cprof_event_info *cprof_event_info(unsigned kind)
{
	return kind < CPROF_EV_COUNT ? &cprof_event_table[kind] : 0;
}

/* 1 when args[i] of an event of this kind is a string id / a stack id
 * (0 for unknown kinds and out-of-range i). */
static inline int cprof_event_arg_is_string(unsigned kind, unsigned i)
{
	return kind < CPROF_EV_COUNT && i < 8 && (cprof_event_table[kind].string_args >> i & 1);
}
static inline int cprof_event_arg_is_stack(unsigned kind, unsigned i)
{
	return kind < CPROF_EV_COUNT && i < 8 && (cprof_event_table[kind].stack_args >> i & 1);
}

/* The index of the kind's string argument (its name, category, call or
 * routine) / of its stack argument; -1 when it has none. */
static inline int cprof_event_string_arg(unsigned kind)
{
	unsigned m = kind < CPROF_EV_COUNT ? cprof_event_table[kind].string_args : 0;
	return m ? __builtin_ctz(m) : -1;
}
static inline int cprof_event_stack_arg(unsigned kind)
{
	unsigned m = kind < CPROF_EV_COUNT ? cprof_event_table[kind].stack_args : 0;
	return m ? __builtin_ctz(m) : -1;
}

#endif
