/*
 * file:line for modules whose DWARF lives in a separate debug file (libc's
 * from libc6-dbg, any /usr/lib/debug/.build-id/xx/yyyy.debug), cheap enough
 * for every process of a tree.
 *
 * Why: those debug files are compressed (SHF_COMPRESSED); libdw inflates
 * whole sections on first use, which cost a process ~120 ms and ~17 MB for
 * libc's, for a handful of PCs. So the line table of such a module is
 * extracted once per build-id, per user, into a compact sorted table on
 * disk (the cache directory below), and every later process maps that
 * table read-only and binary-searches it: one open and mmap per module, a
 * few pages touched per lookup. The first process that needs a module pays
 * the extraction (once per machine and library version); concurrent ones
 * that find another process extracting (an flock) skip lines for that
 * module instead of waiting.
 *
 * Cache: CPROF_TRACE_LINES_CACHE=dir, else $XDG_CACHE_HOME/cprof-trace/lines,
 * else $HOME/.cache/cprof-trace/lines; "0" turns it off. Files are written
 * under a temporary name and renamed; a table is used only when its owner
 * is this user and its sizes add up, and every index read from it is
 * bounds-checked, so a damaged file gives no line, never a crash.
 *
 * The table also keeps the debug file's function symbols (.symtab): a
 * stripped library's own .dynsym lacks its static functions (libc's
 * start_thread, __libc_start_call_main).
 *
 * Table (little-endian): "CPLINES2", u32 nrows, u32 nfiles, u64 strings
 * bytes, u32 nfuncs, u32 0; u32 addr[nrows] (module file vaddr,
 * ascending), then per row u32 file (UINT32_MAX: end of a sequence, no
 * line) and u32 line; u32 file_offset[nfiles]; u32 func_addr[nfuncs]
 * (ascending), u32 func_size[nfuncs], u32 func_name_offset[nfuncs];
 * NUL-terminated strings (file names, then function names).
 *
 * Runs under symbolize.c's lock (tracer threads only).
 */
#define _GNU_SOURCE
#include <elfutils/libdw.h>
#include <gelf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stacks/lines.h"
#include "trace_writer.h"

#define MAGIC "CPLINES2"
#define HDR 32
#define NO_FILE UINT32_MAX

static char cache_dir[1024]; /* "" : off */

struct table {
	uintptr_t base;       /* load bias of the module it serves */
	int state;            /* 0 unknown, 1 mapped, -1 none */
	const uint8_t *map;
	size_t size;
	uint32_t nrows, nfiles, nfuncs;
	uint64_t nstr;
};
static struct table tables[64];
static unsigned ntables;

void cprof_lines_configure(const char *dir)
{
	const char *s, *home;
	char buf[1024] = "";
	cache_dir[0] = 0;
	if (dir && strcmp(dir, "0") == 0)
		return;
	if (dir && *dir)
		snprintf(buf, sizeof buf, "%s", dir);
	else if ((s = getenv("XDG_CACHE_HOME")) && *s == '/')
		snprintf(buf, sizeof buf, "%s/cprof-trace/lines", s);
	else if ((home = getenv("HOME")) && *home == '/')
		snprintf(buf, sizeof buf, "%s/.cache/cprof-trace/lines", home);
	if (buf[0] == '/' && strlen(buf) < sizeof cache_dir - 100)
		memcpy(cache_dir, buf, strlen(buf) + 1);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* ---- the build-id, from the module's mapped notes ---- */

struct id_find {
	uintptr_t base;
	char hex[2 * 64 + 1];
};

static int id_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct id_find *f = arg;
	if (info->dlpi_addr != f->base)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];
		if (p->p_type != PT_NOTE)
			continue;
		const uint8_t *n = (const uint8_t *)(info->dlpi_addr + p->p_vaddr), *end = n + p->p_memsz;
		while (n + 12 <= end) {
			uint32_t nsz = get32(n), dsz = get32(n + 4), type = get32(n + 8);
			const uint8_t *name = n + 12, *desc = name + ((nsz + 3) & ~3u);
			if (desc + dsz > end || desc < name)
				break;
			if (type == 3 /* NT_GNU_BUILD_ID */ && nsz == 4 && memcmp(name, "GNU", 4) == 0 && dsz >= 2 &&
			    dsz <= 64) {
				for (uint32_t k = 0; k < dsz; k++)
					snprintf(f->hex + 2 * k, 3, "%02x", desc[k]);
				return 1;
			}
			n = desc + ((dsz + 3) & ~3u);
		}
	}
	return 1; /* the module, without a build-id */
}

