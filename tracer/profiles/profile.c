/*
 * The CPU profile as pprof (profile.proto), like Go's
 * /debug/pprof/profile: sample types (samples, count) and (cpu,
 * nanoseconds), period type (cpu, nanoseconds); one sample per stack with
 * samples in the window; one location per (pc, leaf) with its mapping,
 * function, file and line (symbolized here, so has_functions is set and
 * `go tool pprof` does not look for the binaries); mappings from
 * /proc/self/maps with GNU build ids read with elfutils.
 *
 * Runs on an HTTP thread after the profile's window, once per request.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <elfutils/libdwelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "pprof_enc.h"
#include "profiles/profile.h"
#include "stacks/stack.h"

struct mapping {
	uint64_t start, limit, offset;
	char path[256];
	uint64_t id; /* pprof id, 0 until used */
};

/* The GNU build id of path as hex, or "" . */
static void build_id(const char *path, char *hex, size_t cap)
{
	hex[0] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	elf_version(EV_CURRENT);
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	const void *id = NULL;
	ssize_t n = elf ? dwelf_elf_gnu_build_id(elf, &id) : -1;
	for (ssize_t i = 0; i < n && (size_t)(2 * i + 2) < cap; i++)
		snprintf(hex + 2 * i, 3, "%02x", ((const uint8_t *)id)[i]);
	if (elf)
		elf_end(elf);
	close(fd);
}

/* Executable file mappings of this process. */
static struct mapping *read_maps(uint32_t *n)
{
	*n = 0;
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return NULL;
	struct mapping *v = NULL;
	uint32_t cap = 0;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		unsigned long long s, e, off;
		char perms[8], path[256] = "";
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %255[^\n]", &s, &e, perms, &off, path) < 4)
			continue;
		if (perms[2] != 'x' || path[0] != '/')
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			void *p = realloc(v, cap * sizeof *v);
			if (!p)
				break;
			v = p;
		}
		struct mapping *m = &v[(*n)++];
		*m = (struct mapping){.start = s, .limit = e, .offset = off};
		snprintf(m->path, sizeof m->path, "%s", path);
	}
	fclose(f);
	return v;
}

static struct mapping *mapping_of(struct mapping *v, uint32_t n, uint64_t pc)
{
	for (uint32_t i = 0; i < n; i++)
		if (pc >= v[i].start && pc < v[i].limit)
			return &v[i];
	return NULL;
}

int cprof_cpu_profile_build(const uint64_t *before, const uint64_t *after, uint32_t hz, uint64_t start_realtime_ns,
			    uint64_t duration_ns, struct trace_buf *out)
{
	int64_t period = 1000000000 / (int64_t)(hz ? hz : 100);
	struct pprof_enc e;
	pprof_enc_init(&e);
	pprof_enc_sample_type(&e, "samples", "count");
	pprof_enc_sample_type(&e, "cpu", "nanoseconds");
	uint32_t nmaps = 0;
	struct mapping *maps = read_maps(&nmaps);
	/* The program's own mapping first: go tool pprof takes mapping 1 for
	 * the main binary ("File:" in -top, the title of -http). */
	char exe[256];
	ssize_t elen = readlink("/proc/self/exe", exe, sizeof exe - 1);
	for (uint32_t i = 0; elen > 0 && i < nmaps; i++) {
		exe[elen] = 0;
		if (strcmp(maps[i].path, exe) == 0) {
			char bid[128];
			build_id(maps[i].path, bid, sizeof bid);
			maps[i].id = pprof_enc_mapping(&e, maps[i].start, maps[i].limit, maps[i].offset, maps[i].path, bid, 1);
			break;
		}
	}
	for (uint32_t id = 0; id <= CPROF_STACK_IDS; id++) {
		uint64_t n = after[id] - before[id];
		if (!n)
			continue;
		uint64_t locs[CPROF_STACK_DEPTH];
		uint32_t depth = 0;
		const uintptr_t *pcs = id ? cprof_stack_get(id, &depth) : NULL;
		if (!pcs || !depth) { /* the stack table was full */
			uint64_t fn = pprof_enc_function(&e, "(stack unknown: table full)", "");
			locs[0] = pprof_enc_location(&e, UINT64_MAX, 0, 0, fn, 0);
			depth = 1;
		} else {
			for (uint32_t k = 0; k < depth; k++) {
				/* A return address points after its call: the call is
				 * one byte earlier (what pprof expects as the address). */
				uint64_t pc = k == 0 ? pcs[k] : pcs[k] - 1;
				struct cprof_frame f;
				cprof_symbolize(pcs[k], k == 0, &f);
				uint32_t len;
				const char *fn = cprof_string_get(f.function, &len);
				const char *file = cprof_string_get(f.file, &len);
				char unknown[300];
				if (!fn) { /* no symbol: module + offset, like the stack table */
					const char *mod = cprof_string_get(f.module, &len);
					snprintf(unknown, sizeof unknown, "%s+%#llx", mod ? mod : "?",
						 (unsigned long long)f.module_offset);
					fn = unknown;
				}
				struct mapping *m = mapping_of(maps, nmaps, pc);
				if (m && !m->id) {
					char bid[128];
					build_id(m->path, bid, sizeof bid);
					m->id = pprof_enc_mapping(&e, m->start, m->limit, m->offset, m->path, bid, 1);
				}
				uint64_t func = pprof_enc_function(&e, fn, file);
				locs[k] = pprof_enc_location(&e, pc << 1 | (k == 0), m ? m->id : 0, pc, func, f.line);
			}
		}
		int64_t vals[2] = {(int64_t)n, (int64_t)n * period};
		pprof_enc_sample(&e, locs, depth, vals, 2);
	}
	free(maps);
	pprof_enc_times(&e, (int64_t)start_realtime_ns, (int64_t)duration_ns);
	pprof_enc_period(&e, "cpu", "nanoseconds", period);
	return pprof_enc_finish(&e, out) ? -ENOMEM : 0;
}
