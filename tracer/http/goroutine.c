/*
 * /debug/pprof/goroutine for C: every live thread with its name, state and
 * kernel wait channel; with debug=2, its current stack.
 *
 * debug=1 reads /proc only: no thread is stopped, the program cannot
 * notice. debug=2 reads stacks the way debuggers do: the cprof-stacks
 * helper (stacks_helper.c, spawned: nothing but exec runs in the forked
 * child) attaches to each thread with ptrace, unwinds, detaches, and
 * writes the report into a pipe. No signal handler runs, but a ptrace stop
 * is not invisible: calls the kernel does not restart after a stop
 * (epoll_wait, epoll_pwait, semop, semtimedop, sigtimedwait, sigwaitinfo,
 * socket calls with SO_RCVTIMEO/SO_SNDTIMEO; see signal(7), "Interruption
 * of system calls by stop signals") return EINTR. When ptrace is refused
 * (a non-dumpable process, a seccomp policy), the dump says so and still
 * lists the threads. Runs on an HTTP thread (tracer-owned: never traced).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
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

/* ---- the helper: tracer/http/stacks_helper.c, spawned ---- */

/* The helper's path: $CPROF_TRACE_HELPER, else next to this library (the
 * build tree), else ../libexec/cprof-trace/ from it (installed). Read once
 * at load; NULL when absent. */
static char helper_path[4096];
static pthread_once_t helper_once = PTHREAD_ONCE_INIT;

static void find_helper(void)
{
	const char *env = getenv("CPROF_TRACE_HELPER");
	if (env && *env) {
		snprintf(helper_path, sizeof helper_path, "%s", env);
		return;
	}
	Dl_info info;
	if (!dladdr((void *)find_helper, &info) || !info.dli_fname)
		return;
	char dir[4000];
	snprintf(dir, sizeof dir, "%s", info.dli_fname);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		snprintf(dir, sizeof dir, ".");
	snprintf(helper_path, sizeof helper_path, "%s/cprof-stacks", dir);
	if (access(helper_path, X_OK) == 0)
		return;
	snprintf(helper_path, sizeof helper_path, "%s/../libexec/cprof-trace/cprof-stacks", dir);
	if (access(helper_path, X_OK) != 0)
		helper_path[0] = 0;
}

void cprof_threads_dump_init(void)
{
	pthread_once(&helper_once, find_helper);
}

/* A pipe at fds >= 64 (close-on-exec): they cannot collide with the
 * child's 3 and 4 below, nor take the low numbers the program expects. */
static int pipe_high(int fds[2])
{
	int p[2];
	if (pipe2(p, O_CLOEXEC))
		return -1;
	for (int i = 0; i < 2; i++) {
		fds[i] = fcntl(p[i], F_DUPFD_CLOEXEC, 64);
		close(p[i]);
	}
	if (fds[0] < 0 || fds[1] < 0) {
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		return -1;
	}
	return 0;
}

/* Runs the helper; returns its report (malloc'd) or NULL. Nothing of the
 * program's runs in the child: posix_spawn only execs (glibc: clone with
 * CLONE_VFORK), so locks held at fork time cannot hang it. */
static char *collect_stacks(int debug)
{
	cprof_threads_dump_init();
	if (!helper_path[0])
		return strdup("E the cprof-stacks helper was not found (set CPROF_TRACE_HELPER)\n");
	int out[2], go[2];
	if (pipe_high(out))
		return NULL;
	if (pipe_high(go)) {
		close(out[0]);
		close(out[1]);
		return NULL;
	}
	/* The child's ends at fixed numbers 3 and 4 (dup2 clears CLOEXEC). */
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out[1], 3);
	posix_spawn_file_actions_adddup2(&fa, go[0], 4);
	char pid_s[16], debug_s[12];
	snprintf(pid_s, sizeof pid_s, "%d", (int)getpid());
	snprintf(debug_s, sizeof debug_s, "%d", debug);
	char *argv[] = {(char *)"cprof-stacks", pid_s, (char *)"3", (char *)"4", debug_s, NULL};
	char *envp[] = {NULL}; /* no LD_PRELOAD, no CPROF_TRACE_*: the helper is not traced */
	pid_t child;
	int rc = posix_spawn(&child, helper_path, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	close(go[0]);
	if (rc) {
		close(out[0]);
		close(go[1]);
		char msg[600];
		snprintf(msg, sizeof msg, "E cannot run %.500s: %s\n", helper_path, strerror(rc));
		return strdup(msg);
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
	/* debug=1 stops no thread (invisible to the program); debug=2 adds
	 * stacks, read by ptrace, which some blocking calls notice (EINTR) */
	char *report = debug >= 2 ? collect_stacks(debug) : NULL;
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
	if (debug < 2)
		text_add(o, "# no thread was stopped; stacks: debug=2 (stops each thread briefly: epoll_wait and a "
			    "few other calls may then fail with EINTR)\n");
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