/* ---- extraction: the debug file's line programs into a table ---- */

struct row {
	uint64_t addr;
	uint32_t file, line, seq;
};

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct names {
	char **v;
	uint32_t n, cap;
	uint32_t *slot; /* open addressing: index + 1 */
	uint32_t nslot;
};

static uint32_t name_id(struct names *t, const char *s)
{
	if (t->n * 2 >= t->nslot) {
		uint32_t ns = t->nslot ? t->nslot * 2 : 1024;
		uint32_t *sl = calloc(ns, sizeof *sl);
		if (!sl)
			return NO_FILE;
		for (uint32_t i = 0; i < t->n; i++) {
			uint64_t h = 1469598103934665603ull;
			for (const char *c = t->v[i]; *c; c++)
				h = (h ^ (uint8_t)*c) * 1099511628211ull;
			uint32_t j = (uint32_t)h & (ns - 1);
			while (sl[j])
				j = (j + 1) & (ns - 1);
			sl[j] = i + 1;
		}
		free(t->slot);
		t->slot = sl;
		t->nslot = ns;
	}
	uint64_t h = 1469598103934665603ull;
	for (const char *c = s; *c; c++)
		h = (h ^ (uint8_t)*c) * 1099511628211ull;
	uint32_t j = (uint32_t)h & (t->nslot - 1);
	while (t->slot[j]) {
		if (strcmp(t->v[t->slot[j] - 1], s) == 0)
			return t->slot[j] - 1;
		j = (j + 1) & (t->nslot - 1);
	}
	if (t->n == t->cap) {
		uint32_t nc = t->cap ? t->cap * 2 : 256;
		char **nv = realloc(t->v, nc * sizeof *nv);
		if (!nv)
			return NO_FILE;
		t->v = nv;
		t->cap = nc;
	}
	if (!(t->v[t->n] = strdup(s)))
		return NO_FILE;
	t->slot[j] = t->n + 1;
	return t->n++;
}

struct func {
	uint64_t addr, size;
	uint32_t name; /* index in the names table */
	int global;
};

static int func_cmp(const void *a, const void *b)
{
	const struct func *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return y->global - x->global; /* global names first */
}

/* The function symbols of the debug file's .symtab (names into fnames). */
static struct func *read_funcs(Dwarf *dw, struct names *fnames, size_t *out_n)
{
	Elf *elf = dwarf_getelf(dw);
	Elf_Scn *scn = NULL;
	struct func *v = NULL;
	size_t n = 0, cap = 0;
	while (elf && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		size_t count = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; d && i < count; i++) {
			GElf_Sym sym;
			if (!gelf_getsym(d, (int)i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_value ||
			    sym.st_value > UINT32_MAX || sym.st_size > UINT32_MAX)
				continue;
			int t = GELF_ST_TYPE(sym.st_info);
			if (t != STT_FUNC && t != STT_GNU_IFUNC)
				continue;
			const char *name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!name || !*name)
				continue;
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 4096;
				struct func *nv = realloc(v, nc * sizeof *nv);
				if (!nv)
					break;
				v = nv;
				cap = nc;
			}
			uint32_t id = name_id(fnames, name);
			if (id == NO_FILE)
				continue;
			v[n++] = (struct func){sym.st_value, sym.st_size, id, GELF_ST_BIND(sym.st_info) != STB_LOCAL};
		}
		break;
	}
	if (v)
		qsort(v, n, sizeof *v, func_cmp);
	/* One symbol per address: the first (a global name over a local alias). */
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!k || v[k - 1].addr != v[i].addr)
			v[k++] = v[i];
	*out_n = k;
	return v;
}

