/*
 * Kernel states (pass 2): with the kernel's scheduling records in the
 * trace, each thread's window is cut into exclusive states, so its time
 * classes sum to its window by construction:
 *
 *   running  (exec)  between a switch-in and the next switch-out;
 *   runnable (sched) after a preemption until the switch-in, and from the
 *                    wake-up edge that ended a sleep (the waker's recorded
 *                    WAKEUP, where there is one) until the switch-in;
 *   blocked  (sync / net / syscall) asleep inside an interposed call of
 *                    that category, until made runnable;
 *   other            asleep with no interposed call around it.
 *
 * Perf records give every switch; schedstat samples give on-CPU and
 * run-queue ns per ~10 ms interval, whose rest is blocked. Blocked time
 * waits in `pending` until its cause is known. The tracer records a
 * blocking call at its end (BLOCK_BEGIN then BLOCK_END, stamped with the
 * call's start and end) after the kernel records of the sleeps inside it;
 * so a pending sleep that a BLOCK_END covers takes the call's category, and
 * one that an own event of the thread passes (the thread ran then, outside
 * any call) is "other". A lock waiter that wakes, loses the lock and sleeps
 * again has two sleeps and two short runnable gaps inside one call.
 *
 * With perf records the states are also handed to the walk's consumers
 * (the state hook: the timeline's shading and CPU rows) as they close; a
 * blocked interval once its class is known (classify, flush_other), so a
 * thread's states arrive out of order and consumers sort them.
 *
 * Every figure is in ns. Nothing here trusts the trace: negative spans are
 * clamped to 0, and a record out of order only shortens a state.
 */
#include <string.h>

#include "walk_internal.h"

enum { KS_UNKNOWN = 0, KS_RUNNING, KS_RUNNABLE, KS_SLEEPING };

static int64_t span(int64_t a, int64_t b)
{
	return b > a ? b - a : 0;
}

/* Hands the state [begin, end] of t to the consumers (perf only: a
 * schedstat interval's shares are not states in time). */
static void emit_state(struct walk *w, const struct walk_thread *t, int cls, int64_t begin, int64_t end)
{
	if (t->ks.mode != WS_PERF || end <= begin || !w->pass)
		return;
	struct walk_state st = {.thread = t, .begin = begin, .end = end, .cls = cls,
				.cpu = cls == WALK_RUNNING ? t->ks.cpu : -1};
	WALK_EMIT(w->pass, state, &st);
}

static void add_wait(struct walk_thread *t, int cls, int64_t ns)
{
	if (ns <= 0)
		return;
	t->wait[cls] += ns;
	if (cls == WC_SCHED)
		t->ks.runnable_since_runq += ns;
}

/* Blocked time of a pending sleep, charged to class cls. */
static void charge_sleep(struct walk_thread *t, const struct walk_sleep *p, int cls, int64_t ns)
{
	add_wait(t, cls, ns);
	if (p->from_stat && ns > 0)
		t->ks.stat_charged[cls] += ns;
	if (!p->edged && ns > 0)
		t->ks.unedged[cls] += ns;
}

/* The part of pending sleep p inside [b0, b1], in blocked ns. */
static int64_t overlap_share(const struct walk_sleep *p, int64_t b0, int64_t b1)
{
	int64_t lo = p->begin > b0 ? p->begin : b0, hi = p->end < b1 ? p->end : b1;
	if (hi < lo || p->ns <= 0)
		return 0;
	int64_t len = p->end - p->begin;
	if (len <= 0)
		return p->ns;
	return (int64_t)((double)p->ns * (double)(hi - lo) / (double)len);
}

/* Charges pending blocked time inside [b0, b1] to class cls. */
static void classify(struct walk *w, struct walk_thread *t, int cls, int64_t b0, int64_t b1)
{
	struct walk_states *k = &t->ks;
	for (uint32_t i = 0; i < k->npending; i++) {
		struct walk_sleep *p = &k->pending[i];
		int64_t part = overlap_share(p, b0, b1);
		charge_sleep(t, p, cls, part);
		p->ns -= part;
		if (part > 0) { /* the consumers see the overlap as that class */
			int64_t lo = p->begin > b0 ? p->begin : b0, hi = p->end < b1 ? p->end : b1;
			emit_state(w, t, cls, lo > p->shown ? lo : p->shown, hi);
			if (hi > p->shown)
				p->shown = hi;
		}
	}
}

/* Pending sleeps that ended by ns had no interposed call around them. */
static void flush_other(struct walk *w, struct walk_thread *t, int64_t ns)
{
	struct walk_states *k = &t->ks;
	uint32_t kept = 0;
	for (uint32_t i = 0; i < k->npending; i++) {
		if (k->pending[i].end <= ns) {
			const struct walk_sleep *p = &k->pending[i];
			charge_sleep(t, p, WC_OTHER, p->ns);
			/* what no call classified */
			emit_state(w, t, WC_OTHER, p->begin > p->shown ? p->begin : p->shown, p->end);
		} else
			k->pending[kept++] = k->pending[i];
	}
	k->npending = kept;
}

