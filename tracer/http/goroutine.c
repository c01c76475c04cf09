/*
 * /debug/pprof/goroutine for C: every live thread with its name, state and
 * current stack.
 *
 * Stacks of other threads are read the way debuggers read them: a forked
 * helper attaches to each thread with ptrace (elfutils' libdwfl), unwinds,
 * detaches, and writes the report into a pipe. A ptrace stop is transparent
 * to the program: an interrupted system call restarts without EINTR (no
 * handler runs), unlike a signal-based sampler. When ptrace is refused (a
 * non-dumpable process, a seccomp policy), the dump says so and still lists
 * the threads. Runs on an HTTP thread (tracer-owned: never traced).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "stacks/stack.h"
#include "core/text.h"
#include "http/http.h"

/* A small /proc file's first line into buf ("" when unreadable). */
static void read_line(const char *path, char *buf, size_t cap)
{
	cprof_read_small(path, buf, cap);
	buf[strcspn(buf, "\n")] = 0;
}

/* ---- the helper (runs in the forked child) ---- */

struct frames_ctx {
	int fd;     /* the pipe */
	int debug;  /* 2: with file:line */
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

static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = cprof_find_debuginfo_local, /* never debuginfod (symbolize.c) */
};

/* Writes "T tid\n<frames>\n" per thread, or "E why\n". Never returns. */
static void helper(pid_t target, int fd, int go, int debug)
{
	char c;
	if (read(go, &c, 1) != 1) /* the parent allowed us to trace it */
		_exit(1);
	Dwfl *dwfl = dwfl_begin(&callbacks);
	if (!dwfl || dwfl_linux_proc_report(dwfl, target) || dwfl_report_end(dwfl, NULL, NULL)) {
		put(fd, "E cannot read the process's modules\n");
		_exit(0);
	}
	int rc = dwfl_linux_proc_attach(dwfl, target, false);
	if (rc) {
		put(fd, "E ptrace: %s\n", rc > 0 ? strerror(rc) : dwfl_errmsg(-1));
		_exit(0);
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
	_exit(0);
}

/* Runs the helper; returns its report (malloc'd) or NULL. */
static char *collect_stacks(int debug)
{
	int out[2], go[2];
	if (pipe2(out, O_CLOEXEC) || pipe2(go, O_CLOEXEC))
		return NULL;
	pid_t self = getpid();
	pid_t child = fork();
	if (child == 0) {
		close(out[0]);
		close(go[1]);
		helper(self, out[1], go[0], debug);
	}
	close(out[1]);
	close(go[0]);
	if (child < 0) {
		close(out[0]);
		close(go[1]);
		return NULL;
	}
	prctl(PR_SET_PTRACER, child, 0, 0, 0); /* Yama: only this helper may attach */
	if (write(go[1], "g", 1) != 1) {
	}
	close(go[1]);
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = {out[0], POLLIN, 0};
		if (poll(&p, 1, 1000) <= 0) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - start.tv_sec > 10) { /* never hang the endpoint */
				kill(child, SIGKILL);
				break;
			}
			continue;
		}
		if (buf && len + 4096 > cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		ssize_t n = buf ? read(out[0], buf + len, cap - len - 1) : -1;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(out[0]);
	waitpid(child, NULL, 0);
	prctl(PR_SET_PTRACER, 0, 0, 0, 0);
	if (buf)
		buf[len] = 0;
	return buf;
}

char *cprof_threads_report(void)
{
	return collect_stacks(1);
}

/* The frames the helper reported for tid, or NULL. */
static const char *stack_of(const char *report, int tid, size_t *len)
{
	char key[32];
	int k = snprintf(key, sizeof key, "T %d\n", tid);
	const char *p = report;
	while (p && (p = strstr(p, key))) {
		if (p == report || p[-1] == '\n') {
			p += k;
			const char *end = strstr(p, "\nT ");
			*len = end ? (size_t)(end - p) + 1 : strlen(p);
			return p;
		}
		p += k;
	}
	return NULL;
}

void cprof_threads_dump(struct text *o, int debug)
{
	char *report = collect_stacks(debug);
	int ntasks = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d && (e = readdir(d)))
		ntasks += atoi(e->d_name) > 0;
	if (d)
		rewinddir(d);
	text_add(o, "goroutine profile: total %d (threads)\n", ntasks);
	if (report && report[0] == 'E')
		text_add(o, "# stacks unavailable: %s", report + 2);
	text_add(o, "\n");
	while (d && (e = readdir(d))) {
		int tid = atoi(e->d_name);
		if (tid <= 0)
			continue;
		char path[96], comm[64], stat[512], wchan[64];
		snprintf(path, sizeof path, "/proc/self/task/%d/comm", tid);
		read_line(path, comm, sizeof comm);
		snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
		read_line(path, stat, sizeof stat);
		snprintf(path, sizeof path, "/proc/self/task/%d/wchan", tid);
		read_line(path, wchan, sizeof wchan);
		const char *rp = strrchr(stat, ')'); /* state follows the (comm) */
		char state = rp && rp[1] == ' ' ? rp[2] : '?';
		const char *what = state == 'R' ? "running" : state == 'S' ? "sleeping" : state == 'D' ? "disk wait"
				 : state == 'T' || state == 't' ? "stopped" : "other";
		text_add(o, "thread %d [%s, %s%s%s]:\n", tid, comm, what, wchan[0] && strcmp(wchan, "0") ? " in " : "",
		    wchan[0] && strcmp(wchan, "0") ? wchan : "");
		size_t sl = 0;
		const char *frames = report ? stack_of(report, tid, &sl) : NULL;
		if (frames)
			text_add(o, "%.*s", (int)sl, frames);
		text_add(o, "\n");
	}
	if (d)
		closedir(d);
	free(report);
}
