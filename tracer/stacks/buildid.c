/*
 * Build ids from the loaded objects' notes (see buildid.h).
 */
#define _GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "stacks/buildid.h"

struct search {
	const char *name; /* base name wanted */
	const char *exe;  /* the main program's base name */
	uint8_t *out;
	size_t cap, len;
};

static const char *base_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* The NT_GNU_BUILD_ID descriptor in a PT_NOTE segment of n bytes at p. */
static size_t note_build_id(const uint8_t *p, size_t n, uint8_t *out, size_t cap)
{
	size_t off = 0;
	while (off + sizeof(ElfW(Nhdr)) <= n) {
		const ElfW(Nhdr) *h = (const ElfW(Nhdr) *)(p + off);
		size_t name = (h->n_namesz + 3u) & ~(size_t)3, desc = (h->n_descsz + 3u) & ~(size_t)3;
		size_t body = off + sizeof *h;
		if (name > n - body || desc > n - body - name)
			return 0; /* malformed: stop */
		if (h->n_type == NT_GNU_BUILD_ID && h->n_namesz == 4 && memcmp(p + body, "GNU", 4) == 0 &&
		    h->n_descsz > 0 && h->n_descsz <= cap) {
			memcpy(out, p + body + name, h->n_descsz);
			return h->n_descsz;
		}
		off = body + name + desc;
	}
	return 0;
}

static int visit(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct search *s = arg;
	const char *name = info->dlpi_name && *info->dlpi_name ? base_of(info->dlpi_name) : s->exe;
	if (!name || strcmp(name, s->name) != 0)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		s->len = note_build_id((const uint8_t *)(info->dlpi_addr + ph->p_vaddr), ph->p_memsz, s->out, s->cap);
		if (s->len)
			return 1;
	}
	return 0;
}

size_t cprof_build_id_of(const char *name, uint8_t *out, size_t cap)
{
	char exe[256] = "", path[256];
	ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1); /* once per module and capture */
	if (n > 0) {
		path[n] = 0;
		snprintf(exe, sizeof exe, "%s", base_of(path));
	}
	struct search s = {.name = name, .exe = exe[0] ? exe : NULL, .out = out, .cap = cap};
	if (!name || !*name)
		return 0;
	dl_iterate_phdr(visit, &s);
	return s.len;
}
