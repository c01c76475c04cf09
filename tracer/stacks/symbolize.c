/*
 * Symbolization of this process's PCs for the stack table: function, file,
 * line and module, so a trace reads the same on another machine.
 *
 * Runs on tracer threads (the drainer, HTTP threads), serialised by a lock.
 * elfutils' libdwfl maps a PC to its module, symbol and DWARF line; a PC
 * whose module was loaded after the last report triggers one re-report.
 * Without debug info a frame keeps the symbol (or module + offset). Results
 * are cached per PC for the life of the process.
 *
 * libdw does not survive running out of memory (under an address-space
 * limit, dwarf_getsrclines crashed at exit and the trace lost its end
 * marker): before calling into it we check that LIBDW_HEADROOM bytes of
 * address space are still free, else the frame degrades to what dladdr
 * knows (symbol, module + offset) or to unresolved.
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "stacks/cfi.h"
#include "stacks/lines.h"
#include "stacks/stack.h"

struct pc_entry {
	uintptr_t pc;
	struct cprof_frame frame;
};

#define LIBDW_HEADROOM (32u << 20) /* bytes of address space libdw may need */

static Dwfl *dwfl;
static int dwfl_failed;
static struct pc_entry *cache; /* open addressing by pc; pc 0 = empty */
static size_t cache_cap, cache_used;

/* Separate debug info from the local build-id tree only (/usr/lib/debug).
 * Never dwfl_standard_find_debuginfo: it starts elfutils' debuginfod client
 * (libcurl, OpenSSL; a network fetch when DEBUGINFOD_URLS is set), which a
 * tracer must not do, and which spins when it runs at exit after OpenSSL's
 * own exit handlers. */
int cprof_find_debuginfo_local(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			       const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
			       char **debuginfo_file_name)
{
	return dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file, debuglink_crc,
					    debuginfo_file_name);
}

/* No separate debug files at all: the module's own .symtab/.dynsym and the
 * DWARF it carries itself. Loading a distribution's debug package (libc's
 * is tens of MB) costs a short-lived process ~100 ms and ~20 MB; tree
 * captures (many short processes) use this. */
static int find_debuginfo_none(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			       const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
			       char **debuginfo_file_name)
{
	(void)mod, (void)userdata, (void)modname, (void)base, (void)file_name, (void)debuglink_file,
		(void)debuglink_crc, (void)debuginfo_file_name;
	return -1;
}

static Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = cprof_find_debuginfo_local,
};
static int cheap; /* symbols from symtab.c; libdwfl only for modules' own DWARF lines */

void cprof_symbolize_configure(int separate_debuginfo)
{
	callbacks.find_debuginfo = separate_debuginfo ? cprof_find_debuginfo_local : find_debuginfo_none;
	cheap = !separate_debuginfo;
}

static void report(void)
{
	if (!dwfl) {
		dwfl = dwfl_begin(&callbacks);
		if (!dwfl) {
			dwfl_failed = 1;
			return;
		}
	}
	dwfl_report_begin(dwfl);
	if (dwfl_linux_proc_report(dwfl, getpid()) != 0)
		dwfl_failed = 1;
	dwfl_report_end(dwfl, NULL, NULL);
}

static uint32_t intern_str(const char *s)
{
	return s && *s ? cprof_string_intern(s, strlen(s)) : 0;
}

static const char *base_name(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	return slash ? slash + 1 : path;
}

#define LOW_MEMORY_RECHECK_NS 100000000u /* the answer is kept this long */

/* Nonzero when LIBDW_HEADROOM bytes of address space cannot be reserved
 * (RLIMIT_AS, overcommit): libdw must not run then. The probe (an mmap and
 * munmap) ran for every PC symbolized, hundreds in a short process; its
 * answer is now kept for 100 ms. Under symbolize.c's lock. */
