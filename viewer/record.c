/*
 * `cprof-trace record [flags] [--] COMMAND [ARGS...]`: runs COMMAND with
 * libcproftrace preloaded and a whole-run capture, like `perf record` or
 * `uftrace record`. One run of a command, so nothing here is hot.
 *
 * The library is found relative to this executable (/proc/self/exe): the
 * installed layout's bindir-to-libdir path (CPROF_BIN_TO_LIB, from CMake),
 * then the build tree's ../tracer, so a moved install tree still works.
 *
 * Processes: COMMAND often is, or starts, other programs (`sh -c ./app`,
 * make). CPROF_TRACE_FILE follows the whole tree (fork and exec) into one
 * file of per-process parts, so record names one file, in a private
 * directory beside FILE, and moves it to FILE when COMMAND exits: FILE is
 * never replaced without -f, and a command that never loaded the library
 * leaves no stale FILE behind.
 *
 * Signals: those sent to record (kill, not the terminal) are passed to
 * COMMAND; those the terminal sends (Ctrl-C: SI_KERNEL) already reach
 * COMMAND, which is in the same process group, and are not sent twice.
 * record waits for COMMAND, then exits with its status or, when COMMAND died
 * of a signal, dies of the same signal (without a core dump of its own).
 */
#define _GNU_SOURCE /* pipe2 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cprof/trace.h"
#include "trace_reader.h"

#ifndef CPROF_BIN_TO_LIB
#define CPROF_BIN_TO_LIB "../lib"
#endif

#define RECORD_FAILED 125 /* record's own failure, as env(1) and timeout(1) */

static volatile sig_atomic_t child_pid; /* 0 until forked; 0 in the child */

/* Async-signal-safe: kill() only. */
static void forward(int sig, siginfo_t *info, void *uctx)
{
	(void)uctx;
	if (info && info->si_code == SI_KERNEL)
		return; /* from the terminal: the process group, COMMAND included, got it */
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM};

/* The library for LD_PRELOAD: 0 and path set, or -1. */
static int find_library(char *path, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return -1;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = 0;
	const char *dirs[] = {CPROF_BIN_TO_LIB, "../tracer"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		char cand[PATH_MAX];
		int len = snprintf(cand, sizeof cand, "%s/%s/libcproftrace.so.%d", exe, dirs[i], CPROF_TRACE_ABI);
		if (len > 0 && (size_t)len < sizeof cand && access(cand, R_OK) == 0 && realpath(cand, path) && strlen(path) < cap)
			return 0;
	}
	return -1;
}

static const struct cli_flag *lookup(const char *name, size_t len)
{
	for (const struct cli_flag *t = cli_record_flags; t->name; t++)
		if (strlen(t->name) == len && strncmp(t->name, name, len) == 0)
			return t;
	return NULL;
}

/* Checks a flag's value the way the library will read it, so that a typo
 * fails here once rather than warning in every process of the tree.
 * Returns NULL or what the value should look like. */
static const char *bad_value(const char *flag, const char *val)
{
	size_t digits = strspn(val, "0123456789");
	if (strcmp(flag, "buffer") == 0)
		return digits && (!val[digits] || (strchr("kKmMgG", val[digits]) && !val[digits + 1]))
			       ? NULL : "bytes, e.g. 4m (suffix k, m or g)";
	if (strcmp(flag, "cpu-hz") == 0)
		return digits && !val[digits] && digits <= 4 && strtoul(val, NULL, 10) <= 1000 ? NULL : "0..1000";
	if (strcmp(flag, "min-block") == 0 || strcmp(flag, "drain-ms") == 0)
		return digits && !val[digits] ? NULL : "a whole number";
	if (strcmp(flag, "max-seconds") == 0) {
		char *end;
		double v = strtod(val, &end);
		return end != val && !*end && v > 0 ? NULL : "seconds, greater than 0";
	}
	if (strcmp(flag, "sched") == 0)
		return strcmp(val, "perf") && strcmp(val, "schedstat") && strcmp(val, "off") ? "perf, schedstat or off" : NULL;
	if (strcmp(flag, "clock") == 0)
		return strcmp(val, "monotonic") == 0 ? NULL : "monotonic";
	return NULL;
}

/* Renames from to to, refusing to replace an existing file unless force. */
static int move_file(const char *from, const char *to, int force)
{
	if (force)
		return rename(from, to);
	if (link(from, to))
		return -1;
	unlink(from);
	return 0;
}

/* argv[0] of the trace's first process, from its header. */
static void trace_name(const char *path, char *out, size_t cap)
{
	struct trace_reader r;
	snprintf(out, cap, "?");
	if (trace_reader_open_file(&r, path) == 0 && r.header.cmdline_len)
		snprintf(out, cap, "%.*s", (int)strnlen(r.header.cmdline, r.header.cmdline_len), r.header.cmdline);
	trace_reader_close(&r);
}

