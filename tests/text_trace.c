/* The text form of traces (text_trace.h), parsed line by line and written
 * with the one writer. Test input only: sizes are small, errors are exact. */
#include "text_trace.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STRINGS 1024
#define MAX_STACKS 64
#define MAX_FRAMES 16
#define MAX_LOST 64
#define MAX_EVENTS 4096
#define MAX_THREADS 64

struct tt_event {
	uint32_t tid;
	unsigned kind;
	uint64_t ts, args[CPROF_EVENT_MAX_ARGS];
	char msg[CPROF_EVENT_MAX_BYTES + 1];
	int has_msg;
};

struct tt {
	struct cprof_header h;
	char cmdline[256];
	char *strings[MAX_STRINGS]; /* id - 1 -> string */
	uint32_t nstrings;
	struct {
		uint32_t id, n;
		struct cprof_frame f[MAX_FRAMES];
	} stacks[MAX_STACKS];
	uint32_t nstacks;
	struct cprof_lost lost[MAX_LOST];
	uint32_t nlost;
	struct tt_event *ev;
	uint32_t nev;
	struct {
		uint32_t tid, seq;
		char name[CPROF_THREAD_NAME_MAX];
	} threads[MAX_THREADS];
	uint32_t nthreads;
	char *err;
	size_t errlen;
	int line;
};

static int fail(struct tt *t, const char *fmt, ...)
{
	int n = snprintf(t->err, t->errlen, "line %d: ", t->line);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < t->errlen)
		vsnprintf(t->err + n, t->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* The string's id, interning it on first use. */
static uint32_t intern(struct tt *t, const char *s)
{
	for (uint32_t i = 0; i < t->nstrings; i++)
		if (strcmp(t->strings[i], s) == 0)
			return i + 1;
	if (t->nstrings == MAX_STRINGS)
		return 0;
	t->strings[t->nstrings++] = strdup(s);
	return t->nstrings;
}

/* Reads one word or quoted string at *p into out; advances *p. */
static int token(struct tt *t, const char **p, char *out, size_t len, int *quoted)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = 0;
	*quoted = *s == '"';
	if (*quoted) {
		for (s++; *s && *s != '"'; s++) {
			if (*s == '\\' && s[1])
				s++;
			if (n + 1 < len)
				out[n++] = *s;
		}
		if (*s != '"')
			return fail(t, "unterminated string");
		s++;
	} else {
		while (*s && *s != ' ' && *s != '\t' && *s != '=' && n + 1 < len)
			out[n++] = *s++;
	}
	out[n] = 0;
	*p = s;
	return 0;
}

static int number(struct tt *t, const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		return fail(t, "not a number: %s", s);
	return 0;
}

/* key=value pairs after the line's head; calls set for each. */
static int pairs(struct tt *t, const char *p, int (*set)(struct tt *, void *, const char *, const char *, int),
		 void *ctx)
{
	char key[64], val[CPROF_EVENT_MAX_BYTES + 1];
	int q;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return 0;
		if (token(t, &p, key, sizeof key, &q))
			return -1;
		if (*p != '=')
			return fail(t, "want key=value at %s", key);
		p++;
		if (token(t, &p, val, sizeof val, &q) || set(t, ctx, key, val, q))
			return -1;
	}
}

static int set_header(struct tt *t, void *ctx, const char *k, const char *v, int quoted)
{
	(void)ctx;
	uint64_t n = 0;
	if (strcmp(k, "cmdline") == 0) {
		snprintf(t->cmdline, sizeof t->cmdline, "%s", v);
		t->h.cmdline = t->cmdline;
		t->h.cmdline_len = (uint32_t)strlen(t->cmdline);
		return 0;
	}
	if (quoted || number(t, v, &n))
		return quoted ? fail(t, "%s takes a number", k) : -1;
	if (strcmp(k, "pid") == 0)
		t->h.pid = (uint32_t)n;
	else if (strcmp(k, "ticks_per_sec") == 0)
		t->h.ticks_per_sec = n;
	else if (strcmp(k, "start_ticks") == 0)
		t->h.start_ticks = n;
	else if (strcmp(k, "cpu_hz") == 0)
		t->h.has_cpu_hz = 1, t->h.cpu_hz = (uint32_t)n;
	else
		return fail(t, "unknown header field %s", k);
	return 0;
}

