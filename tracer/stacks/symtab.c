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
 * The table a module yields is cached per build id, per user, next to
 * lines.c's line tables ("<build id>.syms"): the next process maps it and
 * binary-searches it, touching a few pages, instead of reading the whole
 * symbol table again (cc1's .dynsym: ~2.5 ms of a traced compile's CPU,
 * every compile). Written under a temporary name and renamed (concurrent
 * first users each write the same table; one rename wins); used only when
 * this user owns it and its sizes add up; every name offset read from it
 * is bounds-checked, so a damaged file gives no name, never a crash.
 *
 * Cached table (host byte order): "CPSYMS01", u32 nsyms, u32 flags (1:
 * the module has DWARF), u64 names bytes, u64 0; u64 start[nsyms] (file
 * vaddr, strictly ascending), u32 size[nsyms] (0: unknown), u32
 * name[nsyms] (offset in the names); the names, NUL-terminated.
 *
 * Runs under symbolize.c's lock (tracer threads only). Modules are found
 * with dl_iterate_phdr and kept for the life of the process (the ELF, or
 * its cached table, stays mapped read-only: names point into it).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <gelf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stacks/cfi.h"
#include "stacks/lines.h"
#include "stacks/stack.h"

#define SYMS_MAGIC "CPSYMS01"
#define SYMS_HDR 32u
#define SYMS_HAS_DWARF 1u

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
	const uint8_t *cached; /* the cached table (mapped), NULL: syms/bucket instead */
	uint32_t ncached;      /* its symbols */
	uint64_t cached_names; /* bytes of its names */
};

static struct module *mods;
static size_t nmods, mods_cap;

struct find {
	uintptr_t pc;
	struct module found;
	int ok;
};

/* The module's mapped PT_LOAD range, absolute: [*lo, *hi). */
static void load_range(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi)
{
	*lo = UINTPTR_MAX;
	*hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];
		if (p->p_type != PT_LOAD)
			continue;
		uintptr_t a = info->dlpi_addr + p->p_vaddr;
		if (a < *lo)
			*lo = a;
		if (a + p->p_memsz > *hi)
			*hi = a + p->p_memsz;
	}
}

static int find_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct find *f = arg;
	uintptr_t lo, hi;
	load_range(info, &lo, &hi);
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

static void load_elf_symbols(struct module *m);

/* Maps the cached table at path for m; 0 or -1 (absent, foreign, damaged). */
static int cache_map(struct module *m, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	struct stat st;
	void *p = MAP_FAILED;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && st.st_size >= (off_t)SYMS_HDR)
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	const uint8_t *h = p;
	uint32_t n, flags;
	uint64_t names;
	memcpy(&n, h + 8, 4);
	memcpy(&flags, h + 12, 4);
	memcpy(&names, h + 16, 8);
	if (memcmp(h, SYMS_MAGIC, 8) != 0 || names > (1ull << 32) ||
	    SYMS_HDR + (uint64_t)n * 16 + names != (uint64_t)st.st_size || (names && h[st.st_size - 1] != 0)) {
		munmap(p, (size_t)st.st_size);
		return -1;
	}
	m->cached = h;
	m->ncached = n;
	m->cached_names = names;
	m->has_dwarf = !!(flags & SYMS_HAS_DWARF);
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	for (const char *c = p; n;) {
		ssize_t k = write(fd, c, n);
		if (k <= 0)
			return -1;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Writes m's symbols (bucketed: ascending by bucket, in symtab order
 * within one) as a cached table at path. Best effort: on any failure
 * nothing is left behind. */
