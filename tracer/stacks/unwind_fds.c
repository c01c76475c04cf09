/*
 * libunwind's file descriptors, kept away from the program's.
 *
 * libunwind (x86_64, 1.6+) validates addresses during frame-chain unwinding
 * by writing them into a pipe it opens once and caches (Ginit.c:
 * write_validate). When the program closes every descriptor (daemons call
 * close_range(3, ~0)) and opens its own file at the same number, the next
 * validation reads the program's fd, finds it "stale", close()s it and
 * writes a byte of memory into whatever now has the other number: the
 * program's data is lost.
 *
 * So libunwind's calls to pipe2, read, close and syscall (its write) are
 * redirected, by rewriting its own GOT entries at start-up (before its
 * first unwind), to the guards below: its pipe lives at fds >= 512 whose
 * identity (device, inode, access mode) we record, and on those two
 * numbers it may read, write or close only while they still are that pipe
 * (checked with fstat and F_GETFL). Otherwise the call fails with EBADF
 * (close: does nothing) and the fd is left alone; libunwind then opens a
 * new pipe (through the guard again). Calls on any other fd (libunwind's
 * own files) pass through unchanged. The guards use raw system calls: no
 * libc wrapper (ours, a sanitizer's) sees them.
 *
 * A window remains between the identity check and the call, if another
 * thread of the program closes that fd and reopens the number meanwhile.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stacks/stack.h"

#define HIGH_FD 512

/* The pipe libunwind owns: [0] read end, [1] write end; -1 none. Written
 * only inside guard_pipe2/guard_close, which libunwind calls under its own
 * initialisation or from the unwinding thread; read by the guards. Races
 * between two unwinding threads are libunwind's own (it shares the pipe). */
static int pipe_fd[2] = {-1, -1};
static dev_t pipe_dev;
static ino_t pipe_ino;
static int patched; /* GOT entries rewritten */

/* Nonzero when fd is libunwind's pipe end `end` (0 read, 1 write). */
static int owned(int fd, int end)
{
	struct stat st;
	if (fd < 0 || fd != pipe_fd[end] || syscall(SYS_fstat, fd, &st) != 0)
		return 0;
	long fl = syscall(SYS_fcntl, fd, F_GETFL);
	return S_ISFIFO(st.st_mode) && st.st_dev == pipe_dev && st.st_ino == pipe_ino && fl >= 0 &&
	       (fl & O_ACCMODE) == (end ? O_WRONLY : O_RDONLY);
}

static int guard_pipe2(int fds[2], int flags)
{
	int p[2];
	if (syscall(SYS_pipe2, p, flags) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		long hi = syscall(SYS_fcntl, p[i], F_DUPFD_CLOEXEC, HIGH_FD);
		if (hi >= 0) {
			syscall(SYS_close, p[i]);
			p[i] = (int)hi;
		}
	}
	struct stat st;
	if (syscall(SYS_fstat, p[0], &st) == 0) {
		pipe_dev = st.st_dev;
		pipe_ino = st.st_ino;
	}
	pipe_fd[0] = fds[0] = p[0];
	pipe_fd[1] = fds[1] = p[1];
	return 0;
}

static ssize_t guard_read(int fd, void *buf, size_t n)
{
	if (fd != pipe_fd[0])
		return syscall(SYS_read, fd, buf, n); /* not the pipe: libunwind's own file */
	if (!owned(fd, 0)) {
		errno = EBADF; /* libunwind then opens a new pipe */
		return -1;
	}
	errno = 0; /* libunwind loops while errno == EINTR, whatever read returned */
	long r = syscall(SYS_read, fd, buf, n);
	return r;
}

static int guard_close(int fd)
{
	int end = fd == pipe_fd[0] ? 0 : fd == pipe_fd[1] ? 1 : -1;
	if (end < 0)
		return (int)syscall(SYS_close, fd); /* not the pipe: libunwind's own file */
	if (!owned(fd, end))
		return 0; /* the number is no longer libunwind's pipe: never close it */
	pipe_fd[end] = -1;
	return (int)syscall(SYS_close, fd);
}

