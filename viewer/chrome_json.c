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
#include <sys/stat.h>

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


/* The output buffer (struct chrome_json.buf): the writers below append to
 * it inline; it goes to the FILE when full and at the end. */
void chrome_json_flush(struct chrome_json *j)
{
	if (j->async_on)
		j->buf = async_out_swap(&j->async, j->buf, j->len);
	else if (j->len)
		fwrite_unlocked(j->buf, 1, j->len, j->out);
	j->len = 0;
}

void chrome_json_start_async(struct chrome_json *j)
{
	chrome_json_flush(j);
	fflush(j->out);
	char *b = async_out_start(&j->async, fileno(j->out), CHROME_ASYNC_BUF);
	if (b) {
		j->buf = b;
		j->cap = CHROME_ASYNC_BUF;
		j->async_on = 1;
	}
}

int chrome_json_end_async(struct chrome_json *j)
{
	if (!j->async_on)
		return 0;
	if (j->len)
		async_out_swap(&j->async, j->buf, j->len);
	j->len = 0;
	j->async_on = 0;
	j->buf = j->own;
	j->cap = sizeof j->own;
	return async_out_finish(&j->async);
}

static inline __attribute__((always_inline)) void jput(struct chrome_json *j, const void *p, size_t n)
{
	if (j->len + n > j->cap) {
		chrome_json_flush(j);
		while (n > j->cap) { /* longer than a buffer: in pieces */
			memcpy(j->buf, p, j->cap);
			j->len = j->cap;
			p = (const char *)p + j->cap;
			n -= j->cap;
			chrome_json_flush(j);
		}
	}
	memcpy(j->buf + j->len, p, n);
	j->len += n;
}

static inline __attribute__((always_inline)) void jc(struct chrome_json *j, char c)
{
	if (j->len == j->cap)
		chrome_json_flush(j);
	j->buf[j->len++] = c;
}

/* json_escape_to into the buffer. */
static void jescape(struct chrome_json *j, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0; /* s[run .. i) needs no escape: copied at once */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c != '"' && c != '\\' && c >= 0x20)
			continue;
		jput(j, s + run, i - run);
		run = i + 1;
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			jput(j, e, 2);
		} else {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			jput(j, e, 6);
		}
	}
	jput(j, s + run, n - run);
}

/* Room for n more bytes at the end of the buffer (n <= 4 KiB <= cap),
 * flushing first when it has less: the writers below format straight into
 * it and then set j->len. */
static inline __attribute__((always_inline)) char *room(struct chrome_json *j, size_t n)
{
	if (j->len + n > j->cap)
		chrome_json_flush(j);
	return j->buf + j->len;
}

/* Decimal digits of v (1..20). */
static inline unsigned digits_u64(uint64_t v)
{
	unsigned n = 1;
	while (v >= 10000) {
		v /= 10000;
		n += 4;
	}
	return n + (v >= 10) + (v >= 100) + (v >= 1000);
}

/* Unsigned decimal at q, without printf (this file writes ~100 bytes an
 * event); returns the end. q has room for 20 bytes. */
static inline char *fmt_u64(char *q, uint64_t v)
{
	static const char two[201] = /* "00" .. "99" */
		"0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849"
		"5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";
	unsigned n = digits_u64(v);
	char *p = q + n;
	while (v >= 100) { /* two digits a step */
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		p -= 2;
		memcpy(p, two + 2 * r, 2);
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, two + 2 * v, 2);
	} else {
		*--p = (char)('0' + v);
	}
	return q + n;
}

/* ns as microseconds with three decimals ("12.345") at q (room for 25
 * bytes); returns the end. */
static inline char *fmt_us(char *q, int64_t ns)
{
	uint64_t u = (uint64_t)ns;
	if (ns < 0) {
		*q++ = '-';
		u = -u; /* INT64_MIN too */
	}
	q = fmt_u64(q, u / 1000);
	unsigned f = (unsigned)(u % 1000);
	q[0] = '.';
	q[1] = (char)('0' + f / 100);
	q[2] = (char)('0' + f / 10 % 10);
	q[3] = (char)('0' + f % 10);
	return q + 4;
}

