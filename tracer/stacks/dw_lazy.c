/*
 * elfutils (libdw, and libelf behind it), loaded on first use. Most
 * processes of a traced tree never call it: their symbols come from
 * symtab.c's cached tables and their lines from lines.c's, so linking it
 * outright made every process map and relocate libdw, libelf, liblzma and
 * libbz2 (libdw alone has ~2,700 relocations) for nothing. These hidden
 * definitions of the elfutils calls the tracer makes (symbolize.c,
 * symtab.c, lines.c, profiles/stackprof.c, unchanged) forward to the real
 * library, opened with dlopen the first time one is called (the same copy
 * when the program links libdw itself), like http/mhd_lazy.c does for
 * libmicrohttpd.
 *
 * Constraints: never called from a signal handler (symbolization runs on
 * the drainer, a capture's caller or the endpoint's threads). Thread-safe:
 * every thread resolves the same pointers (benign races on pointer-sized
 * atomic stores). A missing library makes every call fail the way the real
 * one reports failure (NULL, -1, EV_NONE), so frames keep what dladdr
 * knows, as under memory pressure.
 */
#define _GNU_SOURCE
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>

#include "core/lazy_lib.h"

static struct cprof_lazy_lib libdw = {.soname = "libdw.so.1", .without = "symbols from dladdr only"}; /* libelf.so.1 with it */

/* The calls: return type, what a failure returns, name, the symbol version
 * the library was linked against, parameters, arguments. */
