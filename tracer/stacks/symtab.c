/*
 * Cheap symbolization for short-lived processes: each module's own symbol
 * table (.symtab, else .dynsym), read once with libelf into address
 * buckets (a counting sort: linear, where qsort of cc1's 29,000 exported
 * symbols cost 4 ms of a 30 ms compile), then a scan of one bucket (or the
 * nearest non-empty one below) per PC. No separate debug files, no DWARF (the caller asks
 * libdwfl for file:line only in modules that carry DWARF themselves).
 *
 * Why: libdwfl's dwfl_module_addrname searches a module's symbols linearly
 * for every PC; a program that exports tens of thousands of symbols (cc1)
 * then spends ~50 ms symbolizing 50 frames, and loading a distribution's
 * separate debug files costs ~100 ms and ~20 MB at the exit of every
 * process of a tree. Here a module costs two passes over its symbol table,
 * a PC the scan of a bucket of about one symbol.
 *
 * Runs under symbolize.c's lock (tracer threads only). Modules are found
 * with dl_iterate_phdr and kept for the life of the process (the ELF stays
 * mapped read-only: names point into it).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <gelf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stacks/stack.h"

struct sym {
	uint64_t start, size; /* file vaddr, bytes (0: unknown) */
	uint64_t name;        /* offset in the string table: names are read only for hits
			       * (reading all of cc1's faulted in its whole .dynstr) */
};

struct module {
	uintptr_t base;        /* dlpi_addr: load bias */
	uintptr_t lo, hi;      /* mapped PT_LOAD range, absolute */
	char path[512];
	struct sym *syms;      /* grouped by bucket: start - min >> shift, ascending */
	size_t nsyms;
	uint32_t *bucket;      /* nbuckets + 1 offsets into syms */
	size_t nbuckets;
	uint64_t min;          /* lowest start */
	unsigned shift;
	int has_dwarf;         /* carries .debug_info itself */
	int loaded;            /* symbols read (or tried) */
	Elf *elf;
	size_t strtab;         /* section index of the names */
	int fd;
};

static struct module *mods;
static size_t nmods, mods_cap;

struct find {
	uintptr_t pc;
	struct module found;
	int ok;
};

static int find_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct find *f = arg;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];
		if (p->p_type != PT_LOAD)
			continue;
		uintptr_t a = info->dlpi_addr + p->p_vaddr;
		if (a < lo)
			lo = a;
		if (a + p->p_memsz > hi)
			hi = a + p->p_memsz;
	}
	if (f->pc < lo || f->pc >= hi)
		return 0;
	memset(&f->found, 0, sizeof f->found);
	f->found.base = info->dlpi_addr;
	f->found.lo = lo;
	f->found.hi = hi;
	f->found.fd = -1;
	const char *name = info->dlpi_name;
	if (!name || !*name) { /* the main program */
		ssize_t n = readlink("/proc/self/exe", f->found.path, sizeof f->found.path - 1);
		f->found.path[n > 0 ? n : 0] = 0;
	} else {
		strncpy(f->found.path, name, sizeof f->found.path - 1);
	}
	f->ok = 1;
	return 1;
}

/* Groups m->syms (n read) into buckets by address: a counting sort. */
static void bucket_symbols(struct module *m)
{
	size_t n = m->nsyms;
	if (!n)
		return;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < n; i++) {
		if (m->syms[i].start < lo)
			lo = m->syms[i].start;
		if (m->syms[i].start > hi)
			hi = m->syms[i].start;
	}
	size_t nb = 1;
	while (nb < n)
		nb *= 2;
	unsigned shift = 0;
	while (((hi - lo) >> shift) >= nb)
		shift++;
	uint32_t *b = calloc(nb + 1, sizeof *b);
	struct sym *out = malloc(n * sizeof *out);
	if (!b || !out) {
		free(b);
		free(out);
		m->nsyms = 0;
		return;
	}
	for (size_t i = 0; i < n; i++)
		b[((m->syms[i].start - lo) >> shift) + 1]++;
	for (size_t k = 0; k < nb; k++)
		b[k + 1] += b[k];
	for (size_t i = 0; i < n; i++) /* b[k] walks bucket k's slots, ending at its successor's start */
		out[b[(m->syms[i].start - lo) >> shift]++] = m->syms[i];
	for (size_t k = nb; k > 0; k--) /* back to starts */
		b[k] = b[k - 1];
	b[0] = 0;
	free(m->syms);
	m->syms = out;
	m->bucket = b;
	m->nbuckets = nb;
	m->min = lo;
	m->shift = shift;
}