static void put_u64(struct chrome_json *out, uint64_t v)
{
	char *q = room(out, 20);
	out->len = (size_t)(fmt_u64(q, v) - out->buf);
}

/* "0x" and lower-case hex, like printf's 0x%" PRIx64 ". */
static void put_hex(struct chrome_json *out, uint64_t v)
{
	char buf[20], *p = buf + sizeof buf;
	do
		*--p = "0123456789abcdef"[v & 15];
	while (v >>= 4);
	*--p = 'x';
	*--p = '0';
	jput(out, p, (size_t)(buf + sizeof buf - p));
}

/* A literal at q; returns the end (constant size: copied inline). */
#define LIT(q, lit) (memcpy(q, lit, sizeof lit - 1), (q) + sizeof lit - 1)
#define PUTS(out, lit) jput(out, lit, sizeof lit - 1)

static void put_str(struct chrome_json *out, const char *s)
{
	jput(out, s, strlen(s));
}

/* A JSON string of s: clean names (most) copied straight into the buffer
 * as they are scanned, the rest through jescape. */
static void jname(struct chrome_json *out, const char *s)
{
	char *q = room(out, 66);
	size_t at = out->len; /* the opening quote's place */
	*q++ = '"';
	for (int i = 0; i < 64; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!c) {
			*q++ = '"';
			out->len = (size_t)(q - out->buf);
			return;
		}
		if (c == '"' || c == '\\' || c < 0x20)
			break;
		*q++ = (char)c;
	}
	/* long or needs escapes: the general path from the opening quote */
	out->len = at + 1;
	jescape(out, s, strlen(s));
	jc(out, '"');
}

/* {"ph":"X","pid":P,"tid":T,"ts":US -- the common head of an event; the
 * caller adds its fields and closes the object. */
static void event_head(struct chrome_json *j, const struct walk *w, char ph, uint64_t tid, int64_t ns)
{
	char *q = room(j, 128);
	if (j->started)
		*q++ = ',';
	j->started = 1;
	q = LIT(q, "\n{\"ph\":\"");
	*q++ = ph;
	q = LIT(q, "\",\"pid\":");
	q = fmt_u64(q, w->r.header.pid);
	q = LIT(q, ",\"tid\":");
	q = fmt_u64(q, tid);
	q = LIT(q, ",\"ts\":");
	q = fmt_us(q, ns);
	j->len = (size_t)(q - j->buf);
}

/* "X" head: ts, dur, cat and name. */
static void complete_head(struct chrome_json *j, const struct walk *w, uint32_t tid, int64_t begin, int64_t end,
			  const char *cat, const char *name)
{
	event_head(j, w, 'X', tid, begin);
	char *q = room(j, 64);
	q = LIT(q, ",\"dur\":");
	q = fmt_us(q, end - begin);
	q = LIT(q, ",\"cat\":\"");
	j->len = (size_t)(q - j->buf);
	put_str(j, cat);
	PUTS(j, "\",\"name\":");
	jname(j, name);
}

/* Where a stack's text goes: the output (jput) or a string being built. */
typedef void (*put_fn)(void *ctx, const void *p, size_t n);

static void put_out(void *ctx, const void *p, size_t n)
{
	jput(ctx, p, n);
}

/* A string built on the heap; oom once an allocation failed. */
struct sbuf {
	char *p;
	size_t n, cap; /* bytes */
	int oom;
};