static int set_lost(struct tt *t, void *ctx, const char *k, const char *v, int quoted)
{
	struct cprof_lost *l = ctx;
	uint64_t n;
	if (quoted || number(t, v, &n))
		return -1;
	if (strcmp(k, "tid") == 0)
		l->tid = (uint32_t)n;
	else if (strcmp(k, "dropped") == 0)
		l->dropped = n;
	else if (strcmp(k, "first") == 0)
		l->first_ticks = n;
	else if (strcmp(k, "last") == 0)
		l->last_ticks = n;
	else
		return fail(t, "unknown lost field %s", k);
	return 0;
}

/* The index of `name` among the kind's space-separated argument names, or -1. */
static int arg_index(const struct cprof_event_info *info, const char *name)
{
	const char *p = info->argnames;
	for (int i = 0; *p; i++) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (n == strlen(name) && strncmp(p, name, n) == 0)
			return i;
		p += n;
	}
	return -1;
}

static int set_arg(struct tt *t, void *ctx, const char *k, const char *v, int quoted)
{
	struct tt_event *e = ctx;
	const struct cprof_event_info *info = cprof_event_info(e->kind);
	if (strcmp(k, "msg") == 0) {
		if (!info->bytes)
			return fail(t, "%s carries no message", info->name);
		snprintf(e->msg, sizeof e->msg, "%s", v);
		e->has_msg = 1;
		return 0;
	}
	int i = arg_index(info, k);
	if (i < 0)
		return fail(t, "%s has no argument %s (it has: %s)", info->name, k, info->argnames);
	if (cprof_event_arg_is_string(e->kind, (unsigned)i)) {
		if (!quoted)
			return fail(t, "%s is a string: give it quoted", k);
		e->args[i] = intern(t, v);
		return 0;
	}
	return quoted ? fail(t, "%s takes a number", k) : number(t, v, &e->args[i]);
}

static int kind_of(const char *name)
{
	for (unsigned k = 0; k < CPROF_EV_COUNT; k++)
		if (strcmp(cprof_event_info(k)->name, name) == 0)
			return (int)k;
	return -1;
}

/* stack ID FUNCTION FILE:LINE [; FUNCTION FILE:LINE ...] */
static int parse_stack(struct tt *t, const char *p)
{
	if (t->nstacks == MAX_STACKS)
		return fail(t, "too many stacks");
	char id[32], fn[256], where[256];
	int q;
	uint64_t n;
	if (token(t, &p, id, sizeof id, &q) || number(t, id, &n))
		return -1;
	t->stacks[t->nstacks].id = (uint32_t)n;
	uint32_t nf = 0;
	while (*p) {
		if (nf == MAX_FRAMES)
			return fail(t, "too many frames");
		if (token(t, &p, fn, sizeof fn, &q) || token(t, &p, where, sizeof where, &q))
			return -1;
		char *colon = strrchr(where, ':');
		uint64_t line = 0;
		if (!colon || number(t, colon + 1, &line))
			return fail(t, "want FUNCTION FILE:LINE");
		*colon = 0;
		/* made-up pcs, distinct per frame */
		struct cprof_frame f = {.pc = 0x1000 + 16 * (nf + 16 * n), .function = intern(t, fn),
					.file = intern(t, where), .line = (uint32_t)line};
		t->stacks[t->nstacks].f[nf++] = f;
		while (*p == ' ' || *p == ';')
			p++;
	}
	t->stacks[t->nstacks++].n = nf;
	return 0;
}

static int thread_slot(struct tt *t, uint32_t tid)
{
	for (uint32_t i = 0; i < t->nthreads; i++)
		if (t->threads[i].tid == tid)
			return (int)i;
	if (t->nthreads == MAX_THREADS)
		return -1;
	t->threads[t->nthreads].tid = tid;
	return (int)t->nthreads++;
}

