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
 *
 * Tree captures (CPROF_TRACE_FILE, cprof_trace_start_tree): one file for a
 * process and all its descendants. The first process (the root) creates
 * the file as above, writes its header (flag TREE) and exports
 * CPROF_TRACE_FILE=<absolute path> and CPROF_TRACE_TREE=<dev>:<inode>.
 * Every process image of the tree (the root, forked children, exec'd
 * images) then records its own PART stream: it appends whole PART chunks
 * with single write() calls on an O_APPEND descriptor, so processes never
 * interleave inside a chunk and nothing is overwritten. A descendant joins
 * only a file whose device and inode match CPROF_TRACE_TREE and that the
 * same user owns; otherwise it starts a tree of its own. The root rewrites
 * the header's clock rate (measured over its whole life) when it ends.
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

/* The tree capture this process takes part in. */
static struct {
	int on;             /* this process records a part of a tree file */
	int root;           /* it created the file (and rewrites the header's rate) */
	int fd;             /* O_APPEND descriptor on the tree file */
	int patch_fd;       /* root: a descriptor without O_APPEND, for pwrite */
	pid_t pid;          /* whose part this is (a vfork child shares this memory) */
	char path[4096];    /* absolute */
	char env_file[4200];/* "CPROF_TRACE_FILE=<path>", for exec'd images */
	char env_tree[64];  /* "CPROF_TRACE_TREE=<dev>:<ino>" */
} tree = {.fd = -1, .patch_fd = -1};

/* A tree file's header, written once by the process that creates the file
 * (a file capture's first process, or a remote capture's coordinator):
 * the TREE flag, this process's clock with a provisional rate over what
 * history there is (>= 50 us: within ~1e-3; the root rewrites it from its
 * whole life when it ends), the sources its parts record with. Returns 0
 * or the writer's error. */
int capture_write_tree_header(int fd)
{
	char cmdline[CPROF_CMDLINE_MAX]; /* callers under different locks: not static */
	struct cprof_header h = {.flags = CPROF_FLAG_TREE, .pid = (uint32_t)getpid()};
	cprof_clock_header_now(&h, 50000);
	cprof_sched_describe(&h);
	cprof_cpu_describe(&h);
	h.start_ticks = cprof_clock_now();
	h.cmdline_len = cprof_read_cmdline(cmdline, sizeof cmdline);
	h.cmdline = cmdline;
	struct trace_writer w;
	trace_writer_init(&w, trace_sink_fd, &fd);
	trace_writer_header(&w, &h);
	int rc = w.error;
	trace_writer_destroy(&w);
	return rc;
}

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

/* Refuses a path we must not replace: someone else's file, a directory.
 * Returns 0 (a new file is renamed onto the path), 1 (the path is a
 * character device or a FIFO: written in place, never replaced: renaming
 * onto /dev/null as root turned it into a regular file) or -errno
 * (-ENOTSUP: another kind of node). */
static int check_target(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))
		return 1;
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) /* the link itself is replaced */
		return -ENOTSUP;
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
	int in_place = check_target(target);
	if (in_place < 0)
		return in_place;
	int fd;
	if (in_place) {
		fd = open(target, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return -errno;
	} else {
		snprintf(tmp, sizeof tmp, "%s.XXXXXX", target);
		fd = mkostemp(tmp, O_CLOEXEC); /* O_EXCL, mode 0600 */
		if (fd < 0)
			return -errno;
	}
	file_fd = fd;
	struct capture_spec spec = {.sink = trace_sink_fd, .ctx = &file_fd, .background = 1, .fd = fd};
	rc = cprof_capture_begin(&spec, &file_handle);
	if (rc == 0 && !in_place && rename(tmp, target) != 0) {
		rc = -errno;
		cprof_capture_end(file_handle); /* closes fd */
		file_handle = 0;
		fd = -1;
	}
	if (rc) {
		if (!in_place)
			unlink(tmp);
		if (fd >= 0)
			close(fd);
		file_fd = -1;
	}
	return rc;
}

/* ---- tree captures ---- */

static int begin_part(void)
{
	uint64_t stream = cprof_clock_now() | 1; /* unique per image in practice; never 0 */
	struct capture_spec spec = {.sink = trace_sink_fd, .ctx = &tree.fd, .background = 1, .fd = -1,
				    .part_pid = (uint32_t)getpid(), .part_stream = stream};
	int rc = cprof_capture_begin(&spec, &file_handle);
	if (rc)
		file_handle = 0;
	else if (cprof_me()->status == THREAD_NEW)
		/* this image's main thread (or a fork child's only thread) exists
		 * from here: its THREAD_START says so however late it attaches */
		cprof_me()->born = cprof_clock_now(); /* not before the capture's start: older records are skipped */
	return rc;
}

static void tree_env_set(const struct stat *st)
{
	snprintf(tree.env_tree, sizeof tree.env_tree, "CPROF_TRACE_TREE=%llu:%llu", (unsigned long long)st->st_dev,
		 (unsigned long long)st->st_ino);
	snprintf(tree.env_file, sizeof tree.env_file, "CPROF_TRACE_FILE=%s", tree.path);
	setenv("CPROF_TRACE_FILE", tree.path, 1);
	setenv("CPROF_TRACE_TREE", strchr(tree.env_tree, '=') + 1, 1);
}

