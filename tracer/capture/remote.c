/*
 * Remote captures of a process tree: /debug/pprof/trace?seconds=N on the
 * endpoint of a process whose workers it forked (nginx, Apache prefork,
 * PostgreSQL) returns one tree file with the live workers too.
 *
 * Coordination is a control page (MAP_SHARED | MAP_ANONYMOUS) that the
 * process serving the endpoint maps at load, before it forks: every
 * descendant forked without exec shares it. Each such descendant runs a
 * watcher thread (started by the fork handler) that sleeps on the page's
 * generation word, a process-shared futex. The coordinator also opens, at
 * load, an unlinked O_APPEND file (0600, in $TMPDIR) that every descendant
 * inherits with the page: workers that drop privileges (nginx's run as
 * nobody) still append to it. A capture: the coordinator empties the file,
 * writes a tree header, bumps the generation and wakes the watchers; each
 * watcher records its process's part for the duration (appending whole
 * chunks, as file trees do), then counts itself done. The coordinator
 * records its own part meanwhile, waits for the parts (at most 2 s past the
 * end) and hands back a copy of the file. Descendants that exec'd, closed
 * the inherited descriptor, or fork while a capture runs are not in it.
 *
 * Ordering: the coordinator writes path, duration and the counters before
 * the release increment of gen; a watcher reads them after its acquire load
 * of gen. joined/done are counters only the coordinator resets, between
 * captures (one at a time: the capture lock of capture.c refuses a second).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "capture/session.h"

struct tree_ctl {
	_Atomic uint32_t gen;     /* futex (shared): bumped to start a capture */
	_Atomic uint32_t watchers;/* descendants that ever started watching */
	_Atomic uint32_t joined;  /* descendants recording the current capture */
	_Atomic uint32_t done;    /* futex (shared): ... and finished */
	uint64_t duration_ns;
};

static struct tree_ctl *ctl;
static int tree_fd = -1; /* the shared, unlinked tree file */

/* An unlinked read/write file in $TMPDIR, mode 0600. */
static int anon_file(int flags)
{
	const char *tmp = getenv("TMPDIR");
	char path[512];
	snprintf(path, sizeof path, "%s", tmp && *tmp ? tmp : "/tmp");
	int fd = open(path, O_TMPFILE | O_RDWR | O_CLOEXEC | flags, 0600);
	if (fd >= 0)
		return fd;
	if (snprintf(path + strlen(path), sizeof path - strlen(path), "/cprof-tree.XXXXXX") >= 500)
		return -1;
	fd = mkostemp(path, O_CLOEXEC | flags);
	if (fd >= 0)
		unlink(path);
	return fd;
}

static long futex(_Atomic uint32_t *w, int op, uint32_t v, const struct timespec *t)
{
	return syscall(SYS_futex, (uint32_t *)w, op, v, t, NULL, 0);
}

void cprof_remote_init(void)
{
	void *p = mmap(NULL, sizeof *ctl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	if ((tree_fd = anon_file(O_APPEND)) < 0) {
		munmap(p, sizeof *ctl);
		return;
	}
	ctl = p;
}

/* Starts this process's part, appended to *fd. */
static int part_begin(int *fd, cprof_capture_handle *h)
{
	struct capture_spec spec = {.sink = trace_sink_fd, .ctx = fd, .background = 1, .fd = -1,
				    .part_pid = (uint32_t)getpid(), .part_stream = cprof_clock_now() | 1};
	return cprof_capture_begin(&spec, h);
}

/* Records for duration_ns, then ends the part. */
static int part_finish(cprof_capture_handle h, uint64_t duration_ns)
{
	struct timespec d = {(time_t)(duration_ns / 1000000000u), (long)(duration_ns % 1000000000u)};
	while (nanosleep(&d, &d) && errno == EINTR)
		;
	return cprof_capture_end(h);
}

/* A watcher's part: into the inherited tree file. */
static void record_part(uint64_t duration_ns)
{
	cprof_capture_handle h;
	if (part_begin(&tree_fd, &h) == 0)
		part_finish(h, duration_ns);
}

static void *watcher_main(void *arg)
{
	(void)arg;
	cprof_me()->status = THREAD_INTERNAL;
	atomic_fetch_add(&ctl->watchers, 1);
	uint32_t seen = atomic_load_explicit(&ctl->gen, memory_order_acquire);
	for (;;) {
		futex(&ctl->gen, FUTEX_WAIT, seen, NULL);
		uint32_t g = atomic_load_explicit(&ctl->gen, memory_order_acquire);
		if (g == seen)
			continue;
		seen = g;
		atomic_fetch_add(&ctl->joined, 1);
		record_part(ctl->duration_ns);
		atomic_fetch_add(&ctl->done, 1);
		futex(&ctl->done, FUTEX_WAKE, INT32_MAX, NULL);
	}
	return NULL;
}

void cprof_remote_after_fork_child(int tracer_fork)
{
	if (!ctl || tracer_fork)
		return;
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 64 << 10);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* the watcher takes no signals */
	cprof_me()->busy++;
	pthread_create(&t, &a, watcher_main, NULL);
	cprof_me()->busy--;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
}

int cprof_remote_has_watchers(void)
{
	return ctl && atomic_load(&ctl->watchers) > 0;
}

int cprof_remote_capture(uint64_t duration_ns, int *out_fd)
{
	if (!ctl)
		return -ENOENT;
	int out = anon_file(0);
	if (out < 0)
		return -errno;
	/* The header goes to the result first; the parts are copied after it. */
	int rc = capture_write_tree_header(out);
	cprof_capture_handle self;
	if (rc || ftruncate(tree_fd, 0) != 0 || (rc = part_begin(&tree_fd, &self))) { /* -EBUSY: a capture runs */
		close(out);
		return rc ? rc : -errno;
	}
	ctl->duration_ns = duration_ns;
	atomic_store(&ctl->joined, 0);
	atomic_store(&ctl->done, 0);
	atomic_fetch_add_explicit(&ctl->gen, 1, memory_order_release);
	futex(&ctl->gen, FUTEX_WAKE, INT32_MAX, NULL);
	rc = part_finish(self, duration_ns);
	/* The descendants' parts: until every one that joined is done, at
	 * most 2 s past the end (a worker that exits mid-capture never is). */
	uint64_t give_up = capture_mono_ns() + 2000000000u;
	for (;;) {
		uint32_t d = atomic_load(&ctl->done);
		if (d >= atomic_load(&ctl->joined) || capture_mono_ns() >= give_up)
			break;
		struct timespec t = {0, 20000000};
		futex(&ctl->done, FUTEX_WAIT, d, &t);
	}
	/* A copy: the next capture empties the shared file. */
	static char buf[1 << 16];
	off_t at = 0;
	for (ssize_t n; !rc && (n = pread(tree_fd, buf, sizeof buf, at)) != 0; at += n) {
		if (n < 0) {
			rc = -errno;
			break;
		}
		rc = trace_sink_fd(&out, buf, (size_t)n);
	}
	if (rc) {
		close(out);
		return rc;
	}
	*out_fd = out;
	return 0;
}
