/*
 * Cheap symbolization for short-lived processes: each module's own symbol
 * table (.symtab, else .dynsym), read once with libelf and sorted, then a
 * binary search per PC. No separate debug files, no DWARF (the caller asks
 * libdwfl for file:line only in modules that carry DWARF themselves).
 *
 * Why: libdwfl's dwfl_module_addrname searches a module's symbols linearly
 * for every PC; a program that exports tens of thousands of symbols (cc1)
 * then spends ~50 ms symbolizing 50 frames, and loading a distribution's
 * separate debug files costs ~100 ms and ~20 MB at the exit of every
 * process of a tree. Here a module costs one pass over its symbol table
 * and a sort, a PC a binary search.
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
	const char *name;     /* in the mapped ELF */
};

struct module {
	uintptr_t base;        /* dlpi_addr: load bias */
	uintptr_t lo, hi;      /* mapped PT_LOAD range, absolute */
	char path[512];
	struct sym *syms;      /* sorted by start */
	size_t nsyms;
	int has_dwarf;         /* carries .debug_info itself */
	int loaded;            /* symbols read (or tried) */
	Elf *elf;
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

static int cmp_sym(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
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
	for (size_t i = 0; i < n; i++) {
		GElf_Sym s;
		if (!gelf_getsym(data, (int)i, &s) || !s.st_value || s.st_shndx == SHN_UNDEF)
			continue;
		int type = GELF_ST_TYPE(s.st_info);
		if (type != STT_FUNC && type != STT_GNU_IFUNC)
			continue;
		const char *name = elf_strptr(m->elf, sh.sh_link, s.st_name);
		if (name && *name)
			m->syms[m->nsyms++] = (struct sym){s.st_value, s.st_size, name};
	}
	qsort(m->syms, m->nsyms, sizeof *m->syms, cmp_sym);
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
	size_t lo = 0, hi = m->nsyms; /* first symbol starting after rel */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->syms[mid].start <= rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo) {
		const struct sym *s = &m->syms[lo - 1];
		if (!s->size || rel < s->start + s->size)
			hit->function = s->name;
	}
	return 1;
}