/* A descendant: opens the file its ancestors write when it is theirs. */
static int join_tree(const char *path, const char *id)
{
	if (path[0] != '/' || strlen(path) >= sizeof tree.path)
		return -EINVAL;
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	struct stat st;
	char have[64] = "";
	if (fstat(fd, &st) == 0)
		snprintf(have, sizeof have, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	if (!*have || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || strcmp(have, id) != 0) {
		close(fd);
		return -ESTALE;
	}
	tree.fd = fd;
	tree.root = 0;
	snprintf(tree.path, sizeof tree.path, "%s", path);
	tree_env_set(&st);
	return 0;
}

/* The root: a fresh file holding the tree's header. */
static int create_tree(const char *path)
{
	char target[4096], abs[4096], tmp[4096 + 8];
	int rc = expand_path(path, target, sizeof target - 8);
	if (rc)
		return rc;
	if (target[0] != '/') {
		char cwd[2048];
		if (!getcwd(cwd, sizeof cwd))
			return -errno;
		if (snprintf(abs, sizeof abs, "%s/%s", cwd, target) >= (int)sizeof abs - 8)
			return -ENAMETOOLONG;
	} else {
		snprintf(abs, sizeof abs, "%s", target);
	}
	/* A tree's file is appended to by every process and patched by the
	 * root: a regular file only (a device or FIFO is refused, never
	 * replaced). */
	if ((rc = check_target(abs)))
		return rc > 0 ? -ENOTSUP : rc;
	snprintf(tmp, sizeof tmp, "%s.XXXXXX", abs);
	int fd = mkostemp(tmp, O_CLOEXEC | O_APPEND); /* O_EXCL, mode 0600 */
	if (fd < 0)
		return -errno;
	int patch = open(tmp, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	rc = capture_write_tree_header(fd);
	struct stat st;
	if (!rc && patch < 0)
		rc = -errno;
	if (!rc && fstat(fd, &st) != 0)
		rc = -errno;
	if (!rc && rename(tmp, abs) != 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		close(fd);
		if (patch >= 0)
			close(patch);
		return rc;
	}
	tree.fd = fd;
	tree.patch_fd = patch;
	tree.root = 1;
	snprintf(tree.path, sizeof tree.path, "%s", abs);
	tree_env_set(&st);
	return 0;
}

static void tree_close(void)
{
	if (tree.fd >= 0)
		close(tree.fd);
	if (tree.patch_fd >= 0)
		close(tree.patch_fd);
	tree.fd = tree.patch_fd = -1;
	tree.on = 0;
}

int cprof_trace_start_tree(const char *path)
{
	if (!path || !*path)
		return -EINVAL;
	cprof_me()->busy++;
	pthread_mutex_lock(&file_lock);
	int rc = -EBUSY;
	if (!file_handle) {
		const char *id = getenv("CPROF_TRACE_TREE");
		rc = id ? join_tree(path, id) : -ENOENT;
		if (rc)
			rc = create_tree(path);
		if (!rc) {
			tree.on = 1;
			tree.pid = getpid();
			if ((rc = begin_part()))
				tree_close();
		}
	}
	pthread_mutex_unlock(&file_lock);
	cprof_me()->busy--;
	return rc;
}

/* Ends this image's part; the root also rewrites the header's rate. */
static int tree_stop_locked(int unless_empty)
{
	int rc = unless_empty ? cprof_capture_end_unless_empty(file_handle) : cprof_capture_end(file_handle);
	file_handle = 0;
	if (tree.root && tree.patch_fd >= 0) {
		uint8_t rate[8];
		le_put64(rate, cprof_clock_rate_now(50000));
		if (pwrite(tree.patch_fd, rate, sizeof rate, 16) != (ssize_t)sizeof rate && !rc)
			rc = -errno;
	}
	return rc;
}

int cprof_tree_before_exec(void)
{
	if (!tree.on || getpid() != tree.pid)
		return 0; /* no part, or a vfork child: the part is the parent's */
	cprof_me()->busy++;
	pthread_mutex_lock(&file_lock);
	int ended = 0;
	if (tree.on && file_handle) {
		tree_stop_locked(1);
		ended = 1;
	}
	pthread_mutex_unlock(&file_lock);
	cprof_me()->busy--;
	return ended;
}

void cprof_tree_after_failed_exec(void)
{
	cprof_me()->busy++;
	pthread_mutex_lock(&file_lock);
	if (tree.on && !file_handle && begin_part())
		tree_close();
	pthread_mutex_unlock(&file_lock);
	cprof_me()->busy--;
}

const char *cprof_tree_env(int which)
{
	if (!tree.on)
		return NULL;
	return which == 0 ? tree.env_file : tree.env_tree;
}

int cprof_tree_after_fork_child(int tracer_fork)
{
	if (!tree.on)
		return 0;
	tree.root = 0; /* the header is the root's to rewrite */
	if (tree.patch_fd >= 0)
		close(tree.patch_fd);
	tree.patch_fd = -1;
	if (tracer_fork || begin_part()) {
		tree_close();
		return 0;
	}
	tree.pid = getpid();
	return 1;
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
	if (file_handle && tree.on) {
		rc = tree_stop_locked(0);
		tree_close();
	} else if (file_handle) {
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
