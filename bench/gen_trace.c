/*
 * gen_trace: writes a synthetic cprof-trace file of about N events, shaped
 * like a busy server: worker threads serve "request" tasks with nested
 * regions ("handle" > "parse", "compute"), contend on a mutex (sync blocks
 * with stacks), read sockets (net blocks), log, and wake each other.
 *
 *   gen_trace OUT EVENTS [THREADS]
 *
 * Deterministic (fixed seed), so benchmark figures compare across runs.
 * Timestamps are in ns (ticks_per_sec = 1e9).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace_writer.h"

enum { S_REQUEST = 1, S_HANDLE, S_PARSE, S_COMPUTE, S_LOCK, S_READ, S_LOG, S_FN_LOCK, S_FN_READ,
       S_FN_HANDLE, S_FN_WORKER, S_FILE, S_WORKER, S_NSTRINGS };
static const char *const strings[S_NSTRINGS] = {
	[S_REQUEST] = "request", [S_HANDLE] = "handle", [S_PARSE] = "parse", [S_COMPUTE] = "compute",
	[S_LOCK] = "pthread_mutex_lock", [S_READ] = "recv", [S_LOG] = "status",
	[S_FN_LOCK] = "pthread_mutex_lock", [S_FN_READ] = "recv", [S_FN_HANDLE] = "handle_request",
	[S_FN_WORKER] = "worker_main", [S_FILE] = "server.c", [S_WORKER] = "worker_main",
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

#define BATCH_EVENTS 4096

struct gen_thread {
	uint32_t tid;
	uint64_t now; /* ns */
	uint64_t next_task;
	struct trace_batch b;
	uint32_t seq;
};

static void add(struct gen_thread *t, unsigned kind, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	uint64_t args[4] = {a0, a1, a2, a3};
	const char *msg = "request done: 200 OK";
	trace_batch_add(&t->b, kind, t->now, args, msg, kind == CPROF_EV_LOG ? strlen(msg) : 0);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: gen_trace OUT EVENTS [THREADS]\n");
		return 2;
	}
	uint64_t target = strtoull(argv[2], NULL, 10);
	unsigned nthreads = argc > 3 ? (unsigned)atoi(argv[3]) : 8;
	if (nthreads < 2 || nthreads > 1024) {
		fprintf(stderr, "gen_trace: THREADS must be 2..1024\n");
		return 2;
	}
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	struct trace_writer w;
	trace_writer_init(&w, trace_sink_fd, &fd);
	static const char cmd[] = "synthetic-server";
	struct cprof_header h = {.ticks_per_sec = 1000000000, .anchor_ticks = 0,
				 .anchor_realtime_ns = 1764000000000000000ull, .start_ticks = 1000, .pid = 1000,
				 .cmdline_len = sizeof cmd - 1, .cmdline = cmd};
	trace_writer_header(&w, &h);
	trace_writer_open(&w, CPROF_CHUNK_STRINGS);
	for (uint32_t i = 1; i < S_NSTRINGS; i++)
		trace_writer_string(&w, i, strings[i], strlen(strings[i]));
	trace_writer_close(&w);
	/* stack 1: mutex lock in handle_request; stack 2: recv in handle_request */
	trace_writer_open(&w, CPROF_CHUNK_STACKS);
	for (uint32_t s = 1; s <= 2; s++) {
		struct cprof_frame f[3] = {
			{.pc = 0x1000 * s, .function = s == 1 ? S_FN_LOCK : S_FN_READ, .file = S_FILE, .line = 10 * s},
			{.pc = 0x4000 + s, .function = S_FN_HANDLE, .file = S_FILE, .line = 100 + s},
			{.pc = 0x5000, .function = S_FN_WORKER, .file = S_FILE, .line = 200},
		};
		trace_writer_stack(&w, s, f, 3);
	}
	trace_writer_close(&w);

	struct gen_thread *th = calloc(nthreads, sizeof *th);
	for (unsigned i = 0; i < nthreads; i++) {
		th[i].tid = 1000 + i;
		th[i].now = 1000 + i * 10;
		th[i].next_task = (uint64_t)i << 40 | 1;
		trace_batch_reset(&th[i].b, th[i].tid, 0, th[i].now, "worker");
		add(&th[i], CPROF_EV_THREAD_START, 1000, S_WORKER, 0, 0);
	}
	uint64_t events = nthreads;
	while (events < target) {
		for (unsigned i = 0; i < nthreads && events < target; i++) {
			struct gen_thread *t = &th[i];
			/* one request: 19 events */
			uint64_t task = t->next_task++;
			add(t, CPROF_EV_TASK_BEGIN, S_REQUEST, task, 0, 0);
			t->now += 200;
			add(t, CPROF_EV_REGION_BEGIN, S_HANDLE, 0, 0, 0);
			t->now += 100;
			add(t, CPROF_EV_REGION_BEGIN, S_PARSE, 0, 0, 0);
			t->now += 300 + next_rand() % 500;
			add(t, CPROF_EV_BLOCK_BEGIN, CPROF_BLOCK_NET, 7, S_READ, 2);
			t->now += 2000 + next_rand() % 20000;
			add(t, CPROF_EV_BLOCK_END, 0, 0, 0, 0);
			t->now += 500;
			add(t, CPROF_EV_REGION_END, 0, 0, 0, 0);
			add(t, CPROF_EV_REGION_BEGIN, S_COMPUTE, 0, 0, 0);
			t->now += 1000 + next_rand() % 5000;
			add(t, CPROF_EV_BLOCK_BEGIN, CPROF_BLOCK_SYNC, 0x7000, S_LOCK, 1);
			/* the holder (the next thread) releases the mutex and wakes us */
			struct gen_thread *waker = &th[(i + 1) % nthreads];
			uint64_t wake = t->now + 1000 + next_rand() % 10000;
			if (waker->now > wake)
				wake = waker->now;
			waker->now = wake;
			add(waker, CPROF_EV_WAKEUP, t->tid, 0x7000, 1, 0);
			t->now = wake + 300 + next_rand() % 2000;
			add(t, CPROF_EV_BLOCK_END, 0, 0, 0, 0);
			t->now += 2000 + next_rand() % 3000;
			add(t, CPROF_EV_REGION_END, 0, 0, 0, 0);
			add(t, CPROF_EV_LOG, S_LOG, 0, 0, 0);
			t->now += 100;
			add(t, CPROF_EV_REGION_END, 0, 0, 0, 0);
			add(t, CPROF_EV_TASK_END, task, 0, 0, 0);
			t->now += 500 + next_rand() % 2000;
			events += 14;
			if (next_rand() % 64 == 0) {
				add(t, CPROF_EV_RUNQ_DELAY, 5000, 0, 0, 0);
				events++;
			}
			if (t->b.nevents >= BATCH_EVENTS) {
				trace_writer_batch(&w, &t->b);
				trace_batch_reset(&t->b, t->tid, ++t->seq, t->now, "worker");
			}
		}
	}
	for (unsigned i = 0; i < nthreads; i++) {
		add(&th[i], CPROF_EV_THREAD_EXIT, 0, 0, 0, 0);
		trace_writer_batch(&w, &th[i].b);
		trace_batch_free(&th[i].b);
	}
	trace_writer_end(&w);
	int err = w.error;
	trace_writer_destroy(&w);
	free(th);
	if (err || close(fd)) {
		fprintf(stderr, "gen_trace: write failed\n");
		return 1;
	}
	printf("%llu events\n", (unsigned long long)(events + nthreads));
	return 0;
}
