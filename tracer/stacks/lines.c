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
 * Table (little-endian): "CPLINES1", u32 nrows, u32 nfiles, u64 strings
 * bytes, u32 addr[nrows] (module file vaddr, ascending), then per row u32
 * file (UINT32_MAX: end of a sequence, no line) and u32 line, u32
 * file_offset[nfiles], NUL-terminated file names.
 *
 * Runs under symbolize.c's lock (tracer threads only).
 */
#define _GNU_SOURCE
#include <elfutils/libdw.h>
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

#define MAGIC "CPLINES1"
#define HDR 24
#define NO_FILE UINT32_MAX

static char cache_dir[1024]; /* "" : off */

struct table {
	uintptr_t base;       /* load bias of the module it serves */
	int state;            /* 0 unknown, 1 mapped, -1 none */
	const uint8_t *map;
	size_t size;
	uint32_t nrows, nfiles;
	uint64_t nstr;
};
static struct table tables[64];
static unsigned ntables;

void cprof_lines_configure(const char *dir)
{
	const char *s, *home;
	char buf[1024] = "";
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

static int write_all(int fd, const void *p, size_t n)
{
	for (const char *c = p; n;) {
		ssize_t k = write(fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		c += k;
		n -= (size_t)k;
	}
	return 0;
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
	uint64_t nstr = 0;
	for (uint32_t i = 0; i < names.n; i++)
		nstr += strlen(names.v[i]) + 1;
	if (!rc && (k > UINT32_MAX / 16 || nstr > UINT32_MAX))
		rc = -1;
	if (!rc) {
		uint8_t h[HDR];
		uint32_t nr = (uint32_t)k, nf = names.n;
		memcpy(h, MAGIC, 8);
		memcpy(h + 8, &nr, 4);
		memcpy(h + 12, &nf, 4);
		memcpy(h + 16, &nstr, 8);
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
#undef PUT
		if (!rc && b)
			rc = write_all(out, buf, b * 4);
		for (uint32_t i = 0; i < nf && !rc; i++)
			rc = write_all(out, names.v[i], strlen(names.v[i]) + 1);
	}
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
	const uint8_t *p = m;
	uint64_t nstr;
	memcpy(&nstr, p + 16, 8);
	uint64_t nr = get32(p + 8), nf = get32(p + 12);
	uint64_t need = HDR + nr * 12 + nf * 4 + nstr;
	if (memcmp(p, MAGIC, 8) != 0 || nstr > (1ull << 32) || need != (uint64_t)st.st_size ||
	    (nstr && p[st.st_size - 1] != 0)) {
		munmap(m, (size_t)st.st_size);
		return -1;
	}
	t->map = p;
	t->size = (size_t)st.st_size;
	t->nrows = (uint32_t)nr;
	t->nfiles = (uint32_t)nf;
	t->nstr = nstr;
	return 0;
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

int cprof_lines_lookup(uintptr_t at, uintptr_t base, int may_build, const char **file, uint32_t *line)
{
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
	if (t->state != 1 || !t->nrows)
		return 0;
	uint64_t a = at - base;
	if (a > UINT32_MAX)
		return 0;
	const uint8_t *addr = t->map + HDR;
	/* The last row at or below a. */
	uint32_t lo = 0, hi = t->nrows;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (get32(addr + 4 * (size_t)mid) <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return 0;
	const uint8_t *info = addr + 4 * (size_t)t->nrows + 8 * (size_t)(lo - 1);
	uint32_t fi = get32(info), ln = get32(info + 4);
	if (fi == NO_FILE || fi >= t->nfiles)
		return 0;
	const uint8_t *offs = addr + 12 * (size_t)t->nrows;
	uint32_t so = get32(offs + 4 * (size_t)fi);
	if (so >= t->nstr)
		return 0;
	*file = (const char *)(offs + 4 * (size_t)t->nfiles + so);
	*line = ln;
	return 1;
}
