/*
 * cprof-stacks: the helper behind /debug/pprof/goroutine?debug=2. The
 * tracer spawns it (posix_spawn: nothing but exec runs in the forked
 * child, so no lock the program held at fork time can hang it) with an
 * empty environment (no LD_PRELOAD: the helper is not traced).
 *
 *   cprof-stacks PID OUT_FD GO_FD DEBUG
 *
 * Waits for one byte on GO_FD (the parent has allowed it to ptrace it),
 * attaches to every thread of PID with elfutils' libdwfl, unwinds,
 * detaches, and writes "T tid\n<frames>\n" per thread, or "E why\n", to
 * OUT_FD. A ptrace stop is visible to the program: see README (some calls,
 * epoll_wait among them, return EINTR after one).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <elfutils/libdwfl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct frames_ctx {
	int fd;    /* the pipe */
	int debug; /* 2: with file:line */
	int n;
};

static void put(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof buf - 1)
		n = sizeof buf - 1;
	for (ssize_t off = 0, k; off < n; off += k)
		if ((k = write(fd, buf + off, (size_t)(n - off))) <= 0)
			return;
}

static int frame_cb(Dwfl_Frame *frame, void *arg)
{
	struct frames_ctx *c = arg;
	Dwarf_Addr pc;
	bool activation;
	if (!dwfl_frame_pc(frame, &pc, &activation))
		return DWARF_CB_ABORT;
	Dwarf_Addr at = activation ? pc : pc - 1;
	Dwfl_Module *m = dwfl_addrmodule(dwfl_thread_dwfl(dwfl_frame_thread(frame)), at);
	const char *fn = m ? dwfl_module_addrname(m, at) : NULL;
	const char *mod = m ? dwfl_module_info(m, NULL, NULL, NULL, NULL, NULL, NULL, NULL) : NULL;
	put(c->fd, "%s()\n", fn ? fn : "?");
	Dwfl_Line *line = c->debug >= 2 && m ? dwfl_module_getsrc(m, at) : NULL;
	int lineno = 0;
	const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
	if (file)
		put(c->fd, "\t%s:%d pc=%#llx\n", file, lineno, (unsigned long long)pc);
	else
		put(c->fd, "\t%s pc=%#llx\n", mod ? mod : "?", (unsigned long long)pc);
	return ++c->n >= 64 ? DWARF_CB_ABORT : DWARF_CB_OK;
}

/* Local build-id debug info only: never debuginfod (see symbolize.c). */
static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = dwfl_build_id_find_debuginfo,
};

int main(int argc, char **argv)
{
	if (argc != 5)
		return 2;
	pid_t target = (pid_t)atoi(argv[1]);
	int fd = atoi(argv[2]), go = atoi(argv[3]), debug = atoi(argv[4]);
	char c;
	if (target <= 0 || read(go, &c, 1) != 1) /* the parent allowed us to trace it */
		return 1;
	Dwfl *dwfl = dwfl_begin(&callbacks);
	if (!dwfl || dwfl_linux_proc_report(dwfl, target) || dwfl_report_end(dwfl, NULL, NULL)) {
		put(fd, "E cannot read the process's modules\n");
		return 0;
	}
	int rc = dwfl_linux_proc_attach(dwfl, target, false);
	if (rc) {
		put(fd, "E ptrace: %s\n", rc > 0 ? strerror(rc) : dwfl_errmsg(-1));
		return 0;
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)target);
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid <= 0)
			continue;
		put(fd, "T %d\n", (int)tid);
		struct frames_ctx fc = {fd, debug, 0};
		if (dwfl_getthread_frames(dwfl, tid, frame_cb, &fc) != 0 && fc.n == 0)
			put(fd, "?()\n\t(stack unavailable: %s)\n", dwfl_errmsg(-1));
	}
	if (d)
		closedir(d);
	dwfl_end(dwfl); /* detaches */
	return 0;
}