static void cache_write(const struct module *m, const char *path)
{
	size_t n = m->nsyms;
	struct sym *v = malloc(n * sizeof *v);
	uint64_t *start = malloc(n * 8);
	uint32_t *size = malloc(n * 4), *name = malloc(n * 4);
	char tmp[1300];
	int fd = -1;
	if (!v || !start || !size || !name || snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp)
		goto out;
	/* Sorted by start (insertion sort: the buckets hold about one symbol
	 * each, so this is near linear), stable, and the first of equal
	 * starts kept: the symbol the bucket scan would have chosen. */
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct sym x = m->syms[i];
		size_t j = k;
		while (j > 0 && v[j - 1].start > x.start) {
			v[j] = v[j - 1];
			j--;
		}
		if (j > 0 && v[j - 1].start == x.start) { /* an alias: keep the first */
			memmove(&v[j], &v[j + 1], (k - j) * sizeof *v);
			continue;
		}
		v[j] = x;
		k++;
	}
	/* Names: only those used, copied from the string table (the
	 * module's whole .dynstr/.strtab is not needed). */
	uint64_t names = 0;
	for (size_t i = 0; i < k; i++) {
		const char *s = elf_strptr(m->elf, m->strtab, v[i].name);
		names += (s ? strlen(s) : 0) + 1;
	}
	if (names > (1ull << 32))
		goto out;
	uint64_t off = 0;
	for (size_t i = 0; i < k; i++) {
		const char *s = elf_strptr(m->elf, m->strtab, v[i].name);
		start[i] = v[i].start;
		size[i] = v[i].size > UINT32_MAX ? 0 : (uint32_t)v[i].size;
		name[i] = (uint32_t)off;
		off += (s ? strlen(s) : 0) + 1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		goto out;
	uint8_t h[SYMS_HDR] = {0};
	uint32_t n32 = (uint32_t)k, flags = m->has_dwarf ? SYMS_HAS_DWARF : 0;
	memcpy(h, SYMS_MAGIC, 8);
	memcpy(h + 8, &n32, 4);
	memcpy(h + 12, &flags, 4);
	memcpy(h + 16, &names, 8);
	int rc = write_all(fd, h, sizeof h) || write_all(fd, start, k * 8) || write_all(fd, size, k * 4) ||
		 write_all(fd, name, k * 4);
	for (size_t i = 0; i < k && !rc; i++) {
		const char *s = elf_strptr(m->elf, m->strtab, v[i].name);
		rc = write_all(fd, s ? s : "", (s ? strlen(s) : 0) + 1);
	}
	if (close(fd) || rc || rename(tmp, path))
		unlink(tmp);
out:
	free(v);
	free(start);
	free(size);
	free(name);
}

/* The symbol covering rel in m's cached table: its name, or NULL. */
static const char *cache_lookup(const struct module *m, uint64_t rel)
{
	const uint8_t *starts = m->cached + SYMS_HDR;
	uint32_t lo = 0, hi = m->ncached; /* the answer is the last start <= rel: index lo - 1 */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		uint64_t v;
		memcpy(&v, starts + (size_t)mid * 8, 8);
		if (v <= rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	uint32_t i = lo - 1, size, off;
	uint64_t start;
	memcpy(&start, starts + (size_t)i * 8, 8);
	memcpy(&size, starts + (size_t)m->ncached * 8 + (size_t)i * 4, 4);
	memcpy(&off, starts + (size_t)m->ncached * 12 + (size_t)i * 4, 4);
	if (size && rel >= start + size)
		return NULL;
	if (off >= m->cached_names)
		return NULL; /* damaged */
	const char *name = (const char *)starts + (size_t)m->ncached * 16 + off;
	return *name ? name : NULL; /* NUL-terminated: the table's last byte is 0 */
}

/* The module's symbols: its cached table, else its ELF file (then cached). */
static void load_symbols(struct module *m)
{
	m->loaded = 1;
	if (!*m->path)
		return;
	char path[1200];
	int cache = cprof_lines_cache_path(m->base, ".syms", 0, path, sizeof path) == 0;
	if (cache && cache_map(m, path) == 0)
		return;
	load_elf_symbols(m);
	if (cache && m->nsyms && cprof_lines_cache_path(m->base, ".syms", 1, path, sizeof path) == 0)
		cache_write(m, path);
}

static void load_elf_symbols(struct module *m)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
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

/* After a dlclose (a new cprof_code_gen): modules no longer mapped where
 * they were stop matching PCs (their range is emptied; their memory stays,
 * as their names may be in use), so new code there is looked up anew. */
static uint32_t mods_gen = 1;
static int alive_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	uint8_t *alive = arg;
	uintptr_t lo, hi;
	load_range(info, &lo, &hi);
	for (size_t i = 0; i < nmods; i++)
		if (mods[i].base == info->dlpi_addr && mods[i].lo == lo && mods[i].hi == hi)
			alive[i] = 1;
	return 0;
}

static void forget_unmapped(void)
{
	uint32_t gen = atomic_load_explicit(&cprof_code_gen, memory_order_acquire);
	if (gen == mods_gen || !nmods)
		return;
	mods_gen = gen;
	uint8_t *alive = calloc(nmods, 1);
	if (!alive) {
		for (size_t i = 0; i < nmods; i++)
			mods[i].lo = mods[i].hi = 0;
		return;
	}
	dl_iterate_phdr(alive_cb, alive);
	for (size_t i = 0; i < nmods; i++)
		if (!alive[i])
			mods[i].lo = mods[i].hi = 0;
	free(alive);
}

static struct module *module_of(uintptr_t pc)
{
	forget_unmapped();
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
	if (m->cached) {
		hit->function = cache_lookup(m, rel);
		return 1;
	}
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
