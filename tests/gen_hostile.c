/*
 * Writes the hostile trace files of tests/hostile/ (issue "Hostile input
 * and faults"): each is small, well-formed where it must be to get past the
 * reader, and absurd where the viewer once trusted it.
 *   gen_hostile DIR          the committed corpus (the .trace files of tests/hostile)
 *   gen_hostile DIR threads  also many_threads.trace (100,000 threads, 4 MB:
 *                            generated at test time, not committed)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace_writer.h"

static struct trace_writer w;
static int fd = -1;

static void begin(const char *dir, const char *name, uint64_t ticks_per_sec, uint64_t start)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	trace_writer_init(&w, trace_sink_fd, &fd);
	static const char cmd[] = "hostile";
	struct cprof_header h = {.version = CPROF_FORMAT_VERSION, .ticks_per_sec = ticks_per_sec,
				 .anchor_ticks = start, .start_ticks = start, .pid = 1,
				 .cmdline_len = sizeof cmd - 1, .cmdline = cmd};
	trace_writer_header(&w, &h);
}

static void end(int with_end)
{
	if (with_end)
		trace_writer_end(&w);
	if (w.error) {
		fprintf(stderr, "gen_hostile: write error %d\n", w.error);
		exit(1);
	}
	trace_writer_destroy(&w);
	close(fd);
}

static void strings(uint32_t id, const char *s)
{
	trace_writer_open(&w, CPROF_CHUNK_STRINGS);
	trace_writer_string(&w, id, s, strlen(s));
	trace_writer_close(&w);
}

static void ev(struct trace_batch *b, unsigned kind, uint64_t ts, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	uint64_t args[4] = {a0, a1, a2, a3};
	trace_batch_add(b, kind, ts, args, "m", 1);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: gen_hostile DIR [threads]\n");
		return 2;
	}
	const char *dir = argv[1];
	struct trace_batch b = {0};

	/* Item 1: regions nested 3000 deep (the walk's stack held 1024). */
	begin(dir, "deep_regions.trace", 1000000000, 1000);
	strings(1, "level");
	trace_batch_reset(&b, 7, 0, 1000, "deep");
	for (int i = 0; i < 3000; i++)
		ev(&b, CPROF_EV_REGION_BEGIN, 1000 + (uint64_t)i, 1, 0, 0, 0);
	ev(&b, CPROF_EV_BLOCK_BEGIN, 5000, 0, 1, 1, 0);
	ev(&b, CPROF_EV_BLOCK_END, 5001, 0, 0, 0, 0);
	for (int i = 0; i < 3000; i++)
		ev(&b, CPROF_EV_REGION_END, 6000 + (uint64_t)i, 1, 0, 0, 0);
	trace_writer_batch(&w, &b);
	end(1);

	/* Item 2: a thread first met in a batch whose name has length 0. */
	begin(dir, "empty_thread_name.trace", 1000000000, 1000);
	trace_batch_reset(&b, 9, 0, 1000, "");
	ev(&b, CPROF_EV_THREAD_START, 1001, 0, 0, 0, 0);
	ev(&b, CPROF_EV_THREAD_EXIT, 1002, 0, 0, 0, 0);
	trace_writer_batch(&w, &b);
	for (uint32_t t = 10; t < 40; t++) { /* grows the thread table (realloc) */
		trace_batch_reset(&b, t, 0, 1000, t & 1 ? "" : "named");
		ev(&b, CPROF_EV_THREAD_START, 1001, 0, 0, 0, 0);
		trace_writer_batch(&w, &b);
	}
	end(1);

	/* Item 3: a batch base near 2^63 at 1 tick per second, blocks and
	 * regions and tasks spanning the whole range. */
	begin(dir, "absurd_timestamps.trace", 1, 0);
	strings(1, "r");
	trace_batch_reset(&b, 3, 0, (1ull << 63) - 10, "absurd");
	ev(&b, CPROF_EV_TASK_BEGIN, (1ull << 63) - 10, 1, 5, 0, 0);
	ev(&b, CPROF_EV_REGION_BEGIN, (1ull << 63) - 9, 1, 0, 0, 0);
	ev(&b, CPROF_EV_BLOCK_BEGIN, (1ull << 63) - 8, 0, 1, 1, 0);
	ev(&b, CPROF_EV_BLOCK_END, (1ull << 63) + 8, 0, 0, 0, 0);
	ev(&b, CPROF_EV_WAKEUP, (1ull << 63) + 9, 4, 0, 0, 0);
	ev(&b, CPROF_EV_RUNQ_DELAY, (1ull << 63) + 9, ~0ull, 0, 0, 0);
	ev(&b, CPROF_EV_REGION_END, 2, 1, 0, 0, 0);
	ev(&b, CPROF_EV_TASK_END, ~0ull, 5, 0, 0, 0);
	trace_writer_batch(&w, &b);
	trace_batch_reset(&b, 4, 0, 0, "zero");
	for (int i = 0; i < 8; i++) {
		ev(&b, CPROF_EV_BLOCK_BEGIN, 0, 1, 1, 1, 0);
		ev(&b, CPROF_EV_BLOCK_END, ~0ull, 0, 0, 0, 0);
	}
	trace_writer_batch(&w, &b);
	end(1);

	/* Item 3: a zero-length first chunk (an unknown type, skipped). */
	begin(dir, "zero_length_chunk.trace", 1000000000, 0);
	uint8_t hdr[8] = {200, 0, 0, 0, 0, 0, 0, 0};
	trace_sink_fd(&fd, hdr, sizeof hdr);
	hdr[0] = CPROF_CHUNK_STRINGS;
	trace_sink_fd(&fd, hdr, sizeof hdr);
	trace_batch_reset(&b, 1, 0, 0, "t");
	ev(&b, CPROF_EV_THREAD_START, 1, 0, 0, 0, 0);
	trace_writer_batch(&w, &b);
	end(1);

	/* Item 17: one string id of 2^24 - 1 and a stack of the same id. */
	begin(dir, "huge_ids.trace", 1000000000, 0);
	strings(CPROF_STRING_ID_MAX - 1, "far");
	trace_writer_open(&w, CPROF_CHUNK_STACKS);
	struct cprof_frame f = {.pc = 1, .function = CPROF_STRING_ID_MAX - 1};
	trace_writer_stack(&w, CPROF_STACK_ID_MAX - 1, &f, 1);
	trace_writer_close(&w);
	trace_batch_reset(&b, 1, 0, 0, "t");
	ev(&b, CPROF_EV_REGION_BEGIN, 1, CPROF_STRING_ID_MAX - 1, 0, 0, 0);
	ev(&b, CPROF_EV_BLOCK_BEGIN, 2, 0, 1, CPROF_STRING_ID_MAX - 1, CPROF_STACK_ID_MAX - 1);
	ev(&b, CPROF_EV_BLOCK_END, 3, 0, 0, 0, 0);
	ev(&b, CPROF_EV_REGION_END, 4, CPROF_STRING_ID_MAX - 1, 0, 0, 0);
	trace_writer_batch(&w, &b);
	end(1);

	/* Item 16: 100,000 threads, each its own group (a unique name). */
	if (argc > 2 && strcmp(argv[2], "threads") == 0) {
		begin(dir, "many_threads.trace", 1000000000, 0);
		for (uint32_t t = 1; t <= 100000; t++) {
			char name[16];
			snprintf(name, sizeof name, "w%u", t);
			trace_batch_reset(&b, t, 0, t, name);
			ev(&b, CPROF_EV_BLOCK_BEGIN, t, 0, 1, 0, 0);
			ev(&b, CPROF_EV_BLOCK_END, t + 5, 0, 0, 0, 0);
			trace_writer_batch(&w, &b);
		}
		end(1);
	}
	trace_batch_free(&b);
	return 0;
}
