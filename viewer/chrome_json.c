/*
 * `cprof-trace -json=OUT FILE`: Chrome trace-event JSON, written by a walk
 * consumer while the walk runs: memory holds the walk's state and one
 * number per task lane, never the output.
 *
 * Mapping (ts and dur in microseconds since the capture's start, ns kept
 * as three decimals; events in the order the walk hands them over, which
 * every reader sorts):
 *   - one pid; per thread one "M" thread_name (its last name, else its
 *     start routine), written once at the end;
 *   - regions and blocking calls as complete events "X", nested as the walk
 *     nests them (a block at the depth of its enclosing regions), so every
 *     viewer pairs them (speedscope matches B/E by name; X needs no pairing).
 *     Blocks have cat sync/net/syscall (the block-category table) and args
 *     object, stack;
 *   - tasks as async "b"/"e" with cat "task", the task's name ("request")
 *     and its id on both ends (Perfetto's rule); a task may end on another
 *     thread. speedscope ignores async events, so tasks are also "X" slices
 *     named by the task on pseudo-threads "tasks N" (CHROME_TASK_TID0 + N):
 *     each task goes to the first lane whose slices all ended by its begin,
 *     so no two overlap in a lane (tasks arrive in the walk's order, not
 *     sorted: this takes a few more lanes than sorting would, and no memory
 *     per task);
 *   - a wake-up edge that ended a recorded block as a flow: "s" on the
 *     waker at the edge, "f" (bp "e") on the woken thread at the block's end;
 *   - logs and drops as instant events "i".
 */
#include "chrome_json.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "viewer.h"

void json_escape_to(FILE *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0; /* s[run .. i) needs no escape: written at once */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c != '"' && c != '\\' && c >= 0x20)
			continue;
		fwrite_unlocked(s + run, 1, i - run, out);
		run = i + 1;
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			fwrite_unlocked(e, 1, 2, out);
		} else {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			fwrite_unlocked(e, 1, 6, out);
		}
	}
	fwrite_unlocked(s + run, 1, n - run, out);
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

/* "0x" and lower-case hex, like printf's 0x%" PRIx64 ". */
static void put_hex(FILE *out, uint64_t v)
{
	char buf[20], *p = buf + sizeof buf;
	do
		*--p = "0123456789abcdef"[v & 15];
	while (v >>= 4);
	*--p = 'x';
	*--p = '0';
	fwrite_unlocked(p, 1, (size_t)(buf + sizeof buf - p), out);
}

#define PUTS(out, lit) fwrite_unlocked(lit, 1, sizeof lit - 1, out)

static void put_str(FILE *out, const char *s)
{
	fwrite_unlocked(s, 1, strlen(s), out);
}

static void jname(FILE *out, const char *s)
{
	putc_unlocked('"', out);
	json_escape_to(out, s, strlen(s));
	putc_unlocked('"', out);
}

/* {"ph":"X","pid":P,"tid":T,"ts":US -- the common head of an event; the
 * caller adds its fields and closes the object. */
static void event_head(struct chrome_json *j, const struct walk *w, char ph, uint64_t tid, int64_t ns)
{
	FILE *out = j->out;
	if (j->started)
		putc_unlocked(',', out);
	j->started = 1;
	PUTS(out, "\n{\"ph\":\"");
	putc_unlocked(ph, out);
	PUTS(out, "\",\"pid\":");
	put_u64(out, w->r.header.pid);
	PUTS(out, ",\"tid\":");
	put_u64(out, tid);
	PUTS(out, ",\"ts\":");
	put_us(out, ns);
}

/* "X" head: ts, dur, cat and name. */
static void complete_head(struct chrome_json *j, const struct walk *w, uint32_t tid, int64_t begin, int64_t end,
			  const char *cat, const char *name)
{
	event_head(j, w, 'X', tid, begin);
	PUTS(j->out, ",\"dur\":");
	put_us(j->out, end - begin);
	PUTS(j->out, ",\"cat\":\"");
	put_str(j->out, cat);
	PUTS(j->out, "\",\"name\":");
	jname(j->out, name);
}

static int stack_write(FILE *out, const struct walk *w, uint32_t id);

/* Writes ,"stack":[...] of stack id, formatted once per stack (kept in
 * j->stack_text once the stack and all its strings are known, and used
 * while the reader still has the same frames for the id). */
