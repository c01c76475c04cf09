/*
 * `cprof-trace -json=OUT FILE`: Chrome trace-event JSON (Perfetto UI,
 * chrome://tracing, speedscope), written while reading: memory holds only
 * per-thread state (open regions and blocks), never the output.
 *
 * Mapping: one pid; one tid per thread with thread_name metadata; regions
 * as B/E slices (every E carries its B's name: speedscope matches by name);
 * blocking calls as X slices with cat sync/net/syscall and args (object,
 * call, stack); tasks as async b/e spans with the task id (they may end on
 * another thread); logs as instant events; wake-ups as flow events s/f from
 * the waker to the woken thread's block end; drops as instant markers.
 * ts and dur are microseconds since the capture start.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace_reader.h"
#include "viewer.h"
#include "u64map.h"
#include "walk.h"

#define MAX_DEPTH 256

struct jthread {
	uint32_t tid;
	const char *stack[MAX_DEPTH]; /* open region names */
	int depth;
	uint64_t block_ts, block_args[4]; /* the open block (BEGIN and END are adjacent) */
	int in_block;
};

static void thread_name_meta(FILE *out, uint32_t pid, uint32_t tid, const char *name);

/* Threads met so far, found by tid through a hash (100,000 threads stay
 * linear). */
struct jthreads {
	struct u64map index; /* tid -> position + 1 in v */
	struct jthread **v;
	uint32_t n, cap;
};

/* The thread's state; a thread met for the first time gets its name
 * (threads that started before the capture have no THREAD_START). */
static struct jthread *thread_of(struct jthreads *all, uint32_t tid, FILE *out, uint32_t pid,
				 const struct trace_reader *r)
{
	uint32_t i = u64map_get(&all->index, tid);
	if (i)
		return all->v[i - 1];
	if (all->n == all->cap) {
		uint32_t cap = all->cap ? all->cap * 2 : 64;
		void *q = realloc(all->v, cap * sizeof *all->v);
		if (!q)
			return NULL;
		all->v = q;
		all->cap = cap;
	}
	struct jthread *t = calloc(1, sizeof *t);
	if (!t || u64map_put(&all->index, tid, all->n + 1)) {
		free(t);
		return NULL;
	}
	all->v[all->n++] = t;
	thread_name_meta(out, pid, tid, trace_reader_thread_name(r, tid));
	t->tid = tid;
	return t;
}

void json_escape_to(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
}

/* Unsigned decimal, without printf (this file writes ~100 bytes an event). */
static void put_u64(FILE *out, uint64_t v)
{
	char buf[24], *p = buf + sizeof buf;
	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	fwrite_unlocked(p, 1, (size_t)(buf + sizeof buf - p), out);
}

/* ns as microseconds with three decimals ("12.345"). */
static void put_us(FILE *out, int64_t ns)
{
	uint64_t u = (uint64_t)ns;
	if (ns < 0) {
		putc_unlocked('-', out);
		u = -u; /* INT64_MIN too */
	}
	put_u64(out, u / 1000);
	char frac[4] = {'.', (char)('0' + u / 100 % 10), (char)('0' + u / 10 % 10), (char)('0' + u % 10)};
	fwrite_unlocked(frac, 1, 4, out);
}

/* ticks as ns since the capture's start, clamped like the walk's */
static int64_t event_ns(const struct trace_reader *r, uint64_t ticks)
{
	double ns = trace_ticks_to_ns(r, ticks);
	if (!(ns < (double)WALK_NS_LIMIT))
		return ns < 0 ? -WALK_NS_LIMIT : WALK_NS_LIMIT;
	return ns < -(double)WALK_NS_LIMIT ? -WALK_NS_LIMIT : llround(ns);
}

#define PUTS(out, lit) fwrite_unlocked(lit, 1, sizeof lit - 1, out)

/* ,\n{"ph":"X","pid":P,"tid":T,"ts":US  -- the common head of an event */
static void event_head(FILE *out, char ph, uint32_t pid, uint64_t tid, int64_t ns)
{
	PUTS(out, ",\n{\"ph\":\"");
	putc_unlocked(ph, out);
	PUTS(out, "\",\"pid\":");
	put_u64(out, pid);
	PUTS(out, ",\"tid\":");
	put_u64(out, tid);
	PUTS(out, ",\"ts\":");
	put_us(out, ns);
}

static void jname(FILE *out, const char *s)
{
	fputc('"', out);
	json_escape_to(out, s ? s : "?", s ? strlen(s) : 1);
	fputc('"', out);
}

static const char *category_name(uint64_t c)
{
	return c == CPROF_BLOCK_SYNC ? "sync" : c == CPROF_BLOCK_NET ? "net" : c == CPROF_BLOCK_SYSCALL ? "syscall" : "block";
}

