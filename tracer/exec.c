/*
 * Exec wrappers: a process image that execs ends its part of a tree capture
 * first (its destructors never run), and the new image finds the tree in
 * its environment.
 *
 * On top, with init.c: it calls the capture layer. Workload: a few execs a
 * process at most (shells, make, wrappers like timeout and env).
 *
 * glibc's exec functions call each other internally (execvp -> __execve)
 * without the PLT, so every entry point is wrapped: execve, execv, execvp,
 * execvpe, fexecve, and the variadic execl, execlp, execle (which build an
 * argv and call the matching real vector call). A failed exec starts a new
 * part, so the rest of the image's life is still recorded.
 *
 * The environment: calls that take an envp get CPROF_TRACE_FILE and
 * CPROF_TRACE_TREE added when the program passed an environment without
 * them (env -i, programs building their own), so the tree is followed
 * whatever wrappers stand between; the array is built on the stack, no
 * allocation (an exec may run in a vfork child). During a tree capture,
 * LD_PRELOAD is added the same way when the program dropped it and this
 * library was preloaded. The same for CPROF_TRACE_REMOTE (a remote tree
 * capture's coordinator, capture/remote.c): exec'd images join its
 * captures, and one in progress ends its part before the exec.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/capture.h"
#include "core/internal.h"
#include "interpose/interpose.h"

extern char **environ;

/* "LD_PRELOAD=..." as this process started, or "" (set by init.c). */
static char env_preload[4200];

void cprof_exec_init(void) CPROF_INTERNAL;
void cprof_exec_init(void)
{
	const char *p = getenv("LD_PRELOAD");
	if (p && strstr(p, "libcproftrace") && strlen(p) + 12 < sizeof env_preload) {
		strcpy(env_preload, "LD_PRELOAD=");
		strcat(env_preload, p);
	}
}

static int has_var(char *const envp[], const char *entry)
{
	size_t n = strcspn(entry, "=") + 1;
	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], entry, n) == 0)
			return 1;
	return 0;
}

static size_t env_count(char *const envp[])
{
	size_t n = 0;
	while (envp && envp[n])
		n++;
	return n;
}

/* Fills out (room for env_count(envp) + 5) with envp plus what the tree
 * needs; returns out, or envp itself when nothing is missing. */
static char *const *tree_envp(char *const envp[], char **out)
{
	/* LD_PRELOAD only for a tree capture: otherwise a program that drops it
	 * for its children means it. */
	const char *add[4] = {cprof_tree_env(0), cprof_tree_env(1), cprof_remote_env(),
			      env_preload[0] && (cprof_tree_env(0) || cprof_remote_env()) ? env_preload : NULL};
	size_t n = env_count(envp), k = 0;
	for (size_t i = 0; i < n; i++)
		out[k++] = envp[i];
	for (int a = 0; a < 4; a++)
		if (add[a] && !has_var(envp, add[a]))
			out[k++] = (char *)add[a];
	out[k] = NULL;
	return k == n ? envp : (char *const *)out;
}

/* Runs one exec: ends the part, execs, restarts a part if the exec failed. */
#define EXEC_WITH_TREE(call)                             \
	do {                                             \
		int ended_ = cprof_tree_before_exec();   \
		int remote_ = cprof_remote_before_exec();\
		int rc_ = call;                          \
		int err_ = errno;                        \
		if (ended_)                              \
			cprof_tree_after_failed_exec();  \
		if (remote_)                             \
			cprof_remote_after_failed_exec();\
		errno = err_;                            \
		return rc_;                              \
	} while (0)

CPROF_API int execve(const char *path, char *const argv[], char *const envp[])
{
	char *env[env_count(envp) + 5];
	char *const *e = tree_envp(envp, env);
	EXEC_WITH_TREE(REAL(execve)(path, argv, e));
}

CPROF_API int execvpe(const char *file, char *const argv[], char *const envp[])
{
	char *env[env_count(envp) + 5];
	char *const *e = tree_envp(envp, env);
	EXEC_WITH_TREE(REAL(execvpe)(file, argv, e));
}

CPROF_API int fexecve(int fd, char *const argv[], char *const envp[])
{
	char *env[env_count(envp) + 5];
	char *const *e = tree_envp(envp, env);
	EXEC_WITH_TREE(REAL(fexecve)(fd, argv, e));
}

CPROF_API int execv(const char *path, char *const argv[])
{
	char *env[env_count(environ) + 5];
	char *const *e = tree_envp(environ, env);
	EXEC_WITH_TREE(e == environ ? REAL(execv)(path, argv) : REAL(execve)(path, argv, e));
}

CPROF_API int execvp(const char *file, char *const argv[])
{
	char *env[env_count(environ) + 5];
	char *const *e = tree_envp(environ, env);
	EXEC_WITH_TREE(e == environ ? REAL(execvp)(file, argv) : REAL(execvpe)(file, argv, e));
}

/* The variadic calls: argv from the arguments (bounded like the kernel's
 * own limit on argument count), on the stack. */
#define ARGV_FROM_VA(first, ap, argv, extra)                         \
	size_t n_ = 1;                                               \
	va_list c_;                                                  \
	va_copy(c_, ap);                                             \
	while (va_arg(c_, char *))                                   \
		n_++;                                                \
	va_end(c_);                                                  \
	if (n_ > 1u << 17) {                                         \
		va_end(ap);                                          \
		errno = E2BIG;                                       \
		return -1;                                           \
	}                                                            \
	char *argv[n_ + 1];                                          \
	argv[0] = (char *)(first);                                   \
	for (size_t i_ = 1; i_ <= n_; i_++)                          \
		argv[i_] = i_ < n_ ? va_arg(ap, char *) : NULL;      \
	if (extra)                                                   \
		(void)va_arg(ap, char *); /* the NULL before envp */ \
	(void)0

CPROF_API int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	ARGV_FROM_VA(arg, ap, argv, 0);
	va_end(ap);
	return execv(path, argv);
}

CPROF_API int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	ARGV_FROM_VA(arg, ap, argv, 0);
	va_end(ap);
	return execvp(file, argv);
}

CPROF_API int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	ARGV_FROM_VA(arg, ap, argv, 1);
	char *const *envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, argv, envp);
}