/* Blocked ns inside [begin, end], cause to be found. */
static void add_pending(struct walk_thread *t, int64_t begin, int64_t end, int64_t ns, int edged)
{
	struct walk_states *k = &t->ks;
	if (ns <= 0)
		return;
	if (k->npending == WALK_SLEEPS_PENDING) { /* merge the two oldest */
		k->pending[0].end = k->pending[1].end;
		k->pending[0].ns += k->pending[1].ns;
		k->pending[0].edged &= k->pending[1].edged;
		/* consumers see states from the newer sleep's begin: the older one's
		 * unshown part stays unpainted rather than cover the running
		 * time between the two */
		k->pending[0].shown = k->pending[1].begin;
		memmove(&k->pending[1], &k->pending[2], (WALK_SLEEPS_PENDING - 2) * sizeof k->pending[0]);
		k->npending--;
	}
	struct walk_sleep *p = &k->pending[k->npending++];
	*p = (struct walk_sleep){.begin = begin, .end = end > begin ? end : begin, .ns = ns, .shown = begin,
				 .edged = (uint8_t)edged};
}

/* A schedstat interval [a, b] was blocked `blocked` ns: the interposed
 * calls that ended inside it (known[], per class, ns) explain it first, in
 * proportion when they add up to more (their own running and runnable
 * time); the rest waits for a call still open at b, else is "other". */
static void charge_interval(struct walk_thread *t, int64_t a, int64_t b, int64_t blocked, int64_t *known)
{
	int64_t sum = 0;
	for (int c = 0; c < WC_COUNT; c++)
		sum += known[c];
	double f = sum > blocked ? (double)blocked / (double)sum : 1.0;
	for (int c = 0; c < WC_COUNT; c++) {
		int64_t part = (int64_t)((double)known[c] * f);
		add_wait(t, c, part);
		if (part > 0)
			t->ks.stat_charged[c] += part;
		blocked -= part;
		known[c] = 0;
	}
	add_pending(t, a, b, blocked, 1);
	if (blocked > 0)
		t->ks.pending[t->ks.npending - 1].from_stat = 1;
}

/* Takes back up to x ns of blocked time earlier schedstat intervals
 * counted (still pending, newest first, then charged): it was run-queue
 * time the kernel credited only later. Returns the ns taken. */
static int64_t take_back_blocked(struct walk_thread *t, int64_t x)
{
	struct walk_states *k = &t->ks;
	int64_t taken = 0;
	for (uint32_t i = k->npending; i-- > 0 && taken < x;) {
		struct walk_sleep *p = &k->pending[i];
		if (!p->from_stat || p->ns <= 0)
			continue;
		int64_t n = p->ns < x - taken ? p->ns : x - taken;
		p->ns -= n;
		taken += n;
	}
	for (int c = 0; c < WC_COUNT && taken < x; c++) {
		int64_t n = k->stat_charged[c] < x - taken ? k->stat_charged[c] : x - taken;
		if (n > t->wait[c])
			n = t->wait[c];
		t->wait[c] -= n;
		k->stat_charged[c] -= n;
		taken += n;
	}
	return taken;
}

/* A sleep from s to its switch-in at e: runnable from the first wake-up
 * edge inside it, blocked before. */
static void sleep_span(struct walk *w, struct walk_thread *t, int64_t s, int64_t e)
{
	if (e < s)
		e = s;
	uint32_t waker;
	int64_t woke = wakes_first(w, t->tid, s, e, &waker);
	if (woke >= 0) {
		add_wait(t, WC_SCHED, span(woke, e));
		emit_state(w, t, WC_SCHED, woke, e);
		e = woke;
	}
	add_pending(t, s, e, span(s, e), woke >= 0);
}

/* ---- perf: context switches ---- */

static void switch_out(struct walk *w, struct walk_thread *t, uint64_t cpu, uint64_t why, int64_t ns)
{
	struct walk_states *k = &t->ks;
	k->cpu = cpu > INT32_MAX ? -1 : (int32_t)cpu; /* where it ran until now */
	if (k->state == KS_RUNNABLE) { /* its switch-in was lost: close as if here */
		add_wait(t, WC_SCHED, span(k->since, ns));
		emit_state(w, t, WC_SCHED, k->since, ns);
	} else if (k->state == KS_SLEEPING) {
		sleep_span(w, t, k->since, ns);
	} else if (k->state == KS_RUNNING) {
		emit_state(w, t, WALK_RUNNING, k->since, ns);
	} else { /* on a CPU since its window opened */
		emit_state(w, t, WALK_RUNNING, k->win_begin, ns);
	}
	k->state = why == CPROF_SCHED_PREEMPTED ? KS_RUNNABLE : KS_SLEEPING;
	k->since = ns;
}