static void stack_arg(FILE *out, const struct trace_reader *r, uint64_t id)
{
	const struct trace_stack *s = trace_reader_stack(r, id);
	fprintf(out, ",\"stack\":[");
	for (uint32_t i = 0; s && i < s->nframes; i++) {
		const struct cprof_frame *f = &s->frames[i];
		const char *fn = trace_reader_string(r, f->function), *file = trace_reader_string(r, f->file);
		if (i)
			fputc(',', out);
		char buf[600];
		if (file)
			snprintf(buf, sizeof buf, "%s %s:%u", fn ? fn : "?", file, f->line);
		else
			snprintf(buf, sizeof buf, "%s", fn ? fn : "?");
		jname(out, buf);
	}
	fputc(']', out);
}

/* The head of an async task edge; the caller closes the object. */
static void task_edge(FILE *out, char ph, uint32_t pid, uint32_t tid, int64_t ns, uint64_t id)
{
	event_head(out, ph, pid, tid, ns);
	fprintf(out, ",\"cat\":\"task\",\"id\":\"0x%" PRIx64 "\",\"name\":\"task\"", id);
}

static void thread_name_meta(FILE *out, uint32_t pid, uint32_t tid, const char *name)
{
	fprintf(out, ",\n{\"ph\":\"M\",\"pid\":%u,\"tid\":%u,\"name\":\"thread_name\",\"args\":{\"name\":", pid, tid);
	jname(out, name && *name ? name : "thread");
	fprintf(out, "}}");
}

/* One edge of a region slice; an E repeats its B's name (speedscope). */
static void region_edge(FILE *out, char ph, uint32_t pid, uint32_t tid, int64_t ns, const char *name)
{
	event_head(out, ph, pid, tid, ns);
	PUTS(out, ",\"cat\":\"region\",\"name\":");
	jname(out, name);
	putc_unlocked('}', out);
}

