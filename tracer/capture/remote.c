/*
 * Remote captures of a process tree: /debug/pprof/trace?seconds=N on the
 * endpoint of a process whose descendants it started (nginx's workers,
 * Apache prefork, PostgreSQL, make's compilers, `sh -c ./app` children)
 * returns one tree file with every live traced descendant too, including
 * those forked or exec'd while the capture runs.
 *
 * Coordination is a control page that the process serving the endpoint
 * (the coordinator) maps at load, before it forks: a memfd, MAP_SHARED.
 * The coordinator also opens, at load, an unlinked O_APPEND file (0600, in
 * $TMPDIR) for the parts. Descendants forked without exec inherit both;
 * workers that drop privileges (nginx's run as nobody) still append
 * through the inherited descriptor. Exec'd descendants find both through
 * CPROF_TRACE_REMOTE=<pid>:<ctl fd>:<file fd>:<ctl inode>:<file inode> in
 * their environment (the exec wrappers put it back when a program empties
 * it): they open /proc/<pid>/fd/<n> of the coordinator (same user, the
 * kernel's ptrace-read check) and keep them only when the inodes match.
 *
 * Every participating process image runs a watcher thread (started by the
 * fork handler, or at load in an exec'd image) asleep on the page's
 * generation word, a process-shared futex. A capture: the coordinator
 * empties the file, opens the capture in `state` (its number, OPEN, a
 * count of the images that joined), bumps the generation and wakes the
 * watchers. An image joins by incrementing the count while OPEN (one CAS,
 * so no image joins after the coordinator closed it) and records its part
 * (whole PART chunks appended, as file trees do) until the capture's end;
 * then it counts itself in `done`. An image that starts during the capture
 * (forked: in the fork handler; exec'd: at load) joins at once; one that
 * execs or exits ends its part first (exec wrappers, exit hooks). The
 * coordinator records its own part meanwhile, closes the capture, waits
 * until `done` reaches the joined count (at most 2 s past the end: an
 * image killed mid-capture never counts) and hands back a copy.
 *
 * Ordering: the coordinator writes end_ns and resets done before the
 * release store of state, and state before gen; a joiner reads end_ns after
 * its acquire load of state. state and done carry the capture's number in
 * their high half, so a straggler of an earlier capture never counts in a
 * later one.
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "capture/session.h"

#define OPEN (1ull << 31)
#define JOINED_MASK (OPEN - 1)

struct tree_ctl {
	_Atomic uint32_t gen;      /* futex (shared): bumped to start a capture */
	_Atomic uint32_t watchers; /* images that ever started watching */
	_Atomic uint64_t state;    /* capture number << 32 | OPEN | images joined */
	_Atomic uint64_t done;     /* capture number << 32 | images done; low half: futex */
	_Atomic uint64_t end_ns;   /* CLOCK_MONOTONIC end of the capture */
};

static struct tree_ctl *ctl;
static int tree_fd = -1;   /* the shared, unlinked tree file */
static int coordinator;    /* this process serves the captures (not its children) */
static int forked;         /* the coordinator forked a child since load */
static char env_remote[96];/* "CPROF_TRACE_REMOTE=...", for exec'd images */

/* This image's part of the capture in progress. */
static pthread_mutex_t part_lock = PTHREAD_MUTEX_INITIALIZER;
static cprof_capture_handle part_h; /* 0: none */
static uint32_t part_gen;           /* the capture it belongs to */
static uint64_t part_end;           /* its end, CLOCK_MONOTONIC ns */
static _Atomic pid_t part_owner;    /* a vfork child shares this memory */
static _Atomic uint32_t watch_seen; /* the last capture number this image handled */

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

static long futex(void *w, int op, uint32_t v, const struct timespec *t)
{
	return syscall(SYS_futex, (uint32_t *)w, op, v, t, NULL, 0);
}

/* The low half of a 64-bit word, for futex calls (little-endian). */
static void *low_half(_Atomic uint64_t *w)
{
	return (void *)w;
}

