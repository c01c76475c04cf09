/*
 * The format's writer and reader against each other: a round trip of every
 * table and event kind, unknown chunks skipped, and hostile input: every
 * byte-level truncation and single-byte corruptions of a small trace give a
 * clean partial result or an error naming an offset, never a crash (this
 * test runs under ASan/UBSan in the suite).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "trace_reader.h"
#include "trace_writer.h"

static int sink_mem(void *ctx, const void *buf, size_t len)
{
	return trace_buf_put(ctx, buf, len);
}

struct expect {
	uint32_t tid;
	unsigned kind;
	uint64_t ts;
	uint64_t args[CPROF_EVENT_MAX_ARGS];
	const char *bytes;
};

static struct expect expected[64];
static int nexpected;

static void add(struct trace_batch *b, unsigned kind, uint64_t ts, uint64_t a0, uint64_t a1, uint64_t a2,
		const char *bytes)
{
	uint64_t args[CPROF_EVENT_MAX_ARGS] = {a0, a1, a2, 0};
	CHECK(trace_batch_add(b, kind, ts, args, bytes, bytes ? strlen(bytes) : 0) == 0);
	expected[nexpected++] = (struct expect){b->tid, kind, ts, {a0, a1, a2, 0}, bytes};
}

/* Writes the sample trace into out. */
static void build(struct trace_buf *out)
{
	struct trace_writer w;
	trace_writer_init(&w, sink_mem, out);
	static const char cmd[] = "./app\0--flag";
	struct cprof_header h = {.ticks_per_sec = 1000000000, .anchor_ticks = 5, .anchor_realtime_ns = 1700000000000000000ull,
				 .start_ticks = 1000, .pid = 4242, .cmdline_len = sizeof cmd - 1, .cmdline = cmd};
	CHECK(trace_writer_header(&w, &h) == 0);
	CHECK(trace_writer_open(&w, CPROF_CHUNK_STRINGS) == 0);
	CHECK(trace_writer_string(&w, 1, "parse", 5) == 0);
	CHECK(trace_writer_string(&w, 2, "request", 7) == 0);
	CHECK(trace_writer_string(&w, 3, "main.c", 6) == 0);
	CHECK(trace_writer_close(&w) == 0);
	struct cprof_frame frames[2] = {{0x401000, 1, 3, 42, 0, 0x1000}, {0x402000, 2, 3, 7, 0, 0x2000}};
	CHECK(trace_writer_open(&w, CPROF_CHUNK_STACKS) == 0);
	CHECK(trace_writer_stack(&w, 1, frames, 2) == 0);
	CHECK(trace_writer_close(&w) == 0);
	/* a string entry in a stacks chunk is refused */
	struct trace_writer bad;
	struct trace_buf scratch = {0};
	trace_writer_init(&bad, sink_mem, &scratch);
	CHECK(trace_writer_string(&bad, 1, "x", 1) == -EINVAL);
	trace_writer_destroy(&bad);
	trace_buf_free(&scratch);

	struct trace_batch b = {0};
	trace_batch_reset(&b, 11, 0, 1000, "worker-1");
	add(&b, CPROF_EV_THREAD_START, 1001, 10, 0, 0, NULL);
	add(&b, CPROF_EV_TASK_BEGIN, 1100, 2, 77, 0, NULL);
	add(&b, CPROF_EV_REGION_BEGIN, 1200, 1, 0, 0, NULL);
	add(&b, CPROF_EV_LOG, 1250, 2, 0, 0, "hello, log");
	add(&b, CPROF_EV_REGION_END, 1190, 1, 0, 0, NULL); /* a backwards step (TSC skew) */
	CHECK(trace_writer_batch(&w, &b) == 0);

	/* an unknown chunk type 200: a newer writer's addition */
	uint8_t unknown[CPROF_CHUNK_HEADER + 3] = {200, 0, 0, 0, 3, 0, 0, 0, 'a', 'b', 'c'};
	CHECK(trace_buf_put(out, unknown, sizeof unknown) == 0);

	trace_batch_reset(&b, 12, 0, 2000, "");
	add(&b, CPROF_EV_TASK_END, 2100, 77, 0, 0, NULL);
	add(&b, CPROF_EV_BLOCK_BEGIN, 2200, CPROF_BLOCK_SYNC, 0x7ffd1234, 1, NULL);
	add(&b, CPROF_EV_BLOCK_END, 2300, 0, 0, 0, NULL);
	add(&b, CPROF_EV_WAKEUP, 2400, 11, 0x7ffd1234, 1, NULL);
	add(&b, CPROF_EV_LOST, 2500, 9, 2450, 0, NULL);
	add(&b, CPROF_EV_THREAD_EXIT, 3000, 0, 0, 0, NULL);
	CHECK(trace_writer_batch(&w, &b) == 0);
	trace_batch_free(&b);

	struct cprof_lost lost = {12, 9, 2450, 2450};
	CHECK(trace_writer_open(&w, CPROF_CHUNK_LOST) == 0);
	CHECK(trace_writer_lost(&w, &lost) == 0);
	CHECK(trace_writer_close(&w) == 0);
	CHECK(trace_writer_end(&w) == 0);
	CHECK(w.events == (uint64_t)nexpected);
	trace_writer_destroy(&w);
}