static long guard_syscall(long nr, long a, long b, long c, long d, long e, long f)
{
	if (nr == SYS_write && (int)a == pipe_fd[1] && !owned((int)a, 1)) {
		errno = EBADF;
		return -1;
	}
	errno = 0;
	return syscall(nr, a, b, c, d, e, f);
}

static const struct {
	const char *name;
	void *guard;
} guards[] = {
	{"pipe2", (void *)guard_pipe2},
	{"read", (void *)guard_read},
	{"close", (void *)guard_close},
	{"syscall", (void *)guard_syscall},
};

static uintptr_t dyn_ptr(const struct dl_phdr_info *info, uintptr_t p)
{
	/* glibc relocates the dynamic section's pointers in place; others may not */
	return p < info->dlpi_addr ? p + info->dlpi_addr : p;
}

/* Rewrites one object's GOT slots (JUMP_SLOT and GLOB_DAT) of the guarded
 * functions. */
static void patch_object(struct dl_phdr_info *info)
{
	const ElfW(Dyn) *dyn = NULL;
	uintptr_t relro = 0, relro_end = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
		else if (ph->p_type == PT_GNU_RELRO) {
			relro = info->dlpi_addr + ph->p_vaddr;
			relro_end = relro + ph->p_memsz;
		}
	}
	if (!dyn)
		return;
	const ElfW(Sym) *symtab = NULL;
	const char *strtab = NULL;
	const ElfW(Rela) *rel[2] = {NULL, NULL};
	size_t relsz[2] = {0, 0};
	for (; dyn->d_tag != DT_NULL; dyn++) {
		switch (dyn->d_tag) {
		case DT_SYMTAB: symtab = (const ElfW(Sym) *)dyn_ptr(info, dyn->d_un.d_ptr); break;
		case DT_STRTAB: strtab = (const char *)dyn_ptr(info, dyn->d_un.d_ptr); break;
		case DT_JMPREL: rel[0] = (const ElfW(Rela) *)dyn_ptr(info, dyn->d_un.d_ptr); break;
		case DT_PLTRELSZ: relsz[0] = dyn->d_un.d_val; break;
		case DT_RELA: rel[1] = (const ElfW(Rela) *)dyn_ptr(info, dyn->d_un.d_ptr); break;
		case DT_RELASZ: relsz[1] = dyn->d_un.d_val; break;
		}
	}
	if (!symtab || !strtab)
		return;
	long page = sysconf(_SC_PAGESIZE);
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; rel[k] && i < relsz[k] / sizeof(ElfW(Rela)); i++) {
			const ElfW(Rela) *r = &rel[k][i];
			unsigned type = (unsigned)ELF64_R_TYPE(r->r_info);
			if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT)
				continue;
			const char *name = strtab + symtab[ELF64_R_SYM(r->r_info)].st_name;
			for (size_t g = 0; g < sizeof guards / sizeof *guards; g++) {
				if (strcmp(name, guards[g].name) != 0)
					continue;
				uintptr_t slot = info->dlpi_addr + r->r_offset;
				void *pg = (void *)(slot & ~(uintptr_t)(page - 1));
				int ro = slot >= relro && slot < relro_end;
				if (ro && mprotect(pg, (size_t)page, PROT_READ | PROT_WRITE))
					continue;
				__atomic_store_n((void **)slot, guards[g].guard, __ATOMIC_RELEASE);
				if (ro)
					mprotect(pg, (size_t)page, PROT_READ);
				patched = 1;
			}
		}
	}
}

static int each_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size, (void)arg;
	if (info->dlpi_name && strstr(info->dlpi_name, "/libunwind"))
		patch_object(info);
	return 0;
}

int cprof_unwind_fds_guard(void)
{
#if defined(__x86_64__)
	dl_iterate_phdr(each_object, NULL);
#endif
	return patched ? 0 : -ENOENT;
}
