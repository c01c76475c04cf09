/*
 * Captures have owners: cprof_trace_stop() ends only the file capture
 * cprof_trace_start_file() started (never an HTTP ?seconds= capture), and a
 * capture's end by a stale handle (a finished HTTP stream) ends nothing
 * else. File captures never truncate, follow or adopt a file that is not
 * theirs: a refused start leaves no file behind and the live trace intact;
 * a symlink at the path is replaced, not followed; another user's file is
 * refused (checked when run as root); a FIFO or device at the path is
 * written in place, never replaced (a rename onto /dev/null as root made it
 * a regular file), and a tree capture refuses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/capture.h"
#include "check.h"
#include "core/internal.h"
#include "trace_load.h"

static char dir[] = "/tmp/cprof-owner-XXXXXX";

static void path_in(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", dir, name);
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Counts REGION_BEGIN named `name` in a complete trace; -1 if incomplete. */
static long regions_named(struct loaded *l, const char *name)
{
	if (l->status != 0)
		return -1;
	long n = 0;
	for (size_t i = 0; i < l->n; i++)
		if (l->ev[i].ev.kind == CPROF_EV_REGION_BEGIN && !strcmp(loaded_name(l, l->ev[i].ev.args[0]), name))
			n++;
	return n;
}

/* An endpoint-style capture (another owner) survives cprof_trace_stop(). */
static void test_stop_spares_other_owner(void)
{
	struct trace_buf out = {0};
	struct capture_spec spec = {.sink = trace_sink_buf, .ctx = &out, .background = 1, .fd = -1};
	cprof_capture_handle h;
	CHECK(cprof_capture_begin(&spec, &h) == 0);
	{ TRACE_REGION("before_stop"); }
	CHECK(cprof_trace_stop() == -ENOENT); /* no file capture runs: nothing ends */
	{ TRACE_REGION("after_stop"); }
	char path[256];
	path_in(path, sizeof path, "refused.trace");
	CHECK(cprof_trace_start_file(path) == -EBUSY);
	CHECK(access(path, F_OK) != 0); /* a refused start leaves no file */
	CHECK(cprof_capture_end(h) == 0);
	struct loaded l;
	CHECK(load_buf(&l, &out) == 0);
	CHECK(regions_named(&l, "before_stop") == 1);
	CHECK(regions_named(&l, "after_stop") == 1);
	loaded_free(&l);
	trace_buf_free(&out);
}

/* A finished stream's handle does not end the file capture that followed. */
static void test_stale_handle_spares_file(void)
{
	struct trace_buf out = {0};
	struct capture_spec spec = {.sink = trace_sink_buf, .ctx = &out, .background = 1, .fd = -1};
	cprof_capture_handle stream;
	CHECK(cprof_capture_begin(&spec, &stream) == 0);
	CHECK(cprof_capture_end(stream) == 0);
	char path[256];
	path_in(path, sizeof path, "file.trace");
	CHECK(cprof_trace_start_file(path) == 0);
	{ TRACE_REGION("in_file"); }
	CHECK(cprof_capture_end(stream) == -ENOENT); /* the stream finishes late */
	{ TRACE_REGION("still_in_file"); }
	/* A second start on the live path is refused and truncates nothing. */
	usleep(50000);
	long before = file_size(path);
	CHECK(cprof_trace_start_file(path) == -EBUSY);
	CHECK(file_size(path) == before);
	CHECK(cprof_trace_stop() == 0);
	CHECK(cprof_trace_stop() == -ENOENT);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	struct loaded l;
	CHECKF(load_file(&l, path) == 0, "%s", l.r.error);
	CHECK(regions_named(&l, "in_file") == 1);
	CHECK(regions_named(&l, "still_in_file") == 1);
	loaded_free(&l);
	trace_buf_free(&out);
}

/* A symlink planted at the path is replaced; its target keeps its bytes. */
static void test_symlink_not_followed(void)
{
	char victim[256], path[256];
	path_in(victim, sizeof victim, "victim");
	path_in(path, sizeof path, "link.trace");
	int fd = open(victim, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && write(fd, "precious", 8) == 8);
	close(fd);
	CHECK(symlink(victim, path) == 0);
	CHECK(cprof_trace_start_file(path) == 0);
	{ TRACE_REGION("linked"); }
	CHECK(cprof_trace_stop() == 0);
	struct stat st;
	CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
	CHECK(file_size(victim) == 8);
	struct loaded l;
	CHECKF(load_file(&l, path) == 0, "%s", l.r.error);
	CHECK(regions_named(&l, "linked") == 1);
	loaded_free(&l);
}

struct fifo_reader {
	int fd;
	_Atomic int writer_open; /* before it, a read would see EOF: no writer yet */
	struct trace_buf got;
};

static void *read_all(void *arg)
{
	struct fifo_reader *f = arg;
	while (!atomic_load(&f->writer_open))
		usleep(1000);
	char buf[4096];
	ssize_t n;
	while ((n = read(f->fd, buf, sizeof buf)) > 0)
		if (trace_buf_put(&f->got, buf, (size_t)n))
			break;
	return NULL;
}

/* A FIFO at the path: the trace streams into it, the node stays. */
static void test_fifo_written_in_place(void)
{
	char path[256];
	path_in(path, sizeof path, "pipe.trace");
	CHECK(mkfifo(path, 0600) == 0);
	struct fifo_reader f = {.fd = open(path, O_RDONLY | O_NONBLOCK)};
	CHECK(f.fd >= 0 && fcntl(f.fd, F_SETFL, 0) == 0); /* blocking reads from here */
	pthread_t t;
	CHECK(pthread_create(&t, NULL, read_all, &f) == 0);
	CHECK(cprof_trace_start_file(path) == 0);
	atomic_store(&f.writer_open, 1); /* the pipe holds 64 KiB meanwhile */
	{ TRACE_REGION("through_fifo"); }
	CHECK(cprof_trace_stop() == 0); /* closes the writer: the reader sees EOF */
	pthread_join(t, NULL);
	close(f.fd);
	struct stat st;
	CHECK(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode));
	struct loaded l;
	CHECKF(load_buf(&l, &f.got) == 0, "%s", l.r.error);
	CHECK(regions_named(&l, "through_fifo") == 1);
	loaded_free(&l);
	trace_buf_free(&f.got);
	/* a tree capture (CPROF_TRACE_FILE) needs a regular file: refused */
	CHECK(cprof_trace_start_tree(path) == -ENOTSUP);
	CHECK(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode));
}

/* Root is refused another user's file (a shared directory's trap). */
static void test_foreign_owner_refused(void)
{
	if (geteuid() != 0) {
		printf("test_capture_owner: foreign-owner check needs root, skipped\n");
		return;
	}
	char path[256];
	path_in(path, sizeof path, "foreign.trace");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	CHECK(fd >= 0 && fchown(fd, 65534, 65534) == 0);
	close(fd);
	CHECK(cprof_trace_start_file(path) == -EPERM);
	struct stat st;
	CHECK(stat(path, &st) == 0 && st.st_uid == 65534 && st.st_size == 0);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_stop_spares_other_owner();
	test_stale_handle_spares_file();
	test_symlink_not_followed();
	test_fifo_written_in_place();
	test_foreign_owner_refused();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return check_done("test_capture_owner");
}