static int same(const struct trace_event *ev, const struct expect *e)
{
	const struct cprof_event_info *info = cprof_event_info(e->kind);
	if (ev->tid != e->tid || ev->kind != e->kind || ev->ts != e->ts)
		return 0;
	for (unsigned i = 0; i < info->nargs; i++)
		if (ev->args[i] != e->args[i])
			return 0;
	if (e->bytes)
		return ev->nbytes == strlen(e->bytes) && memcmp(ev->bytes, e->bytes, ev->nbytes) == 0;
	return ev->nbytes == 0;
}

/* Reads data; returns the reader's final status and checks that every
 * event yielded matches the expected prefix. */
static int read_all(const uint8_t *data, size_t len, int *events, struct trace_reader *r)
{
	struct trace_mem_source m = {data, len, 0};
	*events = 0;
	if (trace_reader_open(r, trace_source_mem, &m))
		return -1;
	struct trace_event ev;
	int rc;
	while ((rc = trace_reader_next(r, &ev)) == 1) {
		if (*events < nexpected && !same(&ev, &expected[*events]))
			return -2;
		(*events)++;
	}
	return rc;
}

/* The header extension (sched source, CPU rate) and the SCHED chunk round
 * trip; an unknown extension tag is skipped. */
static void test_header_extension(void)
{
	struct trace_buf out = {0};
	struct trace_writer w;
	trace_writer_init(&w, sink_mem, &out);
	struct cprof_header h = {.ticks_per_sec = 1000, .pid = 7, .cmdline_len = 3, .cmdline = "abc",
				 .sched_source = CPROF_SCHED_SOURCE_PERF, .has_cpu_hz = 1, .cpu_hz = 250};
	CHECK(trace_writer_header(&w, &h) == 0);
	CHECK(trace_writer_sched_lost(&w, 17) == 0);
	CHECK(trace_writer_end(&w) == 0);
	trace_writer_destroy(&w);
	struct trace_reader r;
	int n;
	CHECK(read_all(out.p, out.len, &n, &r) == 0);
	CHECK(r.header.sched_source == CPROF_SCHED_SOURCE_PERF && r.header.has_cpu_hz && r.header.cpu_hz == 250);
	CHECK(r.header.cmdline_len == 3 && strcmp(r.header.cmdline, "abc") == 0);
	CHECK(r.sched_lost == 17 && strcmp(trace_sched_source_name(&r), "perf") == 0);
	trace_reader_close(&r);
	/* an unknown tag (9) before the known ones is skipped */
	uint32_t hlen = le_get32(out.p + 12);
	struct trace_buf alt = {0};
	uint8_t unknown[] = {9, 2, 0xaa, 0xbb};
	trace_buf_put(&alt, out.p, CPROF_HEADER_FIXED + 3);
	le_put32(alt.p + 12, hlen + (uint32_t)sizeof unknown);
	trace_buf_put(&alt, unknown, sizeof unknown);
	trace_buf_put(&alt, out.p + CPROF_HEADER_FIXED + 3, out.len - CPROF_HEADER_FIXED - 3);
	CHECK(read_all(alt.p, alt.len, &n, &r) == 0);
	CHECK(r.header.sched_source == CPROF_SCHED_SOURCE_PERF && r.header.cpu_hz == 250);
	trace_reader_close(&r);
	trace_buf_free(&alt);
	trace_buf_free(&out);
}

/* MODULES: a module's build id reads back as hex; an entry naming no
 * defined string is skipped; a build id past 64 bytes is an error. */
