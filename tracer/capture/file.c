/*
 * File captures: cprof_trace_start_file() / cprof_trace_stop(), and the
 * whole-run CPROF_TRACE_FILE capture built on them. The two calls pair with
 * each other only: stop ends the file capture it started, never a capture
 * another owner (the HTTP endpoint) runs.
 *
 * The file is always a fresh one: created O_EXCL (so never through a
 * symlink, never a file someone else prepared) with mode 0600 next to the
 * path, and renamed onto the path once the capture has started. An
 * existing path owned by another user is refused; a refused start leaves
 * nothing behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/session.h"

static pthread_mutex_t file_lock = PTHREAD_MUTEX_INITIALIZER;
static cprof_capture_handle file_handle; /* under file_lock; 0: no file capture */
static int file_fd = -1;                 /* the sink's fd (owned by the capture) */

/* Expands "%p" to the pid; returns -ENAMETOOLONG when out does not fit. */
static int expand_path(const char *path, char *out, size_t cap)
{
	size_t o = 0;
	for (const char *s = path; *s; s++) {
		int n = 1;
		if (s[0] == '%' && s[1] == 'p') {
			n = snprintf(out + o, cap - o, "%d", (int)getpid());
			s++;
		} else if (o + 1 < cap) {
			out[o] = *s;
		}
		if (n < 0 || o + (size_t)n + 1 >= cap)
			return -ENAMETOOLONG;
		o += (size_t)n;
	}
	out[o] = 0;
	return o ? 0 : -EINVAL;
}

/* Refuses a path we must not replace: someone else's file, a directory. */
static int check_target(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (st.st_uid != geteuid())
		return -EPERM;
	return 0;
}

static int start_file(const char *path)
{
	char target[4096], tmp[4096 + 8];
	int rc = expand_path(path, target, sizeof target - 8);
	if (rc)
		return rc;
	if ((rc = check_target(target)))
		return rc;
	snprintf(tmp, sizeof tmp, "%s.XXXXXX", target);
	int fd = mkostemp(tmp, O_CLOEXEC); /* O_EXCL, mode 0600 */
	if (fd < 0)
		return -errno;
	file_fd = fd;
	struct capture_spec spec = {.sink = trace_sink_fd, .ctx = &file_fd, .background = 1, .fd = fd};
	rc = cprof_capture_begin(&spec, &file_handle);
	if (rc == 0 && rename(tmp, target) != 0) {
		rc = -errno;
		cprof_capture_end(file_handle); /* closes fd */
		file_handle = 0;
		fd = -1;
	}
	if (rc) {
		unlink(tmp);
		if (fd >= 0)
			close(fd);
		file_fd = -1;
	}
	return rc;
}

CPROF_API int cprof_trace_start_file(const char *path)
{
	if (!path)
		return -EINVAL;
	cprof_me()->busy++; /* the tracer's own open, create, lock: not the program's */
	pthread_mutex_lock(&file_lock);
	int rc = file_handle ? -EBUSY : start_file(path);
	pthread_mutex_unlock(&file_lock);
	cprof_me()->busy--;
	return rc;
}

CPROF_API int cprof_trace_stop(void)
{
	cprof_me()->busy++;
	pthread_mutex_lock(&file_lock);
	int rc = -ENOENT;
	if (file_handle) {
		rc = cprof_capture_end(file_handle);
		file_handle = 0;
		file_fd = -1;
	}
	pthread_mutex_unlock(&file_lock);
	cprof_me()->busy--;
	return rc;
}

/* A forked child has no capture: its handle is stale, the fd the parent's. */
void file_after_fork_child(void)
{
	pthread_mutex_init(&file_lock, NULL);
	file_handle = 0;
	file_fd = -1;
}
