/*
 * check_blocking FACTS TRACE: asserts what blocking_app's trace must show
 * (see tests/blocking_app.c): the blocking events with their categories,
 * durations within tolerance, stacks naming the right functions, and the
 * wake-up edges pairing waker and wakee. Tolerances are wide on the slow
 * side (a loaded CI machine) and tight on the fast side (a wait cannot
 * end before its cause).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "trace_load.h"

struct block {
	uint32_t tid;
	uint64_t category, object, t0, t1;
	const char *what;
	uint64_t stack;
};

static struct block blocks[100000];
static size_t nblocks;
static struct loaded L;

static double ms(uint64_t ticks)
{
	return (double)ticks * 1e3 / (double)L.r.header.ticks_per_sec;
}

static int stack_has(uint64_t id, const char *fn)
{
	const struct trace_stack *s = trace_reader_stack(&L.r, id);
	for (uint32_t i = 0; s && i < s->nframes; i++) {
		const char *f = trace_reader_string(&L.r, s->frames[i].function);
		if (f && strcmp(f, fn) == 0)
			return 1;
	}
	return 0;
}

static const char *stack_leaf(uint64_t id)
{
	const struct trace_stack *s = trace_reader_stack(&L.r, id);
	const char *f = s && s->nframes ? trace_reader_string(&L.r, s->frames[0].function) : NULL;
	return f ? f : "";
}

static long facts_get(const char *facts, const char *key, int nth)
{
	FILE *f = fopen(facts, "r");
	char k[64];
	unsigned long long v;
	char line[256];
	int seen = 0;
	long out = -1;
	while (f && fgets(line, sizeof line, f)) {
		if (sscanf(line, "%63s %lli", k, (long long *)&v) == 2 && strcmp(k, key) == 0 && seen++ == nth) {
			out = (long)v;
			break;
		}
		if (sscanf(line, "%63s 0x%llx", k, &v) == 2 && strcmp(k, key) == 0 && seen++ == nth) {
			out = (long)v;
			break;
		}
	}
	if (f)
		fclose(f);
	return out;
}

/* Blocks of tid (0: any) on what/object, and the range of their durations. */
static int count_blocks(uint32_t tid, uint64_t category, const char *what, uint64_t object, double min_ms,
			double max_ms, const char *fn_in_stack, int *in_range)
{
	int n = 0;
	*in_range = 0;
	for (size_t i = 0; i < nblocks; i++) {
		struct block *b = &blocks[i];
		if ((tid && b->tid != tid) || b->category != category || strcmp(b->what, what) != 0 ||
		    (object && b->object != object))
			continue;
		n++;
		double d = ms(b->t1 - b->t0);
		int ok = d >= min_ms && d <= max_ms && stack_has(b->stack, fn_in_stack) &&
			 strcmp(stack_leaf(b->stack), what) == 0;
		if (!ok)
			fprintf(stderr, "  %s on %u: %.2f ms, leaf %s, %s in stack: %d\n", what, b->tid, d,
				stack_leaf(b->stack), fn_in_stack, stack_has(b->stack, fn_in_stack));
		*in_range += ok;
	}
	return n;
}

/* Wake-ups from a waker in `from` to a target in `to` on object, each
 * followed by the target's block ending on that object within 100 ms. */