static void test_modules(void)
{
	struct trace_buf out = {0};
	struct trace_writer w;
	trace_writer_init(&w, sink_mem, &out);
	struct cprof_header h = {.ticks_per_sec = 1000, .pid = 7};
	CHECK(trace_writer_header(&w, &h) == 0);
	CHECK(trace_writer_open(&w, CPROF_CHUNK_STRINGS) == 0);
	CHECK(trace_writer_string(&w, 1, "libx.so", 7) == 0);
	CHECK(trace_writer_close(&w) == 0);
	const uint8_t id[4] = {0xde, 0xad, 0x01, 0x0f};
	CHECK(trace_writer_open(&w, CPROF_CHUNK_MODULES) == 0);
	CHECK(trace_writer_module(&w, 1, id, sizeof id) == 0);
	CHECK(trace_writer_module(&w, 5, id, sizeof id) == 0); /* string 5 is never defined */
	CHECK(trace_writer_close(&w) == 0);
	size_t before_end = out.len;
	CHECK(trace_writer_end(&w) == 0);
	trace_writer_destroy(&w);
	struct trace_reader r;
	int n;
	CHECK(read_all(out.p, out.len, &n, &r) == 0);
	CHECK(trace_reader_build_id(&r, 1) && strcmp(trace_reader_build_id(&r, 1), "dead010f") == 0);
	CHECK(trace_reader_build_id(&r, 5) == NULL && trace_reader_build_id(&r, 2) == NULL);
	trace_reader_close(&r);
	/* a hand-made MODULES chunk claiming a 65-byte build id */
	struct trace_buf bad = {0};
	trace_buf_put(&bad, out.p, before_end);
	uint8_t chunk[CPROF_CHUNK_HEADER + 2 + 65] = {CPROF_CHUNK_MODULES};
	le_put32(chunk + 4, 2 + 65);
	chunk[CPROF_CHUNK_HEADER] = 1;
	chunk[CPROF_CHUNK_HEADER + 1] = 65;
	trace_buf_put(&bad, chunk, sizeof chunk);
	trace_buf_put(&bad, out.p + before_end, out.len - before_end);
	CHECK(read_all(bad.p, bad.len, &n, &r) != 0 && strstr(r.error, "build id of 65 bytes out of range"));
	trace_reader_close(&r);
	trace_buf_free(&bad);
	trace_buf_free(&out);
}

/* One process image's part of a tree file: strings "main"/"fib" under
 * stream ids 1/2 in pid 100 and swapped in pid 200; the same stack
 * (function "main") under different stream ids; tid 7 in both pids (pid
 * reuse); task 1 in both. */
static void tree_part(struct trace_writer *w, uint32_t pid, uint64_t stream, int swap, int end)
{
	trace_writer_set_part(w, pid, stream);
	w->events = w->lost = 0; /* each process has its own writer */
	char cmd[16];
	int n = snprintf(cmd, sizeof cmd, "app%u", pid);
	struct cprof_process p = {.pid = pid, .ppid = pid == 100 ? 1 : 100, .start_ticks = 1000, .cmdline = cmd,
				  .cmdline_len = (uint32_t)n};
	trace_writer_process(w, &p);
	uint32_t main_id = swap ? 2 : 1, fib_id = swap ? 1 : 2, stack_id = swap ? 9 : 5;
	struct cprof_frame f = {.pc = 0x1000 + pid, .function = main_id, .module = fib_id, .module_offset = 0x10};
	trace_writer_open(w, CPROF_CHUNK_STACKS);
	trace_writer_stack(w, stack_id, &f, 1);
	trace_writer_close(w);
	trace_writer_open(w, CPROF_CHUNK_STRINGS);
	trace_writer_string(w, main_id, "main", 4);
	trace_writer_string(w, fib_id, "fib", 3);
	trace_writer_close(w);
	struct trace_batch b = {0};
	trace_batch_reset(&b, 7, 0, 1000, "t");
	uint64_t region[1] = {fib_id}, task[3] = {main_id, 1, 0}, block[4] = {3, 0, fib_id, stack_id};
	trace_batch_add(&b, CPROF_EV_TASK_BEGIN, 1001, task, NULL, 0);
	trace_batch_add(&b, CPROF_EV_REGION_BEGIN, 1002, region, NULL, 0);
	trace_batch_add(&b, CPROF_EV_BLOCK_BEGIN, 1003, block, NULL, 0);
	trace_writer_batch(w, &b);
	trace_batch_free(&b);
	if (end)
		trace_writer_end(w);
}

