/*
 * Kernel states of a thread, for the walk (walk_states.c). Internal to the
 * walk: walk.h embeds struct walk_states in struct walk_thread.
 */
#ifndef CPROF_WALK_STATES_H
#define CPROF_WALK_STATES_H

#include <stdint.h>

/* Where a thread's partition comes from. */
enum walk_states_mode {
	WS_INTERPOSED = 0, /* no kernel records for it: interposed blocks and wake-ups only */
	WS_PERF = 1,       /* context switches */
	WS_SCHEDSTAT = 2,  /* cumulative on-CPU and run-queue samples */
};

/* A sleep (or a schedstat interval's blocked part) whose cause is not yet
 * known: an interposed call's BLOCK_END that covers it names the category;
 * an own event after it says no call did ("blocked (other)"). */
struct walk_sleep {
	int64_t begin, end; /* ns */
	int64_t ns;         /* blocked ns inside [begin, end] not yet classified */
	int64_t shown;      /* ns up to which its state was handed to consumers */
	uint8_t from_stat;  /* the blocked part of a schedstat interval */
	uint8_t edged;      /* a recorded wake-up edge ended it (else a timer, a
			     * signal or an unseen waker did, at a time we do not know) */
};

#define WALK_SLEEPS_PENDING 16
#define WC_COUNT_MAX 8 /* >= WC_COUNT (walk.h asserts it) */
#define WALK_RECENT_BLOCKS 16

/* An interposed call that ended, kept to classify schedstat intervals that
 * close after it. */
struct walk_recent_block {
	int64_t begin, end; /* ns */
	int cls;
};

struct walk_states {
	uint8_t mode;        /* enum walk_states_mode */
	uint8_t state;       /* perf: enum in walk_states.c */
	uint8_t born;        /* the thread started in the capture (THREAD_START) */
	int64_t since;       /* ns the current perf state began */
	int32_t cpu;         /* perf: the CPU of the last switch-in */
	int64_t win_begin;   /* ns the thread's window opens: capture start or birth */
	/* schedstat: the previous sample, and the interval's shares kept for
	 * the gaps before the first and after the last sample */
	int has_stat;
	int64_t stat_ts;
	uint64_t stat_on, stat_rq;
	double share_on, share_rq; /* of the last full interval */
	int64_t lead_end;          /* first sample of a thread from before the capture, 0 none */
	struct walk_sleep pending[WALK_SLEEPS_PENDING];
	uint32_t npending;
	/* perf: the kernel's run-queue delay (RUNQ_DELAY samples) corrects
	 * sleeps that no recorded edge ended: their wake-up latency was
	 * counted as blocked. Both since the last sample, ns. */
	int64_t runnable_since_runq;
	int64_t unedged[WC_COUNT_MAX];
	/* schedstat: ns of interposed calls, per class, since the last sample
	 * (clipped to it), and those before a first sample that opened a lead
	 * gap: an interval's blocked time goes to them first */
	int64_t since_stat[WC_COUNT_MAX];
	/* schedstat: blocked ns charged per class from intervals, which a later
	 * interval's run-queue credit may take back (the kernel credits a wait
	 * when it ends, so a wait across a sample shows up after it) */
	int64_t stat_charged[WC_COUNT_MAX];
	/* the last interposed call, which a sleep still open at the window's
	 * end may lie in (a call in progress when the capture ended) */
	int64_t last_block_begin, last_block_end;
	int last_block_cls;
	int64_t lead_stat[WC_COUNT_MAX];
};

#endif