static void put_sbuf(void *ctx, const void *p, size_t n)
{
	struct sbuf *b = ctx;
	if (b->oom)
		return;
	if (b->n + n > b->cap) {
		size_t c = b->cap ? b->cap : 256;
		while (c < b->n + n)
			c *= 2;
		char *q = realloc(b->p, c);
		if (!q) {
			b->oom = 1;
			return;
		}
		b->p = q;
		b->cap = c;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* Writes ,"stack":[...] of stack id through put; returns 1 when the stack
 * and every string it names are known. */
static int stack_write(put_fn put, void *ctx, const struct walk *w, uint32_t id)
{
	static const char hex[] = "0123456789abcdef";
	int complete = 1;
	const struct trace_stack *s = id ? trace_reader_stack(&w->r, id) : NULL;
	put(ctx, ",\"stack\":[", 10);
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
		put(ctx, i ? ",\"" : "\"", i ? 2 : 1);
		size_t run = 0, n = strlen(buf);
		for (size_t k = 0; k < n; k++) { /* json_escape_to's escapes */
			unsigned char c = (unsigned char)buf[k];
			if (c != '"' && c != '\\' && c >= 0x20)
				continue;
			put(ctx, buf + run, k - run);
			run = k + 1;
			char e[6] = {'\\', (char)c, 0, 0, 0, 0};
			if (c < 0x20)
				e[1] = 'u', e[2] = '0', e[3] = '0', e[4] = hex[c >> 4], e[5] = hex[c & 15];
			put(ctx, e, c < 0x20 ? 6 : 2);
		}
		put(ctx, buf + run, n - run);
		put(ctx, "\"", 1);
	}
	put(ctx, "]", 1);
	return complete && s;
}

/* Writes ,"stack":[...] of stack id, formatted once per stack (kept in
 * j->stack_text once the stack and all its strings are known, and used
 * while the reader still has the same frames for the id). */
static void stack_arg(struct chrome_json *j, const struct walk *w, uint32_t id)
{
	uint32_t i = id ? u64map_get(&j->stack_index, id) : 0;
	const struct trace_stack *st = id ? trace_reader_stack(&w->r, id) : NULL;
	if (i && st && j->stack_text[i - 1].frames == st->frames && j->stack_text[i - 1].nframes == st->nframes) {
		jput(j, j->stack_text[i - 1].s, j->stack_text[i - 1].len);
		return;
	}
	if (i || !st) { /* changed (a hostile file), or not known yet */
		stack_write(put_out, j, w, id);
		return;
	}
	struct sbuf b = {0};
	int complete = stack_write(put_sbuf, &b, w, id);
	if (b.oom || !complete || GROW(j->stack_text, j->nstacks, j->stacks_cap, 16) ||
	    u64map_put(&j->stack_index, id, j->nstacks + 1)) {
		free(b.p);
		stack_write(put_out, j, w, id);
		return;
	}
	j->stack_text[j->nstacks++] = (struct chrome_stack_text){b.p, b.n, st->frames, st->nframes};
	jput(j, b.p, b.n);
}

static void on_region(void *self, struct walk *w, const struct walk_region *r)
{
	struct chrome_json *j = self;
	complete_head(j, w, r->thread->tid, r->begin, r->end, "region", walk_string(w, r->name));
	jc(j, '}');
}

/* A flow from the waker's edge to the end of the block it ended. */
static void wake_flow(struct chrome_json *j, const struct walk *w, const struct walk_block *b)
{
	uint64_t id = ++j->flows;
	event_head(j, w, 's', b->waker, b->woke);
	PUTS(j, ",\"cat\":\"wakeup\",\"name\":\"wakeup\",\"id\":");
	put_u64(j, id);
	jc(j, '}');
	event_head(j, w, 'f', b->thread->tid, b->end);
	PUTS(j, ",\"bp\":\"e\",\"cat\":\"wakeup\",\"name\":\"wakeup\",\"id\":");
	put_u64(j, id);
	jc(j, '}');
}

static void on_block(void *self, struct walk *w, const struct walk_block *b)
{
	struct chrome_json *j = self;
	complete_head(j, w, b->thread->tid, b->begin, b->end, walk_class_names[b->cls], walk_string(w, b->what));
	PUTS(j, ",\"args\":{\"object\":\"");
	put_hex(j, b->object);
	jc(j, '"');
	stack_arg(j, w, b->stack);
	PUTS(j, "}}");
	if (b->woke >= 0)
		wake_flow(j, w, b);
}

/* One end of a task's async span: the same cat, name and id on both. */
static void task_edge(struct chrome_json *j, const struct walk *w, char ph, uint32_t tid, int64_t ns,
		      const struct walk_task *k)
{
	event_head(j, w, ph, tid, ns);
	PUTS(j, ",\"cat\":\"task\",\"id\":\"");
	put_hex(j, k->id);
	PUTS(j, "\",\"name\":");
	jname(j, walk_string(w, k->name));
}

static void on_task(void *self, struct walk *w, const struct walk_task *k)
{
	struct chrome_json *j = self;
	task_edge(j, w, 'b', k->begin_tid, k->begin, k);
	PUTS(j, ",\"args\":{\"parent\":\"");
	put_hex(j, k->parent);
	PUTS(j, "\"}}");
	task_edge(j, w, 'e', k->end_tid, k->end, k);
	jc(j, '}');
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
	jc(j, '}');
}

static void on_log(void *self, struct walk *w, const struct walk_log *l)
{
	struct chrome_json *j = self;
	event_head(j, w, 'i', l->thread->tid, l->ts);
	PUTS(j, ",\"s\":\"t\",\"cat\":\"log\",\"name\":");
	jname(j, walk_string(w, l->category));
	PUTS(j, ",\"args\":{\"message\":\"");
	jescape(j, l->message ? l->message : "", l->len);
	PUTS(j, "\"}}");
}

static void on_lost(void *self, struct walk *w, const struct walk_lost *l)
{
	struct chrome_json *j = self;
	event_head(j, w, 'i', l->thread->tid, l->ts);
	PUTS(j, ",\"s\":\"t\",\"cat\":\"lost\",\"name\":\"events dropped\",\"args\":{\"count\":");
	put_u64(j, l->count);
	PUTS(j, "}}");
}

static void name_meta(struct chrome_json *j, const struct walk *w, const char *what, uint64_t tid, const char *name)
{
	if (j->started)
		jc(j, ',');
	j->started = 1;
	PUTS(j, "\n{\"ph\":\"M\",\"pid\":");
	put_u64(j, w->r.header.pid);
	if (tid != UINT64_MAX) {
		PUTS(j, ",\"tid\":");
		put_u64(j, tid);
	}
	PUTS(j, ",\"name\":\"");
	put_str(j, what);
	PUTS(j, "\",\"args\":{\"name\":");
	jname(j, name);
	PUTS(j, "}}");
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
	PUTS(j, "\n]}\n");
	chrome_json_flush(j);
	j->finished = 1;
}

struct walk_consumer chrome_json_consumer(struct chrome_json *j, FILE *out)
{
	*j = (struct chrome_json){.out = out};
	j->buf = j->own;
	j->cap = sizeof j->own;
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
	/* a second thread writes on large traces only: its buffers (and
	 * stack) would be a third of a small trace's peak memory */
	uint64_t min = CHROME_ASYNC_MIN_FILE;
	const char *e = getenv("CPROF_JSON_ASYNC_MIN"); /* bytes; tests set 0 */
	if (e && *e >= '0' && *e <= '9')
		min = strtoull(e, NULL, 10);
	struct stat st;
	if (stat(path, &st) == 0 && (uint64_t)st.st_size >= min)
		chrome_json_start_async(&j);
	int rc = walk_file(&w, path, &c, 1);
	chrome_json_flush(&j);
	int werr = chrome_json_end_async(&j);
	if (!j.finished) /* not a trace: an empty document */
		fprintf(out, "\n]}\n");
	int status = rc != 0;
	if (rc != 0)
		fprintf(stderr, "cprof-trace: %s%s\n", w.error, rc == 1 ? " (wrote what was complete)" : "");
	if (j.unlaned)
		fprintf(stderr, "cprof-trace: warning: %" PRIu64 " tasks are only async spans (no task lane free)\n",
			j.unlaned);
	if (werr) {
		fprintf(stderr, "cprof-trace: %s: %s\n", out_path, strerror(werr));
		status = 1;
	}
	if (out != stdout && fclose(out)) {
		perror(out_path);
		status = 1;
	}
	chrome_json_free(&j);
	walk_close(&w);
	return status;
}