static void test_tree(void)
{
	struct trace_buf file = {0};
	struct trace_writer w;
	trace_writer_init(&w, sink_mem, &file);
	struct cprof_header h = {.flags = CPROF_FLAG_TREE, .ticks_per_sec = 1000000000u, .pid = 100,
				 .cmdline = "app100", .cmdline_len = 6};
	trace_writer_header(&w, &h);
	tree_part(&w, 100, 11, 0, 1);
	tree_part(&w, 200, 22, 1, 1);
	CHECK(w.error == 0);
	struct trace_reader r;
	struct trace_mem_source m = {file.p, file.len, 0};
	CHECK(trace_reader_open(&r, trace_source_mem, &m) == 0 && r.tree);
	struct trace_event ev[6];
	int n = 0, rc;
	while (n < 6 && (rc = trace_reader_next(&r, &ev[n])) == 1)
		n++;
	CHECK(n == 6 && trace_reader_next(&r, &ev[0]) == 0 && r.status == 1);
	CHECK(r.nparts == 2 && r.parts[0].pid == 100 && r.parts[1].pid == 200 && r.parts[1].ppid == 100);
	CHECK(r.parts[1].cmdline && strcmp(r.parts[1].cmdline, "app200") == 0);
	/* strings: one id per text across parts */
	CHECK(ev[1].kind == CPROF_EV_REGION_BEGIN && ev[4].kind == CPROF_EV_REGION_BEGIN);
	CHECK(ev[1].args[0] == ev[4].args[0] && strcmp(trace_reader_string(&r, ev[4].args[0]), "fib") == 0);
	CHECK(strcmp(trace_reader_string(&r, ev[3].args[0]), "main") == 0);
	/* pids; tid 7 of pid 200 is not pid 100's tid 7 */
	CHECK(ev[0].pid == 100 && ev[3].pid == 200 && ev[0].tid == 7 && ev[3].tid != 7);
	CHECK(trace_reader_thread_pid(&r, ev[3].tid) == 200 && trace_reader_thread_pid(&r, 7) == 100);
	/* tasks: per-process counters kept apart */
	CHECK(ev[0].args[1] != ev[3].args[1]);
	/* stacks: the same frames (PCs aside) are one stack */
	CHECK(ev[2].args[3] && ev[2].args[3] == ev[5].args[3]);
	const struct trace_stack *k = trace_reader_stack(&r, ev[5].args[3]);
	CHECK(k && k->nframes == 1 && strcmp(trace_reader_string(&r, k->frames[0].function), "main") == 0 &&
	      strcmp(trace_reader_string(&r, k->frames[0].module), "fib") == 0);
	CHECK(r.end_events == 6);
	trace_reader_close(&r);

	/* a part without its end (a process still running): every event, then
	 * "truncated", naming the process */
	file.len = 0;
	trace_writer_destroy(&w);
	trace_writer_init(&w, sink_mem, &file);
	trace_writer_header(&w, &h);
	tree_part(&w, 100, 11, 0, 1);
	tree_part(&w, 200, 22, 1, 0);
	m = (struct trace_mem_source){file.p, file.len, 0};
	CHECK(trace_reader_open(&r, trace_source_mem, &m) == 0);
	n = 0;
	while ((rc = trace_reader_next(&r, &ev[0])) == 1)
		n++;
	CHECK(n == 6 && rc == -1 && r.truncated && strstr(r.error, "process 200 (app200)"));
	trace_reader_close(&r);

	/* a PART whose inner chunk does not fill it exactly is corrupt */
	file.len = 0;
	trace_writer_destroy(&w);
	trace_writer_init(&w, sink_mem, &file);
	trace_writer_header(&w, &h);
	size_t at = file.len;
	tree_part(&w, 100, 11, 0, 1);
	file.p[at + 4] += 1; /* PART payload one byte longer than its inner chunk */
	m = (struct trace_mem_source){file.p, file.len, 0};
	CHECK(trace_reader_open(&r, trace_source_mem, &m) == 0);
	while ((rc = trace_reader_next(&r, &ev[0])) == 1)
		;
	CHECK(rc == -1 && strstr(r.error, "part chunk"));
	trace_reader_close(&r);
	trace_writer_destroy(&w);
	trace_buf_free(&file);
}