/* Moves dir/cprof.trace (the whole tree's file) to file and empties dir
 * (a capture that never started may leave the library's temporary file).
 * Returns 0, or -1 when there was no trace or it could not be moved. */
static int collect(const char *dir, const char *file, int force, int quiet)
{
	char from[PATH_MAX];
	snprintf(from, sizeof from, "%s/cprof.trace", dir);
	struct stat st;
	int rc = 0;
	if (stat(from, &st) != 0) {
		fprintf(stderr, "cprof-trace: no trace was written: the command did not load libcproftrace "
				"(a static or setuid program ignores LD_PRELOAD)\n");
		rc = -1;
	} else {
		char name[64];
		trace_name(from, name, sizeof name);
		if (move_file(from, file, force)) {
			fprintf(stderr, "cprof-trace: cannot move the trace to %s: %s%s (left in %s)\n", file,
				strerror(errno), errno == EEXIST ? ", -f overwrites" : "", from);
			return -1; /* and keep dir, which holds it */
		}
		if (!quiet)
			fprintf(stderr, "cprof-trace: trace of %s and the processes it started (%lld bytes) written to %s\n"
					"cprof-trace: open it with: cprof-trace %s   (or -report=threads, -h for more)\n",
				name, (long long)st.st_size, file, file);
	}
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char p[PATH_MAX];
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p)
			unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	return rc;
}

