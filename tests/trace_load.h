/*
 * Test helper: loads a whole trace (file or memory) into an array of events
 * with log messages copied, keeping the reader for its tables.
 */
#ifndef CPROF_TRACE_LOAD_H
#define CPROF_TRACE_LOAD_H

#include <stdlib.h>
#include <string.h>

#include "trace_reader.h"
#include "trace_writer.h"

struct loaded_event {
	struct trace_event ev;
	char msg[CPROF_EVENT_MAX_BYTES + 1];
};

struct loaded {
	struct trace_reader r;
	struct loaded_event *ev;
	size_t n, cap;
	int status;       /* last trace_reader_next result: 0 complete, -1 error */
	uint64_t lost;    /* sum of the LOST chunk */
};

static int loaded_finish(struct loaded *t)
{
	struct trace_event ev;
	while ((t->status = trace_reader_next(&t->r, &ev)) == 1) {
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 1024;
			t->ev = realloc(t->ev, t->cap * sizeof *t->ev);
		}
		struct loaded_event *le = &t->ev[t->n++];
		le->ev = ev;
		memcpy(le->msg, ev.bytes ? (const char *)ev.bytes : "", ev.nbytes);
		le->msg[ev.nbytes] = 0;
		le->ev.bytes = NULL;
	}
	for (uint32_t i = 0; i < t->r.nlost; i++)
		t->lost += t->r.lost[i].dropped;
	return t->status;
}

static inline int load_file(struct loaded *t, const char *path)
{
	memset(t, 0, sizeof *t);
	if (trace_reader_open_file(&t->r, path))
		return t->status = -1;
	return loaded_finish(t);
}

static inline int load_mem(struct loaded *t, struct trace_mem_source *m)
{
	memset(t, 0, sizeof *t);
	if (trace_reader_open(&t->r, trace_source_mem, m))
		return t->status = -1;
	return loaded_finish(t);
}

static inline void loaded_free(struct loaded *t)
{
	free(t->ev);
	trace_reader_close(&t->r);
}

/* Loads a trace held in memory (a capture's trace_buf). */
static inline int load_buf(struct loaded *t, const struct trace_buf *b)
{
	struct trace_mem_source m = {b->p, b->len, 0};
	return load_mem(t, &m);
}

static inline const char *loaded_name(const struct loaded *t, uint64_t id)
{
	const char *s = trace_reader_string(&t->r, id);
	return s ? s : "";
}

#endif