int main(void)
{
	test_header_extension();
	test_modules();
	test_tree();
	struct trace_buf file = {0};
	build(&file);

	/* round trip */
	struct trace_reader r;
	int n;
	CHECK(read_all(file.p, file.len, &n, &r) == 0);
	CHECKF(n == nexpected, "%d events of %d", n, nexpected);
	CHECK(r.header.pid == 4242 && r.header.ticks_per_sec == 1000000000 && r.header.start_ticks == 1000);
	CHECK(r.header.cmdline_len == 12 && memcmp(r.header.cmdline, "./app\0--flag", 12) == 0);
	CHECK(r.skipped_chunks == 1);
	/* no header extension: an older writer's file */
	CHECK(r.header.sched_source == CPROF_SCHED_SOURCE_UNKNOWN && !r.header.has_cpu_hz && r.sched_lost == 0);
	CHECK(strcmp(trace_sched_source_name(&r), "not recorded") == 0);
	CHECK(r.end_events == (uint64_t)nexpected && r.end_lost == 9);
	CHECK(trace_reader_string(&r, 1) && strcmp(trace_reader_string(&r, 1), "parse") == 0);
	CHECK(trace_reader_string(&r, 2) && strcmp(trace_reader_string(&r, 2), "request") == 0);
	CHECK(trace_reader_string(&r, 9) == NULL && trace_reader_string(&r, 1u << 30) == NULL);
	const struct trace_stack *st = trace_reader_stack(&r, 1);
	CHECK(st && st->nframes == 2 && st->frames[0].pc == 0x401000 && st->frames[0].line == 42 &&
	      st->frames[1].function == 2 && st->frames[1].module_offset == 0x2000);
	CHECK(trace_reader_stack(&r, 2) == NULL);
	CHECK(r.nlost == 1 && r.lost[0].tid == 12 && r.lost[0].dropped == 9);
	CHECK(trace_reader_thread_name(&r, 11) && strcmp(trace_reader_thread_name(&r, 11), "worker-1") == 0);
	trace_reader_close(&r);

	/* every truncation: an error naming an offset, events a valid prefix */
	for (size_t len = 0; len < file.len; len++) {
		int rc = read_all(file.p, len, &n, &r);
		CHECKF(rc == -1, "cut at %zu: rc %d", len, rc);
		CHECKF(r.error[0] != 0, "cut at %zu: no message", len);
		CHECKF(len < CPROF_MAGIC_LEN || r.truncated, "cut at %zu: not flagged truncated: %s", len, r.error);
		CHECKF(n <= nexpected, "cut at %zu", len);
		trace_reader_close(&r);
	}

	/* single-byte corruptions anywhere: no crash, an end or an error */
	uint8_t *copy = malloc(file.len);
	long errors = 0;
	for (size_t i = 0; i < file.len; i++) {
		static const uint8_t flips[] = {0x01, 0x80, 0xff};
		for (size_t f = 0; f < sizeof flips; f++) {
			memcpy(copy, file.p, file.len);
			copy[i] ^= flips[f];
			struct trace_mem_source m = {copy, file.len, 0};
			struct trace_event ev;
			int rc = trace_reader_open(&r, trace_source_mem, &m);
			long count = 0;
			if (rc == 0)
				while ((rc = trace_reader_next(&r, &ev)) == 1)
					count++;
			CHECK(rc == 0 || rc == -1);
			CHECK(count <= (long)file.len); /* no event out of thin air */
			errors += rc == -1;
			trace_reader_close(&r);
		}
	}
	CHECK(errors > 0);

	/* a future version is refused by name */
	memcpy(copy, file.p, file.len);
	copy[8] = CPROF_FORMAT_VERSION + 1;
	char future[64];
	snprintf(future, sizeof future, "unsupported format version %u", CPROF_FORMAT_VERSION + 1);
	CHECK(read_all(copy, file.len, &n, &r) == -1 && strstr(r.error, future));
	trace_reader_close(&r);
	/* not a trace at all */
	CHECK(read_all((const uint8_t *)"hello world, not a trace file at all................................",
		       70, &n, &r) == -1 && strstr(r.error, "not a cprof-trace file"));
	trace_reader_close(&r);
	/* a missing file */
	CHECK(trace_reader_open_file(&r, "/nonexistent/trace") == -1 && strstr(r.error, "No such file"));
	trace_reader_close(&r);

	free(copy);
	trace_buf_free(&file);
	return check_done("test_format");
}