int viewer_json(const char *path, const char *out_path)
{
	struct trace_reader r;
	if (trace_reader_open_file(&r, path)) {
		fprintf(stderr, "cprof-trace: %s: %s\n", path, r.error);
		trace_reader_close(&r);
		return 1;
	}
	FILE *out = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "w");
	if (!out) {
		perror(out_path);
		trace_reader_close(&r);
		return 1;
	}
	const uint32_t pid = r.header.pid;
	fprintf(out, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":\"cprof-trace\"},\"traceEvents\":[\n");
	fprintf(out, "{\"ph\":\"M\",\"pid\":%u,\"name\":\"process_name\",\"args\":{\"name\":", pid);
	jname(out, r.header.cmdline_len ? r.header.cmdline : "process");
	fprintf(out, "}}");
	struct jthreads threads = {0};
	struct u64map open_tasks = {0}, early_ends = {0}; /* task id -> 1; -> index + 1 into early_end */
	struct early_end {
		uint32_t tid;
		int64_t ns;
	} *early_end = NULL;
	uint32_t nearly = 0, early_cap = 0;
	struct trace_event ev;
	struct progress g;
	progress_begin(&g, path, "writing JSON");
	uint64_t flow = 0;
	int rc;
	while ((rc = trace_reader_next(&r, &ev)) == 1) {
		struct jthread *t = thread_of(&threads, ev.tid, out, pid, &r);
		if (!t)
			break;
		int64_t ns = event_ns(&r, ev.ts);
		double us = (double)ns / 1000.0;
		progress_tick(&g, r.offset);
		const char *name;
		switch (ev.kind) {
		case CPROF_EV_THREAD_START:
		case CPROF_EV_THREAD_NAME:
			name = ev.kind == CPROF_EV_THREAD_NAME ? trace_reader_string(&r, ev.args[0])
								: trace_reader_thread_name(&r, ev.tid);
			thread_name_meta(out, pid, ev.tid, name);
			break;
		case CPROF_EV_REGION_BEGIN:
			name = trace_reader_string(&r, ev.args[0]);
			if (t->depth < MAX_DEPTH)
				t->stack[t->depth] = name;
			t->depth++;
			region_edge(out, 'B', pid, ev.tid, ns, name);
			break;
		case CPROF_EV_REGION_END:
			if (t->depth == 0)
				break; /* its begin was before the capture */
			t->depth--;
			name = t->depth < MAX_DEPTH ? t->stack[t->depth] : trace_reader_string(&r, ev.args[0]);
			region_edge(out, 'E', pid, ev.tid, ns, name);
			break;
		case CPROF_EV_TASK_BEGIN: {
			/* async spans pair b and e: an end read before its begin
			 * (another thread's batch) waits for it; ends of tasks
			 * begun before the capture are dropped */
			uint64_t id = ev.args[1];
			task_edge(out, 'b', pid, ev.tid, ns, id);
			fprintf(out, ",\"args\":{\"name\":");
			jname(out, trace_reader_string(&r, ev.args[0]));
			fprintf(out, ",\"parent\":\"0x%" PRIx64 "\"}}", ev.args[2]);
			uint32_t early = u64map_get(&early_ends, id);
			if (early) {
				task_edge(out, 'e', pid, early_end[early - 1].tid, early_end[early - 1].ns, id);
				putc_unlocked('}', out);
				u64map_del(&early_ends, id);
			} else {
				u64map_put(&open_tasks, id, 1);
			}
			break;
		}
		case CPROF_EV_TASK_END: {
			uint64_t id = ev.args[0];
			if (u64map_get(&open_tasks, id)) {
				u64map_del(&open_tasks, id);
				task_edge(out, 'e', pid, ev.tid, ns, id);
				putc_unlocked('}', out);
			} else if (!u64map_get(&early_ends, id)) {
				if (nearly == early_cap) {
					early_cap = early_cap ? early_cap * 2 : 64;
					void *q = realloc(early_end, early_cap * sizeof *early_end);
					if (!q)
						break;
					early_end = q;
				}
				early_end[nearly] = (struct early_end){ev.tid, ns};
				u64map_put(&early_ends, id, ++nearly);
			}
			break;
		}
		case CPROF_EV_LOG:
			fprintf(out, ",\n{\"ph\":\"i\",\"s\":\"t\",\"pid\":%u,\"tid\":%u,\"ts\":%.3f,\"cat\":\"log\",\"name\":",
				pid, ev.tid, us);
			jname(out, trace_reader_string(&r, ev.args[0]));
			fprintf(out, ",\"args\":{\"message\":\"");
			json_escape_to(out, (const char *)ev.bytes, ev.nbytes);
			fprintf(out, "\"}}");
			break;
		case CPROF_EV_BLOCK_BEGIN:
			t->in_block = 1;
			t->block_ts = ev.ts;
			memcpy(t->block_args, ev.args, sizeof t->block_args);
			break;
		case CPROF_EV_BLOCK_END: {
			if (!t->in_block)
				break;
			t->in_block = 0;
			int64_t b_ns = event_ns(&r, t->block_ts);
			const char *what = trace_reader_string(&r, t->block_args[2]);
			event_head(out, 'X', pid, ev.tid, b_ns);
			PUTS(out, ",\"dur\":");
			put_us(out, ns - b_ns);
			fprintf(out, ",\"cat\":\"%s\",\"name\":", category_name(t->block_args[0]));
			jname(out, what);
			fprintf(out, ",\"args\":{\"object\":\"0x%" PRIx64 "\"", t->block_args[1]);
			stack_arg(out, &r, t->block_args[3]);
			fprintf(out, "}}");
			break;
		}
		case CPROF_EV_WAKEUP: /* a flow from the waker to the woken thread */
			flow++;
			fprintf(out, ",\n{\"ph\":\"s\",\"pid\":%u,\"tid\":%u,\"ts\":%.3f,\"cat\":\"wakeup\",\"name\":\"wakeup\",\"id\":%" PRIu64 "}",
				pid, ev.tid, us, flow);
			fprintf(out, ",\n{\"ph\":\"f\",\"bp\":\"e\",\"pid\":%u,\"tid\":%" PRIu64 ",\"ts\":%.3f,\"cat\":\"wakeup\",\"name\":\"wakeup\",\"id\":%" PRIu64 "}",
				pid, ev.args[0], us, flow);
			break;
		case CPROF_EV_LOST:
			fprintf(out, ",\n{\"ph\":\"i\",\"s\":\"t\",\"pid\":%u,\"tid\":%u,\"ts\":%.3f,\"cat\":\"lost\",\"name\":\"events dropped\",\"args\":{\"count\":%" PRIu64 "}}",
				pid, ev.tid, us, ev.args[0]);
			break;
		default:
			break;
		}
	}
	progress_end(&g);
	fprintf(out, "\n]}\n");
	int status = 0;
	if (out != stdout && fclose(out)) {
		perror(out_path);
		status = 1;
	}
	if (rc < 0) {
		fprintf(stderr, "cprof-trace: %s: %s%s\n", path, r.error, r.truncated ? " (wrote what was complete)" : "");
		status = 1;
	}
	u64map_free(&open_tasks);
	u64map_free(&early_ends);
	free(early_end);
	for (uint32_t i = 0; i < threads.n; i++)
		free(threads.v[i]);
	free(threads.v);
	u64map_free(&threads.index);
	trace_reader_close(&r);
	return status;
}