/* The table is written through the format's fd sink (whole writes,
 * EINTR retried). */
static int write_all(int fd, const void *p, size_t n)
{
	return trace_sink_fd(&fd, p, n);
}

/* Writes the table of debug file `debug` to `out` (a new file). */
static int extract(const char *debug, int out)
{
	int fd = open(debug, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	Dwarf *dw = dwarf_begin(fd, DWARF_C_READ);
	struct row *rows = NULL;
	size_t n = 0, cap = 0;
	struct names names = {0};
	int rc = dw ? 0 : -1;
	Dwarf_Off off = 0, next;
	size_t hsize;
	uint32_t seq = 0;
	while (!rc && dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu;
		Dwarf_Lines *lines;
		size_t nl;
		if (dwarf_offdie(dw, off + hsize, &cu) && dwarf_getsrclines(&cu, &lines, &nl) == 0) {
			for (size_t i = 0; i < nl && !rc; i++) {
				Dwarf_Line *l = dwarf_onesrcline(lines, i);
				Dwarf_Addr a;
				int ln = 0;
				bool end = false;
				if (!l || dwarf_lineaddr(l, &a) || a > UINT32_MAX)
					continue;
				dwarf_lineendsequence(l, &end);
				dwarf_lineno(l, &ln);
				const char *src = end ? NULL : dwarf_linesrc(l, NULL, NULL);
				uint32_t file = src ? name_id(&names, src) : NO_FILE;
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 65536;
					struct row *nr = realloc(rows, nc * sizeof *nr);
					if (!nr) {
						rc = -1;
						break;
					}
					rows = nr;
					cap = nc;
				}
				rows[n++] = (struct row){a, file, ln > 0 ? (uint32_t)ln : 0, seq++};
			}
		}
		off = next;
	}
	struct names fnames = {0};
	size_t nfuncs = 0;
	struct func *funcs = !rc ? read_funcs(dw, &fnames, &nfuncs) : NULL;
	if (dw)
		dwarf_end(dw);
	close(fd);
	/* One row per address: the last of a run (the line the address ends
	 * up in), except that a sequence's start wins over another's end. */
	size_t k = 0;
	if (!rc) {
		qsort(rows, n, sizeof *rows, row_cmp);
		for (size_t i = 0; i < n; i++) {
			if (k && rows[k - 1].addr == rows[i].addr) {
				if (rows[i].file != NO_FILE || rows[k - 1].file == NO_FILE)
					rows[k - 1] = rows[i];
				continue;
			}
			rows[k++] = rows[i];
		}
	}
	uint64_t nstr = 0, nfstr = 0;
	for (uint32_t i = 0; i < names.n; i++)
		nstr += strlen(names.v[i]) + 1;
	for (uint32_t i = 0; i < fnames.n; i++)
		nfstr += strlen(fnames.v[i]) + 1;
	if (!rc && (k > UINT32_MAX / 16 || nfuncs > UINT32_MAX / 16 || nstr + nfstr > UINT32_MAX))
		rc = -1;
	if (!rc) {
		uint8_t h[HDR];
		uint32_t nr = (uint32_t)k, nf = names.n, nfn = (uint32_t)nfuncs, zero = 0;
		uint64_t all = nstr + nfstr;
		memcpy(h, MAGIC, 8);
		memcpy(h + 8, &nr, 4);
		memcpy(h + 12, &nf, 4);
		memcpy(h + 16, &all, 8);
		memcpy(h + 24, &nfn, 4);
		memcpy(h + 28, &zero, 4);
		rc = write_all(out, h, HDR);
		uint32_t buf[2048];
		size_t b = 0;
#define PUT(v)                                                          \
	do {                                                            \
		buf[b++] = (v);                                         \
		if (b == 2048) {                                        \
			rc = rc ? rc : write_all(out, buf, sizeof buf); \
			b = 0;                                          \
		}                                                       \
	} while (0)
		for (size_t i = 0; i < k; i++)
			PUT((uint32_t)rows[i].addr);
		for (size_t i = 0; i < k; i++) {
			PUT(rows[i].file);
			PUT(rows[i].line);
		}
		uint32_t at = 0;
		for (uint32_t i = 0; i < nf; i++) {
			PUT(at);
			at += (uint32_t)strlen(names.v[i]) + 1;
		}
		/* function names follow the file names in the strings */
		uint32_t *foff = calloc(fnames.n + 1, sizeof *foff);
		for (uint32_t i = 0; foff && i < fnames.n; i++) {
			foff[i] = at;
			at += (uint32_t)strlen(fnames.v[i]) + 1;
		}
		if (!foff)
			rc = -1;
		for (size_t i = 0; i < nfuncs && foff; i++)
			PUT((uint32_t)funcs[i].addr);
		for (size_t i = 0; i < nfuncs && foff; i++)
			PUT((uint32_t)funcs[i].size);
		for (size_t i = 0; i < nfuncs && foff; i++)
			PUT(foff[funcs[i].name]);
		free(foff);
#undef PUT
		if (!rc && b)
			rc = write_all(out, buf, b * 4);
		for (uint32_t i = 0; i < nf && !rc; i++)
			rc = write_all(out, names.v[i], strlen(names.v[i]) + 1);
		for (uint32_t i = 0; i < fnames.n && !rc; i++)
			rc = write_all(out, fnames.v[i], strlen(fnames.v[i]) + 1);
	}
	for (uint32_t i = 0; i < fnames.n; i++)
		free(fnames.v[i]);
	free(fnames.v);
	free(fnames.slot);
	free(funcs);
	for (uint32_t i = 0; i < names.n; i++)
		free(names.v[i]);
	free(names.v);
	free(names.slot);
	free(rows);
	return rc;
}

