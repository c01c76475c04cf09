/*
 * The tables a capture's stream carries besides batches: strings (sent up
 * to the newest id before any batch that may use them), stacks (sent,
 * symbolized, before the first batch that refers to them) and per-thread
 * lost-event counts (sent with the tail).
 */
#include <stdlib.h>

#include "capture/session.h"
#include "stacks/buildid.h"

void tables_lost_add(struct capture *c, uint32_t tid, uint64_t n, uint64_t first, uint64_t last)
{
	if (!n)
		return;
	struct cprof_lost *e = NULL;
	for (uint32_t i = 0; i < c->nlost; i++)
		if (c->lost[i].tid == tid)
			e = &c->lost[i];
	if (!e) {
		if (c->nlost == c->lost_cap) {
			uint32_t ncap = c->lost_cap ? c->lost_cap * 2 : 16;
			void *p = realloc(c->lost, ncap * sizeof *c->lost);
			if (!p)
				return;
			c->lost = p;
			c->lost_cap = ncap;
		}
		e = &c->lost[c->nlost++];
		*e = (struct cprof_lost){.tid = tid, .first_ticks = first};
	}
	e->dropped += n;
	if (first && (!e->first_ticks || first < e->first_ticks))
		e->first_ticks = first;
	if (last > e->last_ticks)
		e->last_ticks = last;
}

/* Notes the modules of frames whose build id the stream has not had. */
static void modules_note(struct capture *c, const struct cprof_frame *frames, uint32_t n)
{
	for (uint32_t k = 0; k < n; k++) {
		uint32_t m = frames[k].module;
		if (!m || u64map_get(&c->modules_seen, m))
			continue;
		if (c->nmodules_pending == c->modules_pending_cap) {
			uint32_t ncap = c->modules_pending_cap ? c->modules_pending_cap * 2 : 16;
			void *p = realloc(c->modules_pending, ncap * sizeof *c->modules_pending);
			if (!p)
				return; /* the module goes without its build id */
			c->modules_pending = p;
			c->modules_pending_cap = ncap;
		}
		if (u64map_put(&c->modules_seen, m, 1))
			return;
		c->modules_pending[c->nmodules_pending++] = m;
	}
}

/* Writes the build ids of the modules noted since the last call (their
 * names are in the stream by now: strings go first). */
static void send_modules(struct capture *c)
{
	if (!c->nmodules_pending)
		return;
	trace_writer_open(&c->w, CPROF_CHUNK_MODULES);
	for (uint32_t i = 0; i < c->nmodules_pending; i++) {
		uint32_t len;
		const char *name = cprof_string_get(c->modules_pending[i], &len);
		uint8_t id[CPROF_BUILD_ID_MAX];
		size_t n = name ? cprof_build_id_of(name, id, sizeof id) : 0;
		if (n)
			trace_writer_module(&c->w, c->modules_pending[i], id, n);
	}
	trace_writer_close(&c->w);
	c->nmodules_pending = 0;
}

/* Writes the strings interned since the last call, then the build ids of
 * the modules they name. */
void tables_send_strings(struct capture *c)
{
	uint32_t n = cprof_strings_count();
	if (n <= c->strings_sent) {
		send_modules(c);
		return;
	}
	trace_writer_open(&c->w, CPROF_CHUNK_STRINGS);
	for (uint32_t id = c->strings_sent; id < n; id++) {
		uint32_t len;
		const char *s = cprof_string_get(id, &len);
		if (s)
			trace_writer_string(&c->w, id, s, len);
		if (c->w.chunk.len > BATCH_FLUSH_BYTES) {
			trace_writer_close(&c->w);
			trace_writer_open(&c->w, CPROF_CHUNK_STRINGS);
		}
	}
	trace_writer_close(&c->w);
	c->strings_sent = n;
	send_modules(c);
}

static int stack_sent(const struct capture *c, uint64_t id)
{
	return c->stack_sent[id / 8] & (1u << (id % 8));
}

/* Notes that the stream needs stack id (written before the batch using it). */
void tables_stack_need(struct capture *c, uint64_t id)
{
	if (id == 0 || id > CPROF_STACK_IDS || stack_sent(c, id))
		return;
	if (c->npending == c->pending_cap) {
		uint32_t ncap = c->pending_cap ? c->pending_cap * 2 : 256;
		void *p = realloc(c->stack_pending, ncap * sizeof *c->stack_pending);
		if (!p)
			return; /* the stack stays unsent: its events show no stack */
		c->stack_pending = p;
		c->pending_cap = ncap;
	}
	c->stack_sent[id / 8] |= (uint8_t)(1u << (id % 8));
	c->stack_pending[c->npending++] = (uint32_t)id;
}

/* Symbolizes and writes the stacks noted since the last call (their
 * strings are interned here, so tables_send_strings must follow). */
void tables_send_stacks(struct capture *c)
{
	if (!c->npending)
		return;
	trace_writer_open(&c->w, CPROF_CHUNK_STACKS);
	for (uint32_t i = 0; i < c->npending; i++) {
		uint32_t depth;
		const uintptr_t *pcs = cprof_stack_get(c->stack_pending[i], &depth);
		if (!pcs)
			continue;
		struct cprof_frame frames[CPROF_STACK_DEPTH];
		for (uint32_t k = 0; k < depth; k++)
			cprof_symbolize(pcs[k], k == 0, &frames[k]);
		trace_writer_stack(&c->w, c->stack_pending[i], frames, depth);
		modules_note(c, frames, depth);
		if (c->w.chunk.len > BATCH_FLUSH_BYTES) {
			trace_writer_close(&c->w);
			trace_writer_open(&c->w, CPROF_CHUNK_STACKS);
		}
	}
	trace_writer_close(&c->w);
	c->npending = 0;
}

void tables_free(struct capture *c)
{
	free(c->lost);
	free(c->stack_pending);
	free(c->modules_pending);
	u64map_free(&c->modules_seen);
	c->lost = NULL;
	c->stack_pending = NULL;
	c->modules_pending = NULL;
	c->nmodules_pending = c->modules_pending_cap = 0;
	c->nlost = c->lost_cap = c->npending = c->pending_cap = 0;
}