static void switch_in(struct walk *w, struct walk_thread *t, uint64_t cpu, int64_t ns)
{
	struct walk_states *k = &t->ks;
	if (k->state == KS_RUNNABLE) {
		add_wait(t, WC_SCHED, span(k->since, ns));
		emit_state(w, t, WC_SCHED, k->since, ns);
	} else if (k->state == KS_RUNNING) { /* its switch-out was lost */
		emit_state(w, t, WALK_RUNNING, k->since, ns);
	} else if (k->state == KS_SLEEPING)
		sleep_span(w, t, k->since, ns);
	else if (k->state == KS_UNKNOWN) /* off CPU since its window opened */
		sleep_span(w, t, k->win_begin, ns);
	k->state = KS_RUNNING;
	k->since = ns;
	k->cpu = cpu > INT32_MAX ? -1 : (int32_t)cpu;
}

/* The kernel's run-queue delay since its previous sample (RUNQ_DELAY,
 * taken after blocking calls): what it counts beyond the runnable time we
 * saw is the wake-up latency of sleeps no recorded edge ended (timers,
 * signals, unseen wakers), which we had counted as blocked: it moves to
 * runnable, at most what those sleeps were charged. */
static void runq_sample(struct walk_thread *t, uint64_t delay_ns)
{
	struct walk_states *k = &t->ks;
	int64_t missing = (delay_ns > INT64_MAX ? INT64_MAX : (int64_t)delay_ns) - k->runnable_since_runq;
	for (int c = 0; c < WC_COUNT && missing > 0; c++) {
		int64_t move = k->unedged[c] < missing ? k->unedged[c] : missing;
		if (move > t->wait[c])
			move = t->wait[c];
		t->wait[c] -= move;
		t->wait[WC_SCHED] += move;
		missing -= move;
	}
	memset(k->unedged, 0, sizeof k->unedged);
	k->runnable_since_runq = 0;
}

/* ---- schedstat: cumulative samples ---- */

/* [a, b] was on CPU and runnable in the shares of the last full interval. */
static void apply_shares(struct walk_thread *t, int64_t a, int64_t b)
{
	struct walk_states *k = &t->ks;
	int64_t el = span(a, b);
	int64_t rq = (int64_t)((double)el * k->share_rq);
	int64_t on = (int64_t)((double)el * k->share_on);
	add_wait(t, WC_SCHED, rq);
	charge_interval(t, a, b, el - rq - on, a == k->win_begin && b == k->lead_end ? k->lead_stat : k->since_stat);
}

/* [a, b] had d_on ns on CPU and d_rq ns on a run queue; the rest blocked.
 * The kernel adds a run-queue wait when it ends (at the switch-in), so an
 * interval may hold more than its span: the excess was counted as blocked
 * in the intervals before, and is taken back from them. */
static void apply_interval(struct walk_thread *t, int64_t a, int64_t b, uint64_t d_on, uint64_t d_rq)
{
	struct walk_states *k = &t->ks;
	int64_t el = span(a, b);
	if (el <= 0)
		return;
	int64_t on = d_on > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)d_on;
	int64_t rq = d_rq > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)d_rq;
	int64_t blocked = el - on - rq;
	if (blocked < 0) {
		/* this interval's own span in the kernel's split; what it holds
		 * beyond was running or runnable time counted as blocked before,
		 * taken back in the same split (on-CPU time lags too: it is
		 * credited at ticks and switches) */
		int64_t excess = -blocked, taken = take_back_blocked(t, excess);
		double f_rq = (double)rq / (double)(on + rq);
		int64_t rq_fit = (int64_t)((double)el * f_rq);
		on = el - rq_fit;
		rq = rq_fit + (int64_t)((double)taken * f_rq);
		blocked = 0;
	}
	k->share_on = on < el ? (double)on / (double)el : 1.0;
	k->share_rq = (double)rq / (double)el;
	if (k->share_on + k->share_rq > 1.0)
		k->share_rq = 1.0 - k->share_on;
	add_wait(t, WC_SCHED, rq);
	charge_interval(t, a, b, blocked, k->since_stat);
	if (k->lead_end) { /* the gap before the first sample, in these shares */
		apply_shares(t, k->win_begin, k->lead_end);
		k->lead_end = 0;
	}
}