static int mkdirs(const char *dir)
{
	char p[1024];
	snprintf(p, sizeof p, "%s", dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0700) && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0700) && errno != EEXIST ? -1 : 0;
}

/* Maps the cached table at path into t; 0 or -1. */
static int map_table(const char *path, struct table *t)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	struct stat st;
	void *m = MAP_FAILED;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && st.st_size >= HDR)
		m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -1;
	/* A lookup touches a few scattered pages: no read-around (each fault
	 * would map 64 KiB of the table into this process's RSS). */
	madvise(m, (size_t)st.st_size, MADV_RANDOM);
	const uint8_t *p = m;
	uint64_t nstr;
	memcpy(&nstr, p + 16, 8);
	uint64_t nr = get32(p + 8), nf = get32(p + 12), nfn = get32(p + 24);
	uint64_t need = HDR + nr * 12 + nf * 4 + nfn * 12 + nstr;
	if (memcmp(p, MAGIC, 8) != 0 || nstr > (1ull << 32) || need != (uint64_t)st.st_size ||
	    (nstr && p[st.st_size - 1] != 0)) {
		munmap(m, (size_t)st.st_size);
		return -1;
	}
	t->map = p;
	t->size = (size_t)st.st_size;
	t->nrows = (uint32_t)nr;
	t->nfiles = (uint32_t)nf;
	t->nfuncs = (uint32_t)nfn;
	t->nstr = nstr;
	return 0;
}