void cprof_remote_init(void)
{
	int cfd = (int)syscall(SYS_memfd_create, "cprof-tree-ctl", 1u /* MFD_CLOEXEC */);
	void *p = MAP_FAILED;
	if (cfd >= 0 && ftruncate(cfd, 4096) == 0)
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
	if (p == MAP_FAILED) { /* no memfd: forked descendants only */
		if (cfd >= 0)
			close(cfd);
		cfd = -1;
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return;
	}
	if ((tree_fd = anon_file(O_APPEND)) < 0) {
		munmap(p, 4096);
		if (cfd >= 0)
			close(cfd);
		return;
	}
	ctl = p;
	coordinator = 1;
	struct stat cs, ts;
	if (cfd >= 0 && fstat(cfd, &cs) == 0 && fstat(tree_fd, &ts) == 0) {
		snprintf(env_remote, sizeof env_remote, "CPROF_TRACE_REMOTE=%d:%d:%d:%llu:%llu", (int)getpid(), cfd,
			 tree_fd, (unsigned long long)cs.st_ino, (unsigned long long)ts.st_ino);
		setenv("CPROF_TRACE_REMOTE", strchr(env_remote, '=') + 1, 1); /* at load: single-threaded */
	} else {
		unsetenv("CPROF_TRACE_REMOTE"); /* not an older coordinator's descendant any more */
	}
	/* cfd stays open (close-on-exec): exec'd descendants open it by /proc. */
}

/* Counts this image's part of capture g as done (no-op for another one's). */
static void done_add(uint32_t g)
{
	uint64_t d = atomic_load(&ctl->done);
	while ((uint32_t)(d >> 32) == g && !atomic_compare_exchange_weak(&ctl->done, &d, d + 1))
		;
	futex(low_half(&ctl->done), FUTEX_WAKE, INT32_MAX, NULL);
}

/* Joins the open capture unless it is number `skip`; returns its number,
 * or 0. Sets watch_seen to the capture number it saw. */
static uint32_t try_join(uint32_t skip)
{
	uint64_t s = atomic_load_explicit(&ctl->state, memory_order_acquire);
	for (;;) {
		uint32_t g = (uint32_t)(s >> 32);
		if (!g || g == skip || !(s & OPEN)) {
			watch_seen = g;
			return 0;
		}
		if (atomic_compare_exchange_weak_explicit(&ctl->state, &s, s + 1, memory_order_acq_rel,
							  memory_order_acquire)) {
			watch_seen = g;
			return g;
		}
	}
}

/* Starts this image's part of capture g (joined). */
static void part_start(uint32_t g)
{
	pthread_mutex_lock(&part_lock);
	int ok = 0;
	if (!part_h) {
		struct capture_spec spec = {.sink = trace_sink_fd, .ctx = &tree_fd, .background = 1, .fd = -1,
					    .part_pid = (uint32_t)getpid(), .part_stream = cprof_clock_now() | 1};
		ok = cprof_capture_begin(&spec, &part_h) == 0;
		if (!ok)
			part_h = 0;
	}
	if (ok) {
		part_gen = g;
		part_end = atomic_load(&ctl->end_ns);
		part_owner = getpid();
	}
	pthread_mutex_unlock(&part_lock);
	if (!ok)
		done_add(g); /* nothing to wait for */
}

/* Ends this image's part, if it has one; returns 1 when it did. */
static int part_stop(int unless_empty)
{
	if (part_owner != getpid())
		return 0; /* no part here; or a vfork child, sharing the parent's memory: not its part */
	pthread_mutex_lock(&part_lock);
	int ended = 0;
	if (part_h && part_owner == getpid()) {
		if (unless_empty)
			cprof_capture_end_unless_empty(part_h);
		else
			cprof_capture_end(part_h);
		part_h = 0;
		done_add(part_gen);
		ended = 1;
	}
	pthread_mutex_unlock(&part_lock);
	return ended;
}

static void *watcher_main(void *arg)
{
	(void)arg;
	cprof_me()->status = THREAD_INTERNAL;
	atomic_fetch_add(&ctl->watchers, 1);
	for (;;) {
		pthread_mutex_lock(&part_lock);
		uint64_t end = part_h ? part_end : 0;
		pthread_mutex_unlock(&part_lock);
		if (end) {
			struct timespec t = {(time_t)(end / 1000000000u), (long)(end % 1000000000u)};
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
				;
			part_stop(0);
		}
		uint32_t cur = atomic_load_explicit(&ctl->gen, memory_order_acquire);
		if (cur == watch_seen)
			futex(&ctl->gen, FUTEX_WAIT, cur, NULL);
		uint32_t g = try_join(watch_seen);
		if (g)
			part_start(g);
	}
	return NULL;
}

/* A new image of the tree (forked child, exec'd image): joins a capture in
 * progress at once, then watches for the next ones. */
static void participate(void)
{
	uint32_t g = try_join(0);
	if (g)
		part_start(g);
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 1 << 20); /* ends parts: drain tail, symbolization, libdw (sanitizers need more) */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* the watcher takes no signals */
	cprof_me()->busy++;
	pthread_create(&t, &a, watcher_main, NULL); /* failing, a part started here ends at exit */
	cprof_me()->busy--;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
}