int viewer_record(int argc, char **argv)
{
	const char *file = "cprof.trace", *serve = NULL, *file_flag = NULL;
	int force = 0, quiet = 0, i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || !a[1])
			break; /* COMMAND */
		const char *name = a + 1 + (a[1] == '-');
		size_t len = strcspn(name, "=");
		const struct cli_flag *f = lookup(name, len);
		if (strcmp(name, "help") == 0)
			f = lookup("h", 1);
		if (!f) {
			cli_unknown_flag(a, cli_record_flags);
			return RECORD_FAILED;
		}
		const char *val = NULL;
		if (f->arg) {
			if (name[len] == '=')
				val = name + len + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			if (!val || !*val) {
				fprintf(stderr, "cprof-trace: record: -%s needs a value (-%s %s)\n", f->name, f->name, f->arg);
				return RECORD_FAILED;
			}
		} else if (name[len] == '=') {
			fprintf(stderr, "cprof-trace: record: -%s takes no value\n", f->name);
			return RECORD_FAILED;
		}
		const char *want = val ? bad_value(f->name, val) : NULL;
		if (want) {
			fprintf(stderr, "cprof-trace: record: -%s %s: want %s\n", f->name, val, want);
			return RECORD_FAILED;
		}
		if (strcmp(f->name, "h") == 0) {
			cli_record_usage(stdout);
			return 0;
		} else if (strcmp(f->name, "o") == 0) {
			file = file_flag = val;
		} else if (strcmp(f->name, "f") == 0) {
			force = 1;
		} else if (strcmp(f->name, "q") == 0) {
			quiet = 1;
		} else if (strcmp(f->name, "serve") == 0) {
			serve = val;
		}
		if (f->env && setenv(f->env, val ? val : f->env_value, 1)) {
			perror("cprof-trace: setenv");
			return RECORD_FAILED;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "cprof-trace: record: no command given\n");
		cli_record_usage(stderr);
		return RECORD_FAILED;
	}
	char **command = argv + i;
	if (serve && file_flag) {
		fprintf(stderr, "cprof-trace: record: -serve writes no file (fetch /debug/pprof/trace); drop -o\n");
		return RECORD_FAILED;
	}

	char lib[PATH_MAX];
	if (find_library(lib, sizeof lib)) {
		fprintf(stderr, "cprof-trace: record: libcproftrace.so.%d not found in %s or ../tracer beside "
				"this executable\n", CPROF_TRACE_ABI, CPROF_BIN_TO_LIB);
		return RECORD_FAILED;
	}
	if (strpbrk(lib, " :")) { /* LD_PRELOAD's separators */
		fprintf(stderr, "cprof-trace: record: the library's path %s contains a space or ':'\n", lib);
		return RECORD_FAILED;
	}
	const char *old = getenv("LD_PRELOAD");
	char preload[2 * PATH_MAX];
	snprintf(preload, sizeof preload, "%s%s%s", lib, old && *old ? " " : "", old ? old : "");

	char dir[PATH_MAX] = "";
	if (serve) {
		unsetenv("CPROF_TRACE_FILE");
	} else {
		struct stat st;
		int exists = lstat(file, &st) == 0;
		if (exists && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
			/* the trace is renamed onto FILE: never onto a device
			 * (as root, -o /dev/null would replace the device node) */
			fprintf(stderr, "cprof-trace: record: %s is not a regular file; -o names the trace file to write\n",
				file);
			return RECORD_FAILED;
		}
		if (!force && exists) {
			fprintf(stderr, "cprof-trace: record: %s exists; -f overwrites it, -o writes elsewhere\n", file);
			return RECORD_FAILED;
		}
		/* the private directory beside file, so the traces are moved, not copied */
		char parent[PATH_MAX], abs_parent[PATH_MAX];
		snprintf(parent, sizeof parent, "%s", file);
		char *slash = strrchr(parent, '/');
		if (slash == parent)
			parent[1] = 0;
		else if (slash)
			*slash = 0;
		else
			snprintf(parent, sizeof parent, ".");
		if (!realpath(parent, abs_parent)) {
			fprintf(stderr, "cprof-trace: record: %s: %s\n", parent, strerror(errno));
			return RECORD_FAILED;
		}
		int len = snprintf(dir, sizeof dir, "%s/.cprof-record.XXXXXX", strcmp(abs_parent, "/") ? abs_parent : "");
		if (len < 0 || (size_t)len >= sizeof dir || !mkdtemp(dir)) {
			fprintf(stderr, "cprof-trace: record: cannot create a directory in %s: %s\n", abs_parent,
				strerror(errno));
			return RECORD_FAILED;
		}
		char path[PATH_MAX + 16];
		snprintf(path, sizeof path, "%s/cprof.trace", dir);
		setenv("CPROF_TRACE_FILE", path, 1);
		unsetenv("CPROF_TRACE_TREE"); /* a tree of our own, not one record itself runs in */
	}
	setenv("LD_PRELOAD", preload, 1);
	size_t slen = serve ? strlen(serve) : 0;
	if (serve && !quiet && strncmp(serve, "unix:", 5) != 0 && !(slen > 2 && strcmp(serve + slen - 2, ":0") == 0))
		fprintf(stderr, "cprof-trace: %s serves /debug/pprof/ on %s while it runs; e.g.\n"
				"  wget -O cprof.trace 'http://%s/debug/pprof/trace?seconds=5' && cprof-trace cprof.trace\n",
			command[0], serve, serve);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t k = 0; k < sizeof forwarded / sizeof forwarded[0]; k++)
		sigaction(forwarded[k], &sa, NULL);

	/* blocked until child_pid is set, so none arrives unforwarded */
	sigset_t fwd, old_mask;
	sigemptyset(&fwd);
	for (size_t k = 0; k < sizeof forwarded / sizeof forwarded[0]; k++)
		sigaddset(&fwd, forwarded[k]);
	sigprocmask(SIG_BLOCK, &fwd, &old_mask);
	/* the child reports a failed exec through a close-on-exec pipe */
	int exec_pipe[2] = {-1, -1};
	fflush(NULL);
	pid_t pid = pipe2(exec_pipe, O_CLOEXEC) == 0 ? fork() : -1;
	if (pid < 0) {
		perror("cprof-trace: record: fork");
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
		if (*dir)
			rmdir(dir);
		return RECORD_FAILED;
	}
	if (pid == 0) {
		/* exec resets the handlers and keeps the mask: restore it first
		 * (a pending signal then runs forward() with child_pid 0: no-op) */
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
		close(exec_pipe[0]);
		execvp(command[0], command);
		int err = errno;
		ssize_t w = write(exec_pipe[1], &err, sizeof err);
		(void)w;
		_exit(err == ENOENT ? 127 : 126);
	}
	child_pid = pid;
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	close(exec_pipe[1]);
	int exec_err = 0;
	ssize_t got;
	while ((got = read(exec_pipe[0], &exec_err, sizeof exec_err)) < 0 && errno == EINTR)
		;
	close(exec_pipe[0]);
	if (got == (ssize_t)sizeof exec_err) {
		fprintf(stderr, "cprof-trace: record: cannot run %s: %s\n", command[0], strerror(exec_err));
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (*dir)
			rmdir(dir);
		return exec_err == ENOENT ? 127 : 126;
	}

	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			perror("cprof-trace: record: waitpid");
			status = RECORD_FAILED << 8;
			break;
		}
	}
	child_pid = 0;
	/* trace problems are reported, but the status stays COMMAND's */
	if (*dir)
		collect(dir, file, force, quiet);
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		if (!quiet)
			fprintf(stderr, "cprof-trace: %s was killed by signal %d (%s)\n", command[0], sig, strsignal(sig));
		fflush(NULL);
		struct rlimit no_core = {0, 0};
		setrlimit(RLIMIT_CORE, &no_core);
		signal(sig, SIG_DFL);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(sig);
		return 128 + sig; /* a signal that does not kill (SIGCHLD...) */
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : RECORD_FAILED;
}
