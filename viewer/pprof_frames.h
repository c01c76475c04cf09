/*
 * Mappings and locations for pprof profiles built from a trace's stacks,
 * shared by -pprof=cpu and -pprof=net|sync|syscall|sched (and the UI's
 * downloads of them).
 *
 * A trace names each frame's module (base name) and its offset in it, not
 * the module's address range, so the mappings are inferred: one per
 * (module, load address = pc - module_offset), from the lowest load
 * address to past the highest pc the profile's stacks use. A tree trace
 * may load one library at a different address in each process: those are
 * distinct mappings. The main program's mapping comes first (go tool pprof
 * takes mapping 1 for the binary it names in "File:"). Each carries the
 * module's build id when the trace has it (MODULES chunks).
 *
 * Usage: pprof_frames_note() every stack the profile will use, then
 * pprof_frames_mappings() once, then pprof_frames_locations() per sample.
 * Memory: one entry per distinct (module, load address).
 */
#ifndef CPROF_VIEWER_PPROF_FRAMES_H
#define CPROF_VIEWER_PPROF_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "pprof_enc.h"
#include "trace_reader.h"

struct pprof_module {
	uint32_t name;        /* reader string id of the module's base name */
	uint64_t start;       /* load address: pc - module_offset of its frames */
	uint64_t limit;       /* one past the highest pc seen */
	uint64_t mapping;     /* pprof mapping id, once written */
};

struct pprof_frames {
	struct pprof_enc *e;
	const struct trace_reader *r;
	struct u64map index;  /* hash of (name, start) -> slot + 1 */
	struct pprof_module *mods;
	uint32_t nmods, cap;
	int written;          /* pprof_frames_mappings() ran */
};

void pprof_frames_init(struct pprof_frames *pf, struct pprof_enc *e, const struct trace_reader *r);
/* Widens the mappings by the frames of s (may be NULL). */
void pprof_frames_note(struct pprof_frames *pf, const struct trace_stack *s);
/* Writes the mappings, the main program's first. */
void pprof_frames_mappings(struct pprof_frames *pf);
/* The locations of s, leaf first, into locs (room for
 * CPROF_STACK_MAX_FRAMES); a missing or empty stack is one
 * "(no stack recorded)" location. Returns their number (>= 1). */
size_t pprof_frames_locations(struct pprof_frames *pf, const struct trace_stack *s, uint64_t *locs);
void pprof_frames_free(struct pprof_frames *pf);

#endif