static void stack_arg(struct chrome_json *j, const struct walk *w, uint32_t id)
{
	uint32_t i = id ? u64map_get(&j->stack_index, id) : 0;
	const struct trace_stack *st = id ? trace_reader_stack(&w->r, id) : NULL;
	if (i && st && j->stack_text[i - 1].frames == st->frames && j->stack_text[i - 1].nframes == st->nframes) {
		fwrite_unlocked(j->stack_text[i - 1].s, 1, j->stack_text[i - 1].len, j->out);
		return;
	}
	if (i || !st) { /* changed (a hostile file), or not known yet */
		stack_write(j->out, w, id);
		return;
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *m = id ? open_memstream(&buf, &len) : NULL;
	if (!m || GROW(j->stack_text, j->nstacks, j->stacks_cap, 16)) {
		if (m)
			fclose(m);
		free(buf);
		stack_write(j->out, w, id);
		return;
	}
	int complete = stack_write(m, w, id);
	if (fclose(m) || !complete || u64map_put(&j->stack_index, id, j->nstacks + 1)) {
		free(buf);
		stack_write(j->out, w, id);
		return;
	}
	j->stack_text[j->nstacks++] = (struct chrome_stack_text){buf, len, st->frames, st->nframes};
	fwrite_unlocked(buf, 1, len, j->out);
}

/* Returns 1 when the stack and every string it names are known. */
static int stack_write(FILE *out, const struct walk *w, uint32_t id)
{
	int complete = 1;
	const struct trace_stack *s = id ? trace_reader_stack(&w->r, id) : NULL;
	PUTS(out, ",\"stack\":[");
	for (uint32_t i = 0; s && i < s->nframes; i++) {
		const struct cprof_frame *f = &s->frames[i];
		/* id 0 is "?" for good; an id not defined yet may be later */
		if ((f->function && !trace_reader_string(&w->r, f->function)) ||
		    (f->file && !trace_reader_string(&w->r, f->file)))
			complete = 0;
		char buf[600];
		if (f->file)
			snprintf(buf, sizeof buf, "%s %s:%u", walk_string(w, f->function), walk_string(w, f->file), f->line);
		else
			snprintf(buf, sizeof buf, "%s", walk_string(w, f->function));
		if (i)
			putc_unlocked(',', out);
		jname(out, buf);
	}
	putc_unlocked(']', out);
	return complete && s;
}

static void on_region(void *self, struct walk *w, const struct walk_region *r)
{
	struct chrome_json *j = self;
	complete_head(j, w, r->thread->tid, r->begin, r->end, "region", walk_string(w, r->name));
	putc_unlocked('}', j->out);
}

/* A flow from the waker's edge to the end of the block it ended. */
static void wake_flow(struct chrome_json *j, const struct walk *w, const struct walk_block *b)
{
	uint64_t id = ++j->flows;
	event_head(j, w, 's', b->waker, b->woke);
	PUTS(j->out, ",\"cat\":\"wakeup\",\"name\":\"wakeup\",\"id\":");
	put_u64(j->out, id);
	putc_unlocked('}', j->out);
	event_head(j, w, 'f', b->thread->tid, b->end);
	PUTS(j->out, ",\"bp\":\"e\",\"cat\":\"wakeup\",\"name\":\"wakeup\",\"id\":");
	put_u64(j->out, id);
	putc_unlocked('}', j->out);
}

static void on_block(void *self, struct walk *w, const struct walk_block *b)
{
	struct chrome_json *j = self;
	complete_head(j, w, b->thread->tid, b->begin, b->end, walk_class_names[b->cls], walk_string(w, b->what));
	PUTS(j->out, ",\"args\":{\"object\":\"");
	put_hex(j->out, b->object);
	putc_unlocked('"', j->out);
	stack_arg(j, w, b->stack);
	PUTS(j->out, "}}");
	if (b->woke >= 0)
		wake_flow(j, w, b);
}

/* One end of a task's async span: the same cat, name and id on both. */
static void task_edge(struct chrome_json *j, const struct walk *w, char ph, uint32_t tid, int64_t ns,
		      const struct walk_task *k)
{
	event_head(j, w, ph, tid, ns);
	PUTS(j->out, ",\"cat\":\"task\",\"id\":\"");
	put_hex(j->out, k->id);
	PUTS(j->out, "\",\"name\":");
	jname(j->out, walk_string(w, k->name));
}

static void on_task(void *self, struct walk *w, const struct walk_task *k)
{
	struct chrome_json *j = self;
	task_edge(j, w, 'b', k->begin_tid, k->begin, k);
	PUTS(j->out, ",\"args\":{\"parent\":\"");
	put_hex(j->out, k->parent);
	PUTS(j->out, "\"}}");
	task_edge(j, w, 'e', k->end_tid, k->end, k);
	putc_unlocked('}', j->out);
	int64_t end = k->end < k->begin ? k->begin : k->end;
	uint32_t l = 0;
	while (l < j->nlanes && j->lane_end[l] > k->begin)
		l++;
	if (l == j->nlanes && (l == CHROME_MAX_TASK_LANES || GROW(j->lane_end, j->nlanes, j->lanes_cap, 16))) {
		j->unlaned++;
		return;
	}
	if (l == j->nlanes)
		j->lane_end[j->nlanes++] = INT64_MIN;
	if (end > j->lane_end[l])
		j->lane_end[l] = end;
	complete_head(j, w, CHROME_TASK_TID0 + l, k->begin, end, "task", walk_string(w, k->name));
	putc_unlocked('}', j->out);
}

static void on_log(void *self, struct walk *w, const struct walk_log *l)
{
	struct chrome_json *j = self;
	event_head(j, w, 'i', l->thread->tid, l->ts);
	PUTS(j->out, ",\"s\":\"t\",\"cat\":\"log\",\"name\":");
	jname(j->out, walk_string(w, l->category));
	PUTS(j->out, ",\"args\":{\"message\":\"");
	json_escape_to(j->out, l->message ? l->message : "", l->len);
	PUTS(j->out, "\"}}");
}

static void on_lost(void *self, struct walk *w, const struct walk_lost *l)
{
	struct chrome_json *j = self;
	event_head(j, w, 'i', l->thread->tid, l->ts);
	fprintf(j->out, ",\"s\":\"t\",\"cat\":\"lost\",\"name\":\"events dropped\",\"args\":{\"count\":%" PRIu64 "}}",
		l->count);
}

static void name_meta(struct chrome_json *j, const struct walk *w, const char *what, uint64_t tid, const char *name)
{
	if (j->started)
		putc_unlocked(',', j->out);
	j->started = 1;
	PUTS(j->out, "\n{\"ph\":\"M\",\"pid\":");
	put_u64(j->out, w->r.header.pid);
	if (tid != UINT64_MAX) {
		PUTS(j->out, ",\"tid\":");
		put_u64(j->out, tid);
	}
	fprintf(j->out, ",\"name\":\"%s\",\"args\":{\"name\":", what);
	jname(j->out, name);
	PUTS(j->out, "}}");
}

/* One name per thread (task lanes too) and the process's name. */
static void on_finish(void *self, struct walk *w)
{
	struct chrome_json *j = self;
	for (uint32_t l = 0; l < j->nlanes; l++) {
		char name[32];
		snprintf(name, sizeof name, "tasks %u", l + 1);
		name_meta(j, w, "thread_name", CHROME_TASK_TID0 + l, name);
	}
	for (uint32_t i = 0; i < w->nthreads; i++) {
		const struct walk_thread *t = &w->threads[i];
		const char *name = walk_thread_name(w, t->tid);
		name_meta(j, w, "thread_name", t->tid, *name ? name : walk_thread_group(w, t));
	}
	const struct cprof_header *h = &w->r.header;
	name_meta(j, w, "process_name", UINT64_MAX, h->cmdline_len && h->cmdline ? h->cmdline : "process");
	PUTS(j->out, "\n]}\n");
	j->finished = 1;
}

struct walk_consumer chrome_json_consumer(struct chrome_json *j, FILE *out)
{
	*j = (struct chrome_json){.out = out};
	fprintf(out, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":\"cprof-trace\"},\"traceEvents\":[");
	return (struct walk_consumer){.self = j, .region = on_region, .block = on_block, .task = on_task,
				      .log = on_log, .lost = on_lost, .finish = on_finish};
}

void chrome_json_free(struct chrome_json *j)
{
	free(j->lane_end);
	for (uint32_t i = 0; i < j->nstacks; i++)
		free(j->stack_text[i].s);
	free(j->stack_text);
	u64map_free(&j->stack_index);
	*j = (struct chrome_json){0};
}

int viewer_json(const char *path, const char *out_path)
{
	FILE *out = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "w");
	if (!out) {
		perror(out_path);
		return 1;
	}
	setvbuf(out, NULL, _IOFBF, 1 << 18); /* ~100 bytes an event: fewer writes */
	struct chrome_json j;
	struct walk_consumer c = chrome_json_consumer(&j, out);
	struct walk w = {.progress = 1};
	int rc = walk_file(&w, path, &c, 1);
	if (!j.finished) /* not a trace: an empty document */
		fprintf(out, "\n]}\n");
	int status = rc != 0;
	if (rc != 0)
		fprintf(stderr, "cprof-trace: %s%s\n", w.error, rc == 1 ? " (wrote what was complete)" : "");
	if (j.unlaned)
		fprintf(stderr, "cprof-trace: warning: %" PRIu64 " tasks are only async spans (no task lane free)\n",
			j.unlaned);
	if (out != stdout && fclose(out)) {
		perror(out_path);
		status = 1;
	}
	chrome_json_free(&j);
	walk_close(&w);
	return status;
}