int cprof_lines_cache_path(uintptr_t base, const char *suffix, int make_dir, char *out, size_t cap)
{
	if (!cache_dir[0])
		return -1;
	struct id_find f = {.base = base};
	dl_iterate_phdr(id_cb, &f);
	if (!f.hex[0] || (make_dir && mkdirs(cache_dir) != 0))
		return -1;
	int n = snprintf(out, cap, "%s/%s%s", cache_dir, f.hex, suffix);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Finds or builds the table for the module at base. */
static void open_table(struct table *t, int may_build)
{
	t->state = -1;
	if (!cache_dir[0])
		return;
	struct id_find f = {.base = t->base};
	dl_iterate_phdr(id_cb, &f);
	if (!f.hex[0])
		return;
	char path[1200], debug[300], tmp[1300], lock[1300];
	snprintf(path, sizeof path, "%s/%s.lines", cache_dir, f.hex);
	if (map_table(path, t) == 0) {
		t->state = 1;
		return;
	}
	snprintf(debug, sizeof debug, "/usr/lib/debug/.build-id/%.2s/%s.debug", f.hex, f.hex + 2);
	if (!may_build || access(debug, R_OK) != 0 || mkdirs(cache_dir) != 0)
		return;
	/* One process extracts; others go without lines for it meanwhile. */
	snprintf(lock, sizeof lock, "%s/%s.lock", cache_dir, f.hex);
	int lk = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lk < 0)
		return;
	if (flock(lk, LOCK_EX | LOCK_NB) == 0) {
		if (map_table(path, t) == 0) { /* another finished meanwhile */
			t->state = 1;
		} else {
			snprintf(tmp, sizeof tmp, "%s/%s.XXXXXX", cache_dir, f.hex);
			int out = mkostemp(tmp, O_CLOEXEC);
			if (out >= 0) {
				int rc = extract(debug, out);
				if (close(out) || rc || rename(tmp, path))
					unlink(tmp);
				else if (map_table(path, t) == 0)
					t->state = 1;
			}
		}
		unlink(lock);
	}
	close(lk);
}

/* The last of n ascending u32 values at v that is <= a: its index + 1, or 0. */
static uint32_t last_at_or_below(const uint8_t *v, uint32_t n, uint64_t a)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (get32(v + 4 * (size_t)mid) <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int cprof_lines_lookup(uintptr_t at, uintptr_t base, int may_build, struct cprof_line *out)
{
	memset(out, 0, sizeof *out);
	struct table *t = NULL;
	for (unsigned i = 0; i < ntables && !t; i++)
		if (tables[i].base == base)
			t = &tables[i];
	if (!t) {
		if (ntables == sizeof tables / sizeof *tables)
			return 0;
		t = &tables[ntables++];
		*t = (struct table){.base = base};
		open_table(t, may_build);
	}
	uint64_t a = at - base;
	if (t->state != 1 || a > UINT32_MAX)
		return 0;
	const uint8_t *addr = t->map + HDR;
	const uint8_t *info = addr + 4 * (size_t)t->nrows;
	const uint8_t *offs = info + 8 * (size_t)t->nrows;
	const uint8_t *fa = offs + 4 * (size_t)t->nfiles;
	const uint8_t *fs = fa + 4 * (size_t)t->nfuncs, *fn = fs + 4 * (size_t)t->nfuncs;
	const char *str = (const char *)(fn + 4 * (size_t)t->nfuncs);
	uint32_t i = last_at_or_below(addr, t->nrows, a);
	if (i) {
		uint32_t fi = get32(info + 8 * (size_t)(i - 1)), ln = get32(info + 8 * (size_t)(i - 1) + 4);
		uint32_t so = fi < t->nfiles ? get32(offs + 4 * (size_t)fi) : UINT32_MAX;
		if (so < t->nstr) {
			out->file = str + so;
			out->line = ln;
		}
	}
	i = last_at_or_below(fa, t->nfuncs, a);
	if (i) {
		uint64_t start = get32(fa + 4 * (size_t)(i - 1)), size = get32(fs + 4 * (size_t)(i - 1));
		uint32_t so = get32(fn + 4 * (size_t)(i - 1));
		if ((a < start + size || (!size && a == start)) && so < t->nstr)
			out->function = str + so;
	}
	return out->file || out->function;
}