static void stat_sample(struct walk_thread *t, uint64_t on, uint64_t rq, int64_t ns)
{
	struct walk_states *k = &t->ks;
	if (!k->has_stat) {
		if (k->born) /* the totals since its birth, which opened the window */
			apply_interval(t, k->win_begin, ns, on, rq);
		else {
			k->lead_end = ns > k->win_begin ? ns : k->win_begin + 1;
			memcpy(k->lead_stat, k->since_stat, sizeof k->lead_stat);
			memset(k->since_stat, 0, sizeof k->since_stat);
		}
	} else {
		apply_interval(t, k->stat_ts, ns, on > k->stat_on ? on - k->stat_on : 0,
			       rq > k->stat_rq ? rq - k->stat_rq : 0);
	}
	k->has_stat = 1;
	k->stat_ts = ns;
	k->stat_on = on;
	k->stat_rq = rq;
}

/* ---- the walk's hooks ---- */

int64_t states_wake_floor(const struct walk_thread *t)
{
	const struct walk_states *k = &t->ks;
	if (k->mode != WS_PERF)
		return INT64_MAX; /* sleep_span runs on perf records only */
	if (k->state == KS_SLEEPING)
		return k->since;
	if (k->state == KS_UNKNOWN)
		return k->win_begin;
	return INT64_MAX; /* a later sleep begins at a later switch-out */
}

void states_thread_begin(struct walk *w, struct walk_thread *t, int born, int64_t ns)
{
	struct walk_states *k = &t->ks;
	k->mode = (uint8_t)u64map_get(&w->sched_threads, t->tid);
	k->born = (uint8_t)born;
	k->win_begin = born || ns < 0 ? ns : 0; /* 0: the capture's start */
	k->since = k->win_begin;
}

void states_on_event(struct walk *w, struct walk_thread *t, const struct trace_event *ev, int64_t ns)
{
	struct walk_states *k = &t->ks;
	if (k->mode == WS_INTERPOSED)
		return;
	switch (ev->kind) {
	case CPROF_EV_SCHED_SWITCH_OUT:
		if (k->mode == WS_PERF)
			switch_out(w, t, ev->args[0], ev->args[1], ns);
		return;
	case CPROF_EV_SCHED_SWITCH_IN:
		if (k->mode == WS_PERF)
			switch_in(w, t, ev->args[0], ns);
		return;
	case CPROF_EV_SCHED_STAT:
		if (k->mode == WS_SCHEDSTAT)
			stat_sample(t, ev->args[0], ev->args[1], ns);
		return;
	case CPROF_EV_RUNQ_DELAY:
		if (k->mode == WS_PERF)
			runq_sample(t, ev->args[0]);
		return;
	/* recorded while inside a call (a signal handler, the call's own
	 * record at its end), or not the thread's own doing */
	case CPROF_EV_BLOCK_BEGIN:
	case CPROF_EV_BLOCK_END:
	case CPROF_EV_CPU_SAMPLE:
	case CPROF_EV_LOST:
	case CPROF_EV_FLIGHT_FROM:
		return;
	default: /* the thread ran at ns, outside any call */
		flush_other(w, t, ns);
	}
}

void states_block_end(struct walk *w, struct walk_thread *t, int cls, int64_t begin, int64_t end)
{
	struct walk_states *k = &t->ks;
	if (k->mode == WS_INTERPOSED)
		return;
	classify(w, t, cls, begin, end);
	k->last_block_begin = begin;
	k->last_block_end = end;
	k->last_block_cls = cls;
	if (k->mode == WS_SCHEDSTAT) { /* the part after the last sample */
		int64_t from = k->has_stat ? k->stat_ts : k->win_begin;
		k->since_stat[cls] += span(begin > from ? begin : from, end);
	}
	flush_other(w, t, end);
}

void states_finish(struct walk *w, struct walk_thread *t)
{
	struct walk_states *k = &t->ks;
	if (k->mode == WS_PERF) {
		if (k->state == KS_RUNNABLE) {
			add_wait(t, WC_SCHED, span(k->since, t->win_end));
			emit_state(w, t, WC_SCHED, k->since, t->win_end);
		} else if (k->state == KS_SLEEPING) {
			sleep_span(w, t, k->since, t->win_end);
		} else if (k->state == KS_RUNNING) {
			emit_state(w, t, WALK_RUNNING, k->since, t->win_end);
		}
		k->state = KS_UNKNOWN;
	} else if (k->mode == WS_SCHEDSTAT && k->has_stat) {
		if (k->lead_end) /* a single sample: no shares known, all blocked */
			apply_shares(t, k->win_begin, k->lead_end), k->lead_end = 0;
		apply_shares(t, k->stat_ts, t->win_end);
	}
	if (k->last_block_end > k->last_block_begin) /* the states just closed may lie in it */
		classify(w, t, k->last_block_cls, k->last_block_begin, k->last_block_end);
	flush_other(w, t, INT64_MAX);
}