/* Opens /proc/<pid>/fd/<fd> and checks its inode. */
static int open_peer(int pid, int fd, unsigned long long ino, int flags)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
	int f = open(path, flags | O_CLOEXEC);
	struct stat st;
	if (f >= 0 && (fstat(f, &st) != 0 || !S_ISREG(st.st_mode) || st.st_ino != ino || st.st_uid != geteuid())) {
		close(f);
		f = -1;
	}
	return f;
}

void cprof_remote_load(void)
{
	const char *e = getenv("CPROF_TRACE_REMOTE");
	int pid, cfd, tfd;
	unsigned long long cino, tino;
	if (!e || sscanf(e, "%d:%d:%d:%llu:%llu", &pid, &cfd, &tfd, &cino, &tino) != 5 || pid <= 0)
		return;
	int c = open_peer(pid, cfd, cino, O_RDWR);
	if (c < 0)
		return;
	int t = open_peer(pid, tfd, tino, O_WRONLY | O_APPEND);
	void *p = t < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, c, 0);
	close(c);
	if (p == MAP_FAILED) {
		if (t >= 0)
			close(t);
		return;
	}
	ctl = p;
	tree_fd = t;
	snprintf(env_remote, sizeof env_remote, "CPROF_TRACE_REMOTE=%s", e);
	participate();
}

void cprof_remote_after_fork_parent(int tracer_fork)
{
	if (coordinator && !tracer_fork)
		forked = 1;
}

void cprof_remote_after_fork_child(int tracer_fork)
{
	coordinator = 0;
	forked = 0;
	pthread_mutex_init(&part_lock, NULL);
	part_h = 0;
	if (!ctl || tracer_fork)
		return;
	participate();
}

int cprof_remote_before_exec(void)
{
	return ctl && !coordinator ? part_stop(1) : 0;
}

void cprof_remote_after_failed_exec(void)
{
	/* The part ended and counted as done: join again as a new part. */
	uint32_t g = try_join(0);
	if (g)
		part_start(g);
}

void cprof_remote_finish_at_exit(void)
{
	if (ctl && !coordinator)
		part_stop(0);
}

const char *cprof_remote_env(void)
{
	return ctl && env_remote[0] ? env_remote : NULL;
}

int cprof_remote_is_tree(void)
{
	return ctl && coordinator && (forked || atomic_load(&ctl->watchers) > 0);
}

int cprof_remote_capture(uint64_t duration_ns, int *out_fd)
{
	if (!ctl || !coordinator)
		return -ENOENT;
	int out = anon_file(0);
	if (out < 0)
		return -errno;
	/* The header goes to the result first; the parts are copied after it. */
	int rc = capture_write_tree_header(out);
	cprof_capture_handle self;
	struct capture_spec spec = {.sink = trace_sink_fd, .ctx = &tree_fd, .background = 1, .fd = -1,
				    .part_pid = (uint32_t)getpid(), .part_stream = cprof_clock_now() | 1};
	if (rc || ftruncate(tree_fd, 0) != 0 || (rc = cprof_capture_begin(&spec, &self))) { /* -EBUSY: a capture runs */
		close(out);
		return rc ? rc : -errno;
	}
	uint32_t g = (uint32_t)(atomic_load(&ctl->state) >> 32) + 1;
	if (!g)
		g = 1;
	uint64_t end = capture_mono_ns() + duration_ns;
	atomic_store(&ctl->end_ns, end);
	atomic_store(&ctl->done, (uint64_t)g << 32);
	atomic_store_explicit(&ctl->state, (uint64_t)g << 32 | OPEN, memory_order_release);
	atomic_store_explicit(&ctl->gen, g, memory_order_release);
	futex(&ctl->gen, FUTEX_WAKE, INT32_MAX, NULL);
	struct timespec t = {(time_t)(end / 1000000000u), (long)(end % 1000000000u)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
		;
	rc = cprof_capture_end(self);
	/* Closed: no image joins any more, so the joined count is final. */
	uint32_t joined = (uint32_t)(atomic_fetch_and(&ctl->state, ~OPEN) & JOINED_MASK);
	/* The descendants' parts: until every one that joined is done, at
	 * most 2 s past the end (an image killed mid-capture never is). */
	uint64_t give_up = capture_mono_ns() + 2000000000u;
	for (;;) {
		uint64_t d = atomic_load(&ctl->done);
		if ((uint32_t)d >= joined || capture_mono_ns() >= give_up)
			break;
		struct timespec w = {0, 20000000};
		futex(low_half(&ctl->done), FUTEX_WAIT, (uint32_t)d, &w);
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
