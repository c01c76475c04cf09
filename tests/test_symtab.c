/*
 * stacks/symtab.c's per-build-id cache of symbol tables must name every PC
 * exactly as reading the module's ELF does: the same function (or none),
 * the same has_dwarf, whether the table is being written (first process),
 * mapped (later ones), or found damaged (then rebuilt). Each variant runs
 * in a process of its own (modules are loaded once per process: this
 * program exec'd again, not forked, which TSan's runtime does not survive
 * reliably) over the same PCs: the same offsets into libc's and this
 * program's code.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "stacks/lines.h"
#include "stacks/stack.h"

#define NPCS 4000

static uintptr_t pcs[NPCS];
static int npcs;

/* Adds PCs every `step` bytes over the executable segments of the module loaded at base. */
static int add_range(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	uintptr_t base = *(uintptr_t *)arg;
	if (info->dlpi_addr != base)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];
		if (p->p_type != PT_LOAD || !(p->p_flags & PF_X))
			continue;
		uintptr_t lo = base + p->p_vaddr, n = p->p_memsz;
		uintptr_t step = n / (NPCS / 2) + 1;
		for (uintptr_t a = lo; a < lo + n && npcs < NPCS; a += step)
			pcs[npcs++] = a;
	}
	return 1;
}

static void add_module_of(void *fn)
{
	Dl_info d;
	if (!dladdr(fn, &d))
		return;
	uintptr_t base = (uintptr_t)d.dli_fbase;
	/* dli_fbase is the mapping's start; dlpi_addr the load bias: the same
	 * for PIE objects (this program, libc). */
	dl_iterate_phdr(add_range, &base);
}

int main(int argc, char **argv);

static void pick_pcs(void)
{
	add_module_of((void *)printf);
	add_module_of((void *)main);
}

/* The variant's process: looks every PC up with the cache at dir ("0":
 * off) and writes "found has_dwarf function" lines to out. */
static int child(const char *dir, const char *out)
{
	if (!npcs)
		pick_pcs();
	cprof_lines_configure(dir);
	FILE *f = fopen(out, "w");
	if (!f)
		return 2;
	for (int i = 0; i < npcs; i++) {
		struct cprof_symtab_hit h;
		int ok = cprof_symtab_lookup(pcs[i], &h);
		fprintf(f, "%d %d %s\n", ok, ok ? h.has_dwarf : 0, ok && h.function ? h.function : "-");
	}
	return fclose(f) ? 3 : 0;
}

/* Runs a variant in a fresh process (this program, exec'd). */
static int run(const char *dir, const char *out)
{
	pid_t p = fork();
	if (p == 0) {
		execl("/proc/self/exe", "test_symtab", "child", dir, out, (char *)NULL);
		_exit(127);
	}
	int st;
	if (waitpid(p, &st, 0) != p)
		return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fprintf(stderr, "child for %s: status %#x\n", dir, st);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	static char buf[NPCS * 160];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	return strdup(buf);
}

static int count_syms(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "ls %s/*.syms 2>/dev/null | wc -l", dir);
	FILE *f = popen(cmd, "r");
	int n = -1;
	if (f && fscanf(f, "%d", &n) != 1)
		n = -1;
	if (f)
		pclose(f);
	return n;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "child") == 0)
		return child(argv[2], argv[3]);
	pick_pcs();
	CHECK(npcs > 1000);
	char dir[] = "/tmp/cprof-test-symtab.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char ref[600], built[600], mapped[600], rebuilt[600];
	snprintf(ref, sizeof ref, "%s/ref.txt", dir);
	snprintf(built, sizeof built, "%s/built.txt", dir);
	snprintf(mapped, sizeof mapped, "%s/mapped.txt", dir);
	snprintf(rebuilt, sizeof rebuilt, "%s/rebuilt.txt", dir);

	CHECK(child("0", ref) == 0); /* the reference, in this process (it looks nothing else up) */
	CHECK(run(dir, built) == 0);
	int nsyms = count_syms(dir);
	CHECKF(nsyms >= 2, "%d tables written\n", nsyms); /* libc's and this program's */
	CHECK(run(dir, mapped) == 0);
	/* Damage every table: cut in half. Lookups fall back to the ELF. */
	char cmd[700];
	snprintf(cmd, sizeof cmd, "for f in %s/*.syms; do truncate -s $(($(stat -c %%s $f) / 2)) $f; done", dir);
	CHECK(system(cmd) == 0);
	CHECK(run(dir, rebuilt) == 0);

	char *a = slurp(ref), *b = slurp(built), *c = slurp(mapped), *d = slurp(rebuilt);
	CHECK(a && b && c && d);
	if (a && b && c && d) {
		CHECK(strcmp(a, b) == 0);
		CHECK(strcmp(a, c) == 0);
		CHECK(strcmp(a, d) == 0);
		int named = 0;
		for (const char *s = a; (s = strchr(s, '\n')); s++)
			named += s[1] && !(s[1] == '1' && s[3] == ' ' && s[4] == '-');
		CHECKF(named > npcs / 2, "%d of %d PCs named\n", named, npcs);
	}
	free(a);
	free(b);
	free(c);
	free(d);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return check_done("test_symtab");
}
