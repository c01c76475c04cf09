/*
 * gen_wakes: writes a trace that is almost all wake-ups, for the test that
 * the viewer's memory does not follow the event count (e2e_wake_memory.sh).
 * THREADS threads share one clock; at each step one of them either wakes
 * another (WAKEUP, like an unlock or a signal nobody waits for, or one a
 * blocked thread waits for), or begins or ends a sync block (with a stack),
 * so some wake-ups end blocks and most do not. Each thread's batch is
 * written when it holds 4096 events, as the tracer's rings are drained.
 *
 *   gen_wakes OUT EVENTS [THREADS]
 *
 * Deterministic (fixed seed). Timestamps in ns.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace_writer.h"

#define BATCH_EVENTS 4096

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct th {
	uint32_t tid;
	uint32_t seq;
	int in_block;
	struct trace_batch b;
};

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: gen_wakes OUT EVENTS [THREADS]\n");
		return 2;
	}
	uint64_t target = strtoull(argv[2], NULL, 10);
	unsigned n = argc > 3 ? (unsigned)atoi(argv[3]) : 6;
	if (n < 2 || n > 1024) {
		fprintf(stderr, "gen_wakes: THREADS must be 2..1024\n");
		return 2;
	}
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	struct trace_writer w;
	trace_writer_init(&w, trace_sink_fd, &fd);
	static const char cmd[] = "wake-flood";
	struct cprof_header h = {.ticks_per_sec = 1000000000, .anchor_realtime_ns = 1764000000000000000ull,
				 .start_ticks = 1000, .pid = 2000, .cmdline_len = sizeof cmd - 1, .cmdline = cmd};
	trace_writer_header(&w, &h);
	static const char *const strings[] = {"", "pthread_mutex_lock", "worker", "lock.c"};
	trace_writer_open(&w, CPROF_CHUNK_STRINGS);
	for (uint32_t i = 1; i < 4; i++)
		trace_writer_string(&w, i, strings[i], strlen(strings[i]));
	trace_writer_close(&w);
	trace_writer_open(&w, CPROF_CHUNK_STACKS);
	struct cprof_frame f[2] = {{.pc = 0x1000, .function = 1, .file = 3, .line = 10},
				   {.pc = 0x2000, .function = 2, .file = 3, .line = 20}};
	trace_writer_stack(&w, 1, f, 2);
	trace_writer_close(&w);

	struct th *t = calloc(n, sizeof *t);
	uint64_t now = 1000, events = 0;
	for (unsigned i = 0; i < n; i++) {
		t[i].tid = 2000 + i;
		trace_batch_reset(&t[i].b, t[i].tid, 0, now, "worker");
		uint64_t a[4] = {i ? 2000 : 0, 2, 0, 0};
		trace_batch_add(&t[i].b, CPROF_EV_THREAD_START, now, a, NULL, 0);
		events++;
	}
	for (uint64_t step = 0; events < target; step++) {
		struct th *x = &t[step % n];
		now += 20 + next_rand() % 200;
		uint64_t a[4] = {0};
		unsigned kind;
		uint64_t r = next_rand();
		if (x->in_block && r % 8 == 0) {
			kind = CPROF_EV_BLOCK_END;
			x->in_block = 0;
		} else if (!x->in_block && r % 64 == 1) {
			kind = CPROF_EV_BLOCK_BEGIN;
			a[0] = CPROF_BLOCK_SYNC, a[1] = 0x7000, a[2] = 1, a[3] = 1;
			x->in_block = 1;
		} else if (x->in_block) {
			continue; /* asleep: records nothing */
		} else {
			kind = CPROF_EV_WAKEUP;
			a[0] = t[(step + 1 + r % (n - 1)) % n].tid, a[1] = 0x7000, a[2] = 1;
		}
		trace_batch_add(&x->b, kind, now, a, NULL, 0);
		events++;
		if (x->b.nevents >= BATCH_EVENTS) {
			trace_writer_batch(&w, &x->b);
			trace_batch_reset(&x->b, x->tid, ++x->seq, now, "worker");
		}
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t a[4] = {0};
		trace_batch_add(&t[i].b, CPROF_EV_THREAD_EXIT, now, a, NULL, 0);
		trace_writer_batch(&w, &t[i].b);
		trace_batch_free(&t[i].b);
	}
	trace_writer_end(&w);
	int err = w.error;
	trace_writer_destroy(&w);
	free(t);
	if (err || close(fd)) {
		fprintf(stderr, "gen_wakes: write failed\n");
		return 1;
	}
	printf("%llu events\n", (unsigned long long)(events + n));
	return 0;
}