#define DW_CALLS(X)                                                                                            \
	X(Dwarf *, NULL, dwarf_begin, "ELFUTILS_0.122", (int fd, Dwarf_Cmd cmd), (fd, cmd))                      \
	X(int, -1, dwarf_end, "ELFUTILS_0.122", (Dwarf * d), (d))                                                \
	X(Elf *, NULL, dwarf_getelf, "ELFUTILS_0.126", (Dwarf * d), (d))                                         \
	X(int, -1, dwarf_getsrclines, "ELFUTILS_0.122", (Dwarf_Die * cu, Dwarf_Lines * *l, size_t * n),          \
	  (cu, l, n))                                                                                            \
	X(int, -1, dwarf_lineaddr, "ELFUTILS_0.122", (Dwarf_Line * l, Dwarf_Addr * a), (l, a))                   \
	X(int, -1, dwarf_lineendsequence, "ELFUTILS_0.122", (Dwarf_Line * l, bool *f), (l, f))                   \
	X(int, -1, dwarf_lineno, "ELFUTILS_0.122", (Dwarf_Line * l, int *n), (l, n))                             \
	X(const char *, NULL, dwarf_linesrc, "ELFUTILS_0.122", (Dwarf_Line * l, Dwarf_Word * m, Dwarf_Word * n), \
	  (l, m, n))                                                                                             \
	X(int, -1, dwarf_nextcu, "ELFUTILS_0.122",                                                               \
	  (Dwarf * d, Dwarf_Off o, Dwarf_Off * n, size_t * h, Dwarf_Off * a, uint8_t * as, uint8_t * os),         \
	  (d, o, n, h, a, as, os))                                                                               \
	X(Dwarf_Die *, NULL, dwarf_offdie, "ELFUTILS_0.122", (Dwarf * d, Dwarf_Off o, Dwarf_Die * r), (d, o, r)) \
	X(Dwarf_Line *, NULL, dwarf_onesrcline, "ELFUTILS_0.122", (Dwarf_Lines * l, size_t i), (l, i))           \
	X(ssize_t, -1, dwelf_elf_gnu_build_id, "ELFUTILS_0.159", (Elf * e, const void **b), (e, b))              \
	X(Dwfl_Module *, NULL, dwfl_addrmodule, "ELFUTILS_0.122", (Dwfl * d, Dwarf_Addr a), (d, a))              \
	X(Dwfl *, NULL, dwfl_begin, "ELFUTILS_0.122", (const Dwfl_Callbacks *c), (c))                            \
	X(int, -1, dwfl_build_id_find_debuginfo, "ELFUTILS_0.130",                                               \
	  (Dwfl_Module * m, void **u, const char *n, Dwarf_Addr b, const char *f, const char *l, GElf_Word c,     \
	   char **o),                                                                                            \
	  (m, u, n, b, f, l, c, o))                                                                              \
	X(const char *, NULL, dwfl_lineinfo, "ELFUTILS_0.122",                                                   \
	  (Dwfl_Line * l, Dwarf_Addr * a, int *n, int *c, Dwarf_Word *m, Dwarf_Word *s), (l, a, n, c, m, s))      \
	X(int, -1, dwfl_linux_proc_find_elf, "ELFUTILS_0.122",                                                   \
	  (Dwfl_Module * m, void **u, const char *n, Dwarf_Addr b, char **f, Elf **e), (m, u, n, b, f, e))        \
	X(int, -1, dwfl_linux_proc_report, "ELFUTILS_0.122", (Dwfl * d, pid_t p), (d, p))                        \
	X(const char *, NULL, dwfl_module_addrname, "ELFUTILS_0.122", (Dwfl_Module * m, GElf_Addr a), (m, a))    \
	X(Dwfl_Line *, NULL, dwfl_module_getsrc, "ELFUTILS_0.122", (Dwfl_Module * m, Dwarf_Addr a), (m, a))      \
	X(const char *, NULL, dwfl_module_info, "ELFUTILS_0.122",                                                \
	  (Dwfl_Module * m, void ***u, Dwarf_Addr *s, Dwarf_Addr *e, Dwarf_Addr *db, Dwarf_Addr *sb,             \
	   const char **mf, const char **df),                                                                    \
	  (m, u, s, e, db, sb, mf, df))                                                                          \
	X(int, -1, dwfl_offline_section_address, "ELFUTILS_0.122",                                               \
	  (Dwfl_Module * m, void **u, const char *n, Dwarf_Addr b, const char *s, GElf_Word i,                   \
	   const GElf_Shdr *h, Dwarf_Addr *a),                                                                   \
	  (m, u, n, b, s, i, h, a))                                                                              \
	X(Dwfl_Module *, NULL, dwfl_report_elf, "ELFUTILS_0.156",                                                \
	  (Dwfl * d, const char *n, const char *f, int fd, GElf_Addr b, bool a), (d, n, f, fd, b, a))            \
	X(int, -1, dwfl_report_end, "ELFUTILS_0.122",                                                            \
	  (Dwfl * d, int (*r)(Dwfl_Module *, void *, const char *, Dwarf_Addr, void *), void *a), (d, r, a))     \
	X(Elf *, NULL, elf_begin, "ELFUTILS_1.0", (int fd, Elf_Cmd c, Elf *r), (fd, c, r))                       \
	X(int, -1, elf_end, "ELFUTILS_1.0", (Elf * e), (e))                                                      \
	X(Elf_Data *, NULL, elf_getdata, "ELFUTILS_1.0", (Elf_Scn * s, Elf_Data *d), (s, d))                     \
	X(int, -1, elf_getshdrstrndx, "ELFUTILS_1.5", (Elf * e, size_t *d), (e, d))                              \
	X(Elf_Scn *, NULL, elf_nextscn, "ELFUTILS_1.0", (Elf * e, Elf_Scn *s), (e, s))                           \
	X(char *, NULL, elf_strptr, "ELFUTILS_1.0", (Elf * e, size_t i, size_t o), (e, i, o))                    \
	X(unsigned int, EV_NONE, elf_version, "ELFUTILS_1.0", (unsigned int v), (v))                             \
	X(GElf_Shdr *, NULL, gelf_getshdr, "ELFUTILS_1.0", (Elf_Scn * s, GElf_Shdr *d), (s, d))                  \
	X(GElf_Sym *, NULL, gelf_getsym, "ELFUTILS_1.0", (Elf_Data * d, int i, GElf_Sym *s), (d, i, s))

/* The real `name` at `version` (else its default version: another build
 * of elfutils), or NULL when the library is missing. */
#define REAL_DW(name, version) CPROF_LAZY(&libdw, name, version)

#define DEFINE_CALL(ret, fail, name, version, params, args)          \
	ret name params                                              \
	{                                                            \
		__typeof__(&name) real_ = REAL_DW(name, version);    \
		return real_ ? real_ args : (ret)(fail);             \
	}
DW_CALLS(DEFINE_CALL)

/* The two calls that return nothing. */
void dwfl_report_begin(Dwfl *d)
{
	__typeof__(&dwfl_report_begin) f = REAL_DW(dwfl_report_begin, "ELFUTILS_0.122");
	if (f)
		f(d);
}

void dwfl_report_begin_add(Dwfl *d)
{
	__typeof__(&dwfl_report_begin_add) f = REAL_DW(dwfl_report_begin_add, "ELFUTILS_0.127");
	if (f)
		f(d);
}