static int low_memory(void)
{
	static int low;
	static uint64_t checked_ns; /* CLOCK_MONOTONIC, 0: never */
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
	uint64_t now = (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
	if (checked_ns && now - checked_ns < LOW_MEMORY_RECHECK_NS)
		return low;
	checked_ns = now ? now : 1;
	void *p = mmap(NULL, LIBDW_HEADROOM, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	low = p == MAP_FAILED;
	if (!low)
		munmap(p, LIBDW_HEADROOM);
	return low;
}

static void lookup_cheap(uintptr_t pc, uintptr_t at, struct cprof_frame *f, int low)
{
	struct cprof_symtab_hit hit;
	if (!cprof_symtab_lookup(at, &hit))
		return;
	f->module = intern_str(base_name(hit.module_path));
	f->module_offset = pc - hit.base;
	f->function = intern_str(hit.function);
	/* The tracer's own frames (the interposed call, the leaf of every
	 * blocking stack) need no line: their name is the call. */
	static uintptr_t self_base = 1;
	if (self_base == 1) {
		Dl_info me;
		self_base = dladdr((void *)lookup_cheap, &me) ? (uintptr_t)me.dli_fbase : 0;
	}
	if (self_base && hit.base == self_base)
		return;
	if (!hit.has_dwarf) { /* a separate debug file: its cached line table (lines.c) */
		struct cprof_line l;
		if (cprof_lines_lookup(at, hit.base, !low, &l)) {
			f->file = intern_str(l.file);
			f->line = l.file ? l.line : 0;
			if (!f->function)
				f->function = intern_str(l.function);
		}
		return;
	}
	if (low)
		return; /* no address space to spare for libdw */
	/* Only this module, offline: reporting the whole process
	 * (dwfl_linux_proc_report) costs a short process ~100 ms. */
	static const Dwfl_Callbacks offline = {
		.find_debuginfo = find_debuginfo_none,
		.section_address = dwfl_offline_section_address,
	};
	static Dwfl *one;
	static uintptr_t reported[64];
	static unsigned nreported;
	if (!one && !(one = dwfl_begin(&offline)))
		return;
	Dwfl_Module *m = dwfl_addrmodule(one, at);
	unsigned i = 0;
	while (!m && i < nreported && reported[i] != hit.base)
		i++;
	if (!m && i == nreported && nreported < 64) {
		reported[nreported++] = hit.base;
		dwfl_report_begin_add(one);
		dwfl_report_elf(one, base_name(hit.module_path), hit.module_path, -1, hit.base, false);
		dwfl_report_end(one, NULL, NULL);
		m = dwfl_addrmodule(one, at);
	}
	Dwfl_Line *line = m ? dwfl_module_getsrc(m, at) : NULL;
	if (line) {
		int lineno = 0;
		const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
		f->file = intern_str(file);
		f->line = lineno > 0 ? (uint32_t)lineno : 0;
	}
	if (!f->function && m)
		f->function = intern_str(dwfl_module_addrname(m, at));
}

static void lookup(uintptr_t pc, int leaf, struct cprof_frame *f)
{
	memset(f, 0, sizeof *f);
	f->pc = pc;
	/* A return address points after the call; its line is the call's. */
	uintptr_t at = leaf ? pc : pc - 1;
	int low = low_memory();
	if (cheap) {
		lookup_cheap(pc, at, f, low);
		return;
	}
	if (!dwfl && !dwfl_failed && !low)
		report();
	Dwfl_Module *m = dwfl && !low ? dwfl_addrmodule(dwfl, at) : NULL;
	if (!m && dwfl && !low) {
		report(); /* a module loaded since the last report */
		m = dwfl_addrmodule(dwfl, at);
	}
	if (m) {
		Dwarf_Addr start = 0;
		const char *mod = dwfl_module_info(m, NULL, &start, NULL, NULL, NULL, NULL, NULL);
		f->module = intern_str(base_name(mod));
		f->module_offset = pc - start;
		f->function = intern_str(dwfl_module_addrname(m, at));
		Dwfl_Line *line = dwfl_module_getsrc(m, at);
		if (line) {
			int lineno = 0;
			const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
			f->file = intern_str(file);
			f->line = lineno > 0 ? (uint32_t)lineno : 0;
		}
	}
	if (!f->function) { /* no libdwfl answer: the dynamic symbol table */
		Dl_info info;
		if (dladdr((void *)at, &info)) {
			f->function = intern_str(info.dli_sname);
			if (!f->module) {
				f->module = intern_str(base_name(info.dli_fname));
				f->module_offset = pc - (uintptr_t)info.dli_fbase;
			}
		}
	}
}

static void symbolize(uintptr_t pc, int leaf, struct cprof_frame *out);
static pthread_mutex_t symbolize_lock = PTHREAD_MUTEX_INITIALIZER;

/* The drainer and the HTTP threads share the cache. */
void cprof_symbolize(uintptr_t pc, int leaf, struct cprof_frame *out)
{
	pthread_mutex_lock(&symbolize_lock);
	symbolize(pc, leaf, out);
	pthread_mutex_unlock(&symbolize_lock);
}

static void symbolize(uintptr_t pc, int leaf, struct cprof_frame *out)
{
	/* code unmapped since (dlclose): what the cache knows may name old code */
	static uint32_t cache_gen = 1;
	uint32_t gen = atomic_load_explicit(&cprof_code_gen, memory_order_acquire);
	if (gen != cache_gen) {
		cache_gen = gen;
		if (cache)
			memset(cache, 0, cache_cap * sizeof *cache);
		cache_used = 0;
	}
	uintptr_t key = pc ^ (uintptr_t)(leaf != 0); /* pcs are >1-aligned rarely; good enough as a key */
	if (cache_used * 2 >= cache_cap) {
		size_t ncap = cache_cap ? cache_cap * 2 : 4096;
		struct pc_entry *n = calloc(ncap, sizeof *n);
		if (!n) {
			lookup(pc, leaf, out);
			return;
		}
		for (size_t i = 0; i < cache_cap; i++) {
			if (!cache[i].pc)
				continue;
			size_t j = (cache[i].pc * 0x9e3779b97f4a7c15ull) >> 20 & (ncap - 1);
			while (n[j].pc)
				j = (j + 1) & (ncap - 1);
			n[j] = cache[i];
		}
		free(cache);
		cache = n;
		cache_cap = ncap;
	}
	size_t j = (key * 0x9e3779b97f4a7c15ull) >> 20 & (cache_cap - 1);
	while (cache[j].pc) {
		if (cache[j].pc == key) {
			*out = cache[j].frame;
			return;
		}
		j = (j + 1) & (cache_cap - 1);
	}
	lookup(pc, leaf, out);
	cache[j].pc = key;
	cache[j].frame = *out;
	cache_used++;
}