static void load_symbols(struct module *m)
{
	m->loaded = 1;
	if (!*m->path || elf_version(EV_CURRENT) == EV_NONE)
		return;
	m->fd = open(m->path, O_RDONLY | O_CLOEXEC);
	if (m->fd < 0)
		return;
	m->elf = elf_begin(m->fd, ELF_C_READ_MMAP, NULL);
	if (!m->elf)
		return;
	size_t shstrndx;
	if (elf_getshdrstrndx(m->elf, &shstrndx) != 0)
		return;
	Elf_Scn *scn = NULL, *symtab = NULL, *dynsym = NULL;
	GElf_Shdr sh;
	while ((scn = elf_nextscn(m->elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		const char *n = elf_strptr(m->elf, shstrndx, sh.sh_name);
		if (sh.sh_type == SHT_SYMTAB)
			symtab = scn;
		else if (sh.sh_type == SHT_DYNSYM)
			dynsym = scn;
		else if (n && strcmp(n, ".debug_info") == 0 && sh.sh_type != SHT_NOBITS)
			m->has_dwarf = 1;
	}
	scn = symtab ? symtab : dynsym;
	if (!scn || !gelf_getshdr(scn, &sh) || !sh.sh_entsize)
		return;
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n = sh.sh_size / sh.sh_entsize;
	m->syms = data ? malloc(n * sizeof *m->syms) : NULL;
	if (!m->syms)
		return;
	m->strtab = sh.sh_link;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym s;
		if (!gelf_getsym(data, (int)i, &s) || !s.st_value || s.st_shndx == SHN_UNDEF)
			continue;
		int type = GELF_ST_TYPE(s.st_info);
		if (type != STT_FUNC && type != STT_GNU_IFUNC)
			continue;
		if (s.st_name)
			m->syms[m->nsyms++] = (struct sym){s.st_value, s.st_size, s.st_name};
	}
	bucket_symbols(m);
}

static struct module *module_of(uintptr_t pc)
{
	for (size_t i = 0; i < nmods; i++)
		if (pc >= mods[i].lo && pc < mods[i].hi)
			return &mods[i];
	struct find f = {.pc = pc};
	dl_iterate_phdr(find_cb, &f);
	if (!f.ok)
		return NULL;
	if (nmods == mods_cap) {
		size_t ncap = mods_cap ? mods_cap * 2 : 16;
		struct module *p = realloc(mods, ncap * sizeof *p);
		if (!p)
			return NULL;
		mods = p;
		mods_cap = ncap;
	}
	mods[nmods] = f.found;
	return &mods[nmods++];
}

int cprof_symtab_lookup(uintptr_t at, struct cprof_symtab_hit *hit)
{
	memset(hit, 0, sizeof *hit);
	struct module *m = module_of(at);
	if (!m)
		return 0;
	if (!m->loaded)
		load_symbols(m);
	hit->module_path = m->path;
	hit->base = m->base;
	hit->has_dwarf = m->has_dwarf;
	uint64_t rel = at - m->base;
	if (!m->nsyms || rel < m->min)
		return 1;
	/* The symbol with the highest start <= rel: in rel's bucket, else in
	 * the nearest non-empty bucket below. */
	size_t k = (rel - m->min) >> m->shift;
	if (k >= m->nbuckets)
		k = m->nbuckets - 1;
	const struct sym *best = NULL;
	for (;; k--) {
		for (uint32_t i = m->bucket[k]; i < m->bucket[k + 1]; i++)
			if (m->syms[i].start <= rel && (!best || m->syms[i].start > best->start))
				best = &m->syms[i];
		if (best || k == 0)
			break;
	}
	if (best && (!best->size || rel < best->start + best->size)) {
		const char *name = elf_strptr(m->elf, m->strtab, best->name);
		hit->function = name && *name ? name : NULL;
	}
	return 1;
}