static int count_wakeups(const uint32_t *from, int nfrom, const uint32_t *to, int nto, uint64_t object)
{
	int paired = 0;
	for (size_t i = 0; i < L.n; i++) {
		const struct trace_event *ev = &L.ev[i].ev;
		if (ev->kind != CPROF_EV_WAKEUP || (object && ev->args[1] != object))
			continue;
		int fok = 0, tok = 0;
		for (int k = 0; k < nfrom; k++)
			fok |= ev->tid == from[k];
		for (int k = 0; k < nto; k++)
			tok |= ev->args[0] == to[k];
		if (!fok || !tok || ev->args[0] == ev->tid)
			continue;
		for (size_t j = 0; j < nblocks; j++) {
			struct block *b = &blocks[j];
			if (b->tid == ev->args[0] && b->t0 <= ev->ts && b->t1 >= ev->ts &&
			    ms(b->t1 - ev->ts) < 100) {
				paired++;
				break;
			}
		}
	}
	return paired;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: check_blocking FACTS TRACE\n");
		return 2;
	}
	const char *facts = argv[1];
	CHECKF(load_file(&L, argv[2]) == 0, "%s", L.r.error);
	uint64_t open_t0[1 << 16] = {0};
	uint64_t open_args[1 << 16][4];
	for (size_t i = 0; i < L.n; i++) {
		const struct trace_event *ev = &L.ev[i].ev;
		uint32_t slot = ev->tid & 0xffff;
		if (ev->kind == CPROF_EV_BLOCK_BEGIN) {
			open_t0[slot] = ev->ts;
			memcpy(open_args[slot], ev->args, sizeof open_args[slot]);
		} else if (ev->kind == CPROF_EV_BLOCK_END && open_t0[slot] && nblocks < 100000) {
			const char *what = trace_reader_string(&L.r, open_args[slot][2]);
			blocks[nblocks++] = (struct block){ev->tid, open_args[slot][0], open_args[slot][1], open_t0[slot],
							   ev->ts, what ? what : "", open_args[slot][3]};
			open_t0[slot] = 0;
		}
	}
	printf("check_blocking: %zu events, %zu blocking calls, %" PRIu64 " lost\n", L.n, nblocks, L.lost);
	CHECK(L.lost == 0);

	uint64_t mutex = (uint64_t)facts_get(facts, "mutex", 0), cond = (uint64_t)facts_get(facts, "cond", 0);
	uint32_t contenders[4], main_tid = (uint32_t)facts_get(facts, "main_tid", 0);
	for (int i = 0; i < 4; i++)
		contenders[i] = (uint32_t)facts_get(facts, "contender_tid", i);
	uint32_t net = (uint32_t)facts_get(facts, "net_reader_tid", 0), sleeper = (uint32_t)facts_get(facts, "sleeper_tid", 0);
	uint32_t consumer = (uint32_t)facts_get(facts, "consumer_tid", 0), producer = (uint32_t)facts_get(facts, "producer_tid", 0);
	uint32_t preader = (uint32_t)facts_get(facts, "pipe_reader_tid", 0), pwriter = (uint32_t)facts_get(facts, "pipe_writer_tid", 0);
	CHECK(mutex && cond && main_tid && net && sleeper && consumer && producer && preader && pwriter);

	int ok, n;
	/* 4 threads x 3 holds of 5 ms, released together: 3 of them must wait
	 * (glibc's unfair mutex may let a releaser re-acquire, so perhaps once) */
	n = count_blocks(0, CPROF_BLOCK_SYNC, "pthread_mutex_lock", mutex, 0.5, 250, "hold_mutex", &ok);
	CHECKF(n >= 3 && ok == n, "mutex: %d blocks, %d as expected", n, ok);
	int long_waits = 0;
	for (size_t i = 0; i < nblocks; i++)
		long_waits += blocks[i].object == mutex && ms(blocks[i].t1 - blocks[i].t0) >= 4.0;
	CHECKF(long_waits >= 3, "mutex: only %d waits of a full 5 ms hold or more", long_waits);
	n = count_wakeups(contenders, 4, contenders, 4, mutex);
	CHECKF(n >= 3, "mutex: %d wake-ups pairing a releasing contender with a waiting one", n);

	n = count_blocks(net, CPROF_BLOCK_NET, "recv", 0, 40, 400, "net_reader", &ok);
	CHECKF(n == 1 && ok == 1, "recv: %d blocks, %d as expected", n, ok);
	n = count_blocks(sleeper, CPROF_BLOCK_SYSCALL, "nanosleep", 0, 29, 300, "sleeper", &ok);
	CHECKF(n == 1 && ok == 1, "nanosleep: %d blocks, %d as expected", n, ok);
	/* ~20 ms between items; the first wait begins whenever the consumer
	 * thread got going, so on a loaded machine it may be short, and a
	 * consumer running late finds items queued and does not wait at all */
	n = count_blocks(consumer, CPROF_BLOCK_SYNC, "pthread_cond_wait", cond, 10, 300, "consumer", &ok);
	CHECKF(n >= 2 && ok >= n - 1, "cond: %d waits, %d as expected", n, ok);
	n = count_wakeups(&producer, 1, &consumer, 1, cond);
	CHECKF(n >= 5, "cond: %d producer->consumer wake-ups", n);
	n = count_blocks(preader, CPROF_BLOCK_SYSCALL, "read", 0, 15, 300, "pipe_reader", &ok);
	CHECKF(n == 1 && ok == 1, "pipe read: %d blocks, %d as expected", n, ok);
	n = count_wakeups(&pwriter, 1, &preader, 1, 0);
	CHECKF(n == 1, "pipe: %d writer->reader wake-ups", n);
	/* waits on many fds: network only when a socket is among them */
	uint32_t poller = (uint32_t)facts_get(facts, "poller_tid", 0);
	CHECK(poller);
	n = count_blocks(poller, CPROF_BLOCK_SYSCALL, "poll", 0, 10, 300, "poller", &ok);
	CHECKF(n == 1 && ok == 1, "poll on a pipe: %d syscall waits, %d as expected", n, ok);
	n = count_blocks(poller, CPROF_BLOCK_SYSCALL, "select", 0, 10, 300, "poller", &ok);
	CHECKF(n == 1 && ok == 1, "select on a pipe: %d syscall waits, %d as expected", n, ok);
	n = count_blocks(poller, CPROF_BLOCK_SYSCALL, "epoll_wait", 0, 10, 300, "poller", &ok);
	CHECKF(n == 1 && ok == 1, "epoll_wait on a pipe: %d syscall waits, %d as expected", n, ok);
	n = count_blocks(poller, CPROF_BLOCK_NET, "poll", 0, 10, 300, "poller", &ok);
	CHECKF(n == 1 && ok == 1, "poll on a socket: %d net waits, %d as expected", n, ok);
	n = count_blocks(poller, CPROF_BLOCK_NET, "epoll_wait", 0, 10, 300, "poller", &ok);
	CHECKF(n == 1 && ok == 1, "epoll_wait on a socket: %d net waits, %d as expected", n, ok);
	/* a call still waiting when the capture ended: a block until the end */
	uint32_t idler = (uint32_t)facts_get(facts, "idler_tid", 0);
	uint64_t idle_cond = (uint64_t)facts_get(facts, "idle_cond", 0);
	uint64_t last_ts = 0;
	/* the program's own last event: the kernel's records and samples,
	 * flushed after the capture's end, may come a loaded machine's
	 * milliseconds later */
	for (size_t i = 0; i < L.n; i++) {
		unsigned k = L.ev[i].ev.kind;
		if (k == CPROF_EV_SCHED_SWITCH_OUT || k == CPROF_EV_SCHED_SWITCH_IN || k == CPROF_EV_SCHED_STAT ||
		    k == CPROF_EV_CPU_SAMPLE || k == CPROF_EV_RUNQ_DELAY)
			continue;
		if (L.ev[i].ev.ts > last_ts)
			last_ts = L.ev[i].ev.ts;
	}
	int idle_blocks = 0, idle_to_end = 0;
	for (size_t i = 0; i < nblocks; i++) {
		if (blocks[i].tid != idler)
			continue;
		idle_blocks++;
		idle_to_end += blocks[i].category == CPROF_BLOCK_SYNC && !strcmp(blocks[i].what, "pthread_cond_wait") &&
			       blocks[i].object == idle_cond && ms(blocks[i].t1 - blocks[i].t0) >= 20 &&
			       ms(last_ts - blocks[i].t1) < 5;
	}
	CHECKF(idler && idle_blocks == 1 && idle_to_end == 1, "idler: %d blocks, %d waiting until the end", idle_blocks,
	       idle_to_end);
	n = count_blocks(main_tid, CPROF_BLOCK_SYNC, "pthread_join", 0, 0.001, 5000, "main", &ok);
	CHECKF(n >= 1 && ok == n, "join: %d blocks, %d as expected", n, ok);

	/* threads: creator, start routine and creation stack */
	const char *routines[] = {"contender", "net_reader", "net_writer", "sleeper", "consumer", "producer",
				  "pipe_reader", "pipe_writer", "poller", "idler"};
	int starts = 0, named = 0;
	for (size_t i = 0; i < L.n; i++) {
		const struct trace_event *ev = &L.ev[i].ev;
		if (ev->kind != CPROF_EV_THREAD_START || ev->tid == main_tid)
			continue;
		starts++;
		const char *r = trace_reader_string(&L.r, ev->args[1]);
		int known = 0;
		for (size_t k = 0; r && k < sizeof routines / sizeof *routines; k++)
			known |= strcmp(r, routines[k]) == 0;
		named += known && ev->args[0] == main_tid && stack_has(ev->args[2], "main") &&
			 strcmp(stack_leaf(ev->args[2]), "pthread_create") == 0;
	}
	CHECKF(starts == 13 && named == 13, "%d thread starts, %d with creator, routine and stack", starts, named);
	loaded_free(&L);
	return check_done("check_blocking");
}
