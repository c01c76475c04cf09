/*
 * Profiles by stack id as pprof (stackprof.h): the shape shared by Go's
 * block, mutex, goroutine, threadcreate, heap and allocs profiles: a few
 * sample types, one sample per stack, mappings with build ids, symbolized
 * locations.
 *
 * The mapping code follows profile.c's (the CPU profile), which keeps its
 * own copy so the two can move independently for now; one of them should
 * absorb the other once the CPU work (another branch) settles.
 *
 * Runs on an HTTP thread, once per request; cost is the symbolization of
 * the distinct PCs (cached per PC by cprof_symbolize) and /proc/self/maps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <elfutils/libdwelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "pprof_enc.h"
#include "profiles/stackprof.h"
#include "stacks/stack.h"

struct mapping {
	uint64_t start, limit, offset;
	char path[256];
	uint64_t id; /* pprof id, 0 until used */
};

/* The GNU build id of path as hex, or "". */
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

static uint64_t mapping_id(struct pprof_enc *e, struct mapping *m)
{
	if (m && !m->id) {
		char bid[128];
		build_id(m->path, bid, sizeof bid);
		m->id = pprof_enc_mapping(e, m->start, m->limit, m->offset, m->path, bid, 1);
	}
	return m ? m->id : 0;
}

static struct mapping *mapping_of(struct mapping *v, uint32_t n, uint64_t pc)
{
	for (uint32_t i = 0; i < n; i++)
		if (pc >= v[i].start && pc < v[i].limit)
			return &v[i];
	return NULL;
}

/* The locations of stack id, leaf first; returns their number. */
static uint32_t locations(struct pprof_enc *e, struct mapping *maps, uint32_t nmaps, uint32_t id, uint64_t *locs)
{
	uint32_t depth = 0;
	const uintptr_t *pcs = id ? cprof_stack_get(id, &depth) : NULL;
	if (!pcs || !depth) { /* no stack: off, or the table was full */
		uint64_t fn = pprof_enc_function(e, "(stack unknown)", "");
		locs[0] = pprof_enc_location(e, UINT64_MAX, 0, 0, fn, 0);
		return 1;
	}
	for (uint32_t k = 0; k < depth; k++) {
		/* A return address points after its call: the call is one byte
		 * earlier (what pprof expects as the address). */
		uint64_t pc = k == 0 ? pcs[k] : pcs[k] - 1;
		struct cprof_frame f;
		cprof_symbolize(pcs[k], k == 0, &f);
		uint32_t len;
		const char *fn = cprof_string_get(f.function, &len);
		const char *file = cprof_string_get(f.file, &len);
		char unknown[300];
		if (!fn) { /* no symbol: module + offset, like the stack table */
			const char *mod = cprof_string_get(f.module, &len);
			snprintf(unknown, sizeof unknown, "%s+%#llx", mod ? mod : "?", (unsigned long long)f.module_offset);
			fn = unknown;
		}
		uint64_t map = mapping_id(e, mapping_of(maps, nmaps, pc));
		uint64_t func = pprof_enc_function(e, fn, file);
		locs[k] = pprof_enc_location(e, pc << 1 | (k == 0), map, pc, func, f.line);
	}
	return depth;
}

int cprof_stackprof_build_window(const struct cprof_value_type *types, uint32_t ntypes, const char *default_type,
				 const struct cprof_value_type *period_type, int64_t period, const uint32_t *ids,
				 const int64_t *vals, uint32_t n, int64_t start_realtime_ns, int64_t duration_ns,
				 struct trace_buf *out)
{
	struct pprof_enc e;
	pprof_enc_init(&e);
	for (uint32_t t = 0; t < ntypes; t++)
		pprof_enc_sample_type(&e, types[t].type, types[t].unit);
	uint32_t nmaps = 0;
	struct mapping *maps = read_maps(&nmaps);
	/* The program's own mapping first: go tool pprof takes mapping 1 for
	 * the main binary ("File:" in -top). Every profile carries it, even
	 * one without samples. */
	char exe[256];
	ssize_t elen = readlink("/proc/self/exe", exe, sizeof exe - 1);
	for (uint32_t i = 0; elen > 0 && i < nmaps; i++) {
		exe[elen] = 0;
		if (strcmp(maps[i].path, exe) == 0) {
			mapping_id(&e, &maps[i]);
			break;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		uint64_t locs[CPROF_STACK_DEPTH];
		uint32_t depth = locations(&e, maps, nmaps, ids[i], locs);
		pprof_enc_sample(&e, locs, depth, vals + (size_t)i * ntypes, ntypes);
	}
	free(maps);
	pprof_enc_times(&e, start_realtime_ns, duration_ns);
	if (period_type)
		pprof_enc_period(&e, period_type->type, period_type->unit, period);
	if (default_type)
		pprof_enc_default_sample_type(&e, default_type);
	return pprof_enc_finish(&e, out) ? -ENOMEM : 0;
}

int cprof_stackprof_build(const struct cprof_value_type *types, uint32_t ntypes, const char *default_type,
			  const struct cprof_value_type *period_type, int64_t period, const uint32_t *ids,
			  const int64_t *vals, uint32_t n, struct trace_buf *out)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return cprof_stackprof_build_window(types, ntypes, default_type, period_type, period, ids, vals, n,
					    (int64_t)now.tv_sec * 1000000000 + now.tv_nsec, 0, out);
}