static int parse_line(struct tt *t, const char *p)
{
	char head[64];
	int q;
	if (token(t, &p, head, sizeof head, &q))
		return -1;
	if (!*head)
		return 0;
	if (strcmp(head, "header") == 0)
		return pairs(t, p, set_header, NULL);
	if (strcmp(head, "stack") == 0)
		return parse_stack(t, p);
	if (strcmp(head, "lost") == 0) {
		if (t->nlost == MAX_LOST)
			return fail(t, "too many lost entries");
		return pairs(t, p, set_lost, &t->lost[t->nlost++]);
	}
	if (strcmp(head, "thread") == 0) {
		char tid[32], name[CPROF_THREAD_NAME_MAX];
		uint64_t n;
		if (token(t, &p, tid, sizeof tid, &q) || number(t, tid, &n) || token(t, &p, name, sizeof name, &q))
			return -1;
		int i = thread_slot(t, (uint32_t)n);
		if (i < 0)
			return fail(t, "too many threads");
		snprintf(t->threads[i].name, sizeof t->threads[i].name, "%s", name);
		return 0;
	}
	/* TICKS TID KIND args... */
	if (t->nev == MAX_EVENTS)
		return fail(t, "too many events");
	struct tt_event *e = &t->ev[t->nev];
	*e = (struct tt_event){0};
	char tid[32], kind[64];
	uint64_t n;
	if (number(t, head, &e->ts) || token(t, &p, tid, sizeof tid, &q) || number(t, tid, &n) ||
	    token(t, &p, kind, sizeof kind, &q))
		return -1;
	e->tid = (uint32_t)n;
	int k = kind_of(kind);
	if (k < 0)
		return fail(t, "unknown event kind %s", kind);
	e->kind = (unsigned)k;
	if (pairs(t, p, set_arg, e))
		return -1;
	t->nev++;
	return 0;
}

static int sink_buf(void *ctx, const void *buf, size_t len)
{
	return trace_buf_put(ctx, buf, len);
}

/* Writes what was parsed: header, strings, stacks, batches, lost, end. */
static int write_all(struct tt *t, struct trace_buf *out)
{
	struct trace_writer w;
	trace_writer_init(&w, sink_buf, out);
	trace_writer_header(&w, &t->h);
	trace_writer_open(&w, CPROF_CHUNK_STRINGS);
	for (uint32_t i = 0; i < t->nstrings; i++)
		trace_writer_string(&w, i + 1, t->strings[i], strlen(t->strings[i]));
	trace_writer_close(&w);
	if (t->nstacks) {
		trace_writer_open(&w, CPROF_CHUNK_STACKS);
		for (uint32_t i = 0; i < t->nstacks; i++)
			trace_writer_stack(&w, t->stacks[i].id, t->stacks[i].f, t->stacks[i].n);
		trace_writer_close(&w);
	}
	struct trace_batch b = {0};
	for (uint32_t i = 0; i < t->nev;) {
		int slot = thread_slot(t, t->ev[i].tid);
		if (slot < 0)
			return fail(t, "too many threads");
		trace_batch_reset(&b, t->ev[i].tid, t->threads[slot].seq++, t->ev[i].ts, t->threads[slot].name);
		uint32_t j = i;
		for (; j < t->nev && t->ev[j].tid == t->ev[i].tid; j++) {
			const struct tt_event *e = &t->ev[j];
			if (trace_batch_add(&b, e->kind, e->ts, e->args, e->has_msg ? e->msg : NULL,
					    e->has_msg ? strlen(e->msg) : 0))
				return fail(t, "the writer refused event %u", j);
		}
		trace_writer_batch(&w, &b);
		i = j;
	}
	trace_batch_free(&b);
	if (t->nlost) {
		trace_writer_open(&w, CPROF_CHUNK_LOST);
		for (uint32_t i = 0; i < t->nlost; i++)
			trace_writer_lost(&w, &t->lost[i]);
		trace_writer_close(&w);
	}
	trace_writer_end(&w);
	int rc = w.error;
	trace_writer_destroy(&w);
	return rc ? fail(t, "the writer failed: %d", rc) : 0;
}

int text_trace_convert(const char *text, struct trace_buf *out, char *err, size_t errlen)
{
	struct tt *t = calloc(1, sizeof *t);
	if (!t || !(t->ev = calloc(MAX_EVENTS, sizeof *t->ev))) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->err = err;
	t->errlen = errlen;
	t->h.ticks_per_sec = 1000000000;
	int rc = 0;
	for (const char *p = text; *p && rc == 0;) {
		t->line++;
		size_t n = strcspn(p, "\n");
		char line[2048];
		snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), p);
		char *hash = line[0] == '#' ? line : strstr(line, " #");
		if (hash)
			*hash = 0;
		rc = parse_line(t, line);
		p += n + (p[n] == '\n');
	}
	if (rc == 0) {
		t->line = 0;
		rc = write_all(t, out);
	}
	for (uint32_t i = 0; i < t->nstrings; i++)
		free(t->strings[i]);
	free(t->ev);
	free(t);
	return rc;
}
