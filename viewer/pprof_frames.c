/*
 * Mappings and locations of a trace's stacks for pprof (see pprof_frames.h).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pprof_frames.h"

void pprof_frames_init(struct pprof_frames *pf, struct pprof_enc *e, const struct trace_reader *r)
{
	*pf = (struct pprof_frames){.e = e, .r = r};
}

static uint64_t module_key(uint32_t name, uint64_t start)
{
	return (uint64_t)name << 32 ^ start;
}

/* The slot + 1 of (name, start), or 0. */
static uint32_t module_find(const struct pprof_frames *pf, uint32_t name, uint64_t start)
{
	uint32_t v = u64map_get(&pf->index, module_key(name, start));
	if (v && pf->mods[v - 1].name == name && pf->mods[v - 1].start == start)
		return v;
	for (uint32_t i = 0; v && i < pf->nmods; i++) /* a key collision: rare */
		if (pf->mods[i].name == name && pf->mods[i].start == start)
			return i + 1;
	return 0;
}

/* The load address of f's module, or 0 if the frame names none. */
static uint64_t frame_start(const struct cprof_frame *f)
{
	return f->module && f->module_offset <= f->pc ? f->pc - f->module_offset : 0;
}

void pprof_frames_note(struct pprof_frames *pf, const struct trace_stack *s)
{
	assert(!pf->written);
	for (uint32_t k = 0; s && k < s->nframes && k < CPROF_STACK_MAX_FRAMES; k++) {
		const struct cprof_frame *f = &s->frames[k];
		uint64_t start = frame_start(f);
		if (!f->module || f->module_offset > f->pc)
			continue;
		uint32_t v = module_find(pf, f->module, start);
		if (!v) {
			if (pf->nmods == pf->cap) {
				uint32_t cap = pf->cap ? pf->cap * 2 : 16;
				struct pprof_module *p = cap > pf->cap ? realloc(pf->mods, (size_t)cap * sizeof *p) : NULL;
				if (!p)
					return; /* frames without a mapping: still correct names */
				pf->mods = p;
				pf->cap = cap;
			}
			if (!u64map_get(&pf->index, module_key(f->module, start)) &&
			    u64map_put(&pf->index, module_key(f->module, start), pf->nmods + 1))
				return;
			pf->mods[pf->nmods++] = (struct pprof_module){f->module, start, start + 1, 0};
			v = pf->nmods;
		}
		struct pprof_module *m = &pf->mods[v - 1];
		if (f->pc < UINT64_MAX && f->pc + 1 > m->limit)
			m->limit = f->pc + 1;
	}
}

/* argv[0]'s base name of a command line (NUL-separated), or NULL. */
static const char *program_of(const char *cmd)
{
	if (!cmd || !*cmd)
		return NULL;
	const char *slash = strrchr(cmd, '/');
	return slash ? slash + 1 : cmd;
}

/* The slot + 1 of the first module named like a traced program: the
 * root process's, else the first part's in file order whose program the
 * stacks name (a tree's root is often a shell or make), or 0. */
static uint32_t main_module(const struct pprof_frames *pf)
{
	const struct trace_reader *r = pf->r;
	uint32_t nprog = r->tree ? r->nparts : 1;
	for (uint32_t p = 0; p < nprog; p++) {
		const char *prog = program_of(r->tree ? r->parts[p].cmdline : r->cmdline);
		for (uint32_t i = 0; prog && i < pf->nmods; i++) {
			const char *name = trace_reader_string(r, pf->mods[i].name);
			if (name && strcmp(name, prog) == 0)
				return i + 1;
		}
	}
	return 0;
}

static void write_mapping(struct pprof_frames *pf, struct pprof_module *m)
{
	if (m->mapping)
		return;
	/* File offset 0 sits at the load address: pprof's file address of a
	 * pc, pc - start + offset, is then the frame's module_offset. */
	m->mapping = pprof_enc_mapping(pf->e, m->start, m->limit, 0, trace_reader_string(pf->r, m->name),
				       trace_reader_build_id(pf->r, m->name), 1);
}

void pprof_frames_mappings(struct pprof_frames *pf)
{
	assert(!pf->written);
	pf->written = 1;
	uint32_t main = main_module(pf);
	if (main)
		write_mapping(pf, &pf->mods[main - 1]);
	for (uint32_t i = 0; i < pf->nmods; i++)
		write_mapping(pf, &pf->mods[i]);
}

size_t pprof_frames_locations(struct pprof_frames *pf, const struct trace_stack *s, uint64_t *locs)
{
	assert(pf->written);
	size_t n = 0;
	for (uint32_t k = 0; s && k < s->nframes && k < CPROF_STACK_MAX_FRAMES; k++) {
		const struct cprof_frame *f = &s->frames[k];
		uint32_t slot = f->module && f->module_offset <= f->pc ? module_find(pf, f->module, frame_start(f)) : 0;
		uint64_t map = slot ? pf->mods[slot - 1].mapping : 0;
		char unknown[300];
		const char *fn = trace_reader_string(pf->r, f->function);
		if (!fn) { /* no symbol: module + offset, as the tracer names it */
			const char *mod = trace_reader_string(pf->r, f->module);
			snprintf(unknown, sizeof unknown, "%s+%#" PRIx64, mod ? mod : "?", f->module_offset);
			fn = unknown;
		}
		uint64_t func = pprof_enc_function(pf->e, fn, trace_reader_string(pf->r, f->file));
		/* Non-leaf pcs are return addresses: the call is the byte before. */
		uint64_t addr = k == 0 || !f->pc ? f->pc : f->pc - 1;
		/* One location per (mapping, address, leafness): a tree trace
		 * may hold one address in two processes' different modules. */
		uint64_t key = (uint64_t)(slot & 0x3fff) << 49 | (addr & ((1ull << 48) - 1)) << 1 | (k == 0);
		locs[n++] = pprof_enc_location(pf->e, key, map, addr, func, f->line);
	}
	if (!n)
		locs[n++] = pprof_enc_location(pf->e, UINT64_MAX, 0, 0,
					       pprof_enc_function(pf->e, "(no stack recorded)", ""), 0);
	return n;
}

void pprof_frames_free(struct pprof_frames *pf)
{
	u64map_free(&pf->index);
	free(pf->mods);
	*pf = (struct pprof_frames){0};
}
