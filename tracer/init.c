/*
 * Library load and unload: configuration from the environment, the clock,
 * fork handlers, and the CPROF_TRACE_FILE whole-run capture.
 *
 * Environment:
 *   CPROF_TRACE_FILE=path      capture the whole run of this process and its
 *                              descendants into path ("%p": the root's pid)
 *   CPROF_TRACE_BUFFER=bytes   ring size per thread (suffix k/m/g allowed),
 *                              rounded up to a power of two in [64k, 1g];
 *                              default 1m
 *   CPROF_TRACE_DRAIN_MS=ms    drainer period, default 10
 *   CPROF_TRACE=0              record nothing at all
 *   CPROF_TRACE_CLOCK=monotonic  never use the TSC
 *   CPROF_TRACE_MIN_BLOCK_NS=ns  shortest blocking call recorded, default 1000
 *   CPROF_TRACE_STACKS=0       no stacks on blocking events
 *   CPROF_TRACE_UNWIND=libunwind  unwind stacks with libunwind only (default
 *                              cfi: our own walk, libunwind where it gives up)
 *   CPROF_TRACE_INTERPOSE=0    do not observe pthread and blocking calls
 *   CPROF_TRACE_RUNQ=0         do not sample the kernel's run-queue delay
 *   CPROF_TRACE_SCHED=perf|schedstat|off  kernel scheduling records in
 *                              captures (default: perf, else schedstat)
 *   CPROF_TRACE_CPU_HZ=n       CPU samples per CPU-second in captures,
 *                              default 100, 0 off (/debug/pprof/profile
 *                              then samples at 100)
 *
 * CPROF_TRACE_FILE stays in the environment (made absolute, with
 * CPROF_TRACE_TREE naming the file): programs this one starts, through any
 * wrapper, append their own parts to the same file (capture/file.c); forked
 * children start their part in the fork handler; exec wrappers (exec.c)
 * end an image's part before the exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "interpose/block.h"
#include "capture/capture.h"
#include "http/http.h"
#include "core/internal.h"
#include "interpose/contention.h"
#include "interpose/heap.h"
#include "interpose/interpose.h"
#include "stacks/cfi.h"
#include "stacks/lines.h"
#include "stacks/stack.h"
#include "sched/sched.h"
#include "profiles/cpu.h"

struct cprof_config cprof_config = {.ring_bytes = 1u << 20, .capture_ring_bytes = 16u << 20, .drain_ms = 10};


uint32_t cprof_gettid(void)
{
	return (uint32_t)syscall(SYS_gettid);
}

size_t cprof_read_small(const char *path, char *buf, size_t cap)
{
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd >= 0 && n + 1 < cap) {
		ssize_t k = read(fd, buf + n, cap - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	if (fd >= 0)
		close(fd);
	if (cap)
		buf[n] = 0;
	return n;
}

int cprof_only_thread(void)
{
	/* glibc's own flag: true until the process first creates a thread
	 * (and again in a fork child). Free to read, where /proc/self/stat
	 * cost an open, a read and a close on every traced process's start. */
	if (__libc_single_threaded)
		return 1;
	char buf[1024];
	if (!cprof_read_small("/proc/self/stat", buf, sizeof buf))
		return 0;
	const char *p = strrchr(buf, ')'); /* the command may hold spaces and parentheses */
	for (int field = 2; field < 20 && p; field++) /* p: the space before field + 1 */
		p = strchr(p + 1, ' ');
	return p && strtol(p + 1, NULL, 10) == 1; /* field 20: num_threads */
}

uint32_t cprof_read_cmdline(char *buf, uint32_t cap)
{
	uint32_t n = (uint32_t)cprof_read_small("/proc/self/cmdline", buf, cap);
	while (n && buf[n - 1] == 0) /* argv ends with a NUL; the format separates */
		n--;
	return n;
}

/* Parses "123", "64k", "1m", "1g"; returns 0 on a malformed value. */
static uint64_t parse_bytes(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	return *end ? 0 : v;
}

static void configure(void)
{
	const char *s;
	if ((s = getenv("CPROF_TRACE_BUFFER"))) {
		uint64_t v = parse_bytes(s);
		if (v)
			cprof_config.ring_bytes = cprof_config.capture_ring_bytes = v;
		else
			fprintf(stderr, "cprof-trace: ignoring CPROF_TRACE_BUFFER=%s (want bytes, e.g. 4m)\n", s);
	}
	if ((s = getenv("CPROF_TRACE_DRAIN_MS"))) {
		long v = strtol(s, NULL, 10);
		if (v >= 1 && v <= 1000)
			cprof_config.drain_ms = (uint32_t)v;
		else
			fprintf(stderr, "cprof-trace: ignoring CPROF_TRACE_DRAIN_MS=%s (want 1..1000)\n", s);
	}
	if ((s = getenv("CPROF_TRACE")) && strcmp(s, "0") == 0) {
		atomic_store(&cprof_enabled, 0);
		cprof_interpose_on = 0;
	}
	uint64_t min_block = 1000;
	if ((s = getenv("CPROF_TRACE_MIN_BLOCK_NS"))) {
		char *end;
		unsigned long long v = strtoull(s, &end, 10);
		if (*s && !*end && v <= 10000000000ull)
			min_block = v;
		else
			fprintf(stderr, "cprof-trace: ignoring CPROF_TRACE_MIN_BLOCK_NS=%s (want ns, e.g. 1000)\n", s);
	}
	int runq = !((s = getenv("CPROF_TRACE_RUNQ")) && strcmp(s, "0") == 0);
	cprof_block_configure(min_block, runq);
	uint64_t block_rate = 1, mutex_fraction = 1; /* the block and mutex profiles: on, every contention */
	if ((s = getenv("CPROF_TRACE_BLOCK_RATE"))) {
		char *end;
		unsigned long long v = strtoull(s, &end, 10);
		if (*s && !*end && v <= 100000000000ull)
			block_rate = v;
		else
			fprintf(stderr, "cprof-trace: ignoring CPROF_TRACE_BLOCK_RATE=%s (want ns, 0: off)\n", s);
	}
	if ((s = getenv("CPROF_TRACE_MUTEX_FRACTION"))) {
		char *end;
		unsigned long long v = strtoull(s, &end, 10);
		if (*s && !*end && v <= 1000000)
			mutex_fraction = v;
		else
			fprintf(stderr, "cprof-trace: ignoring CPROF_TRACE_MUTEX_FRACTION=%s (want 0..1000000, 0: off)\n", s);
	}
	cprof_contention_configure(block_rate, (uint32_t)mutex_fraction);
	if ((s = getenv("CPROF_TRACE_MEM_RATE"))) {
		char *end;
		unsigned long long v = strtoull(s, &end, 10);
		if (*s && !*end && v <= (1ull << 40))
			cprof_heap_configure(v);
		else
			fprintf(stderr, "cprof-trace: ignoring CPROF_TRACE_MEM_RATE=%s (want bytes, 0: off)\n", s);
	} else if (getenv("CPROF_TRACE_TREE") && !getenv("CPROF_TRACE_ADDR")) {
		/* A file tree's descendant without an endpoint address: nothing
		 * reads its heap profile (only the endpoint serves it, the root
		 * does not pass CPROF_TRACE_ADDR on, the trace file holds no heap
		 * data), and sampling cost make -j2 under a tree capture ~10 ms
		 * of CPU (cc1's samples fault in pages of the sparse live table,
		 * every free probes the filter). Off, as rate 0; a descendant
		 * that starts the endpoint itself serves an empty heap profile. */
		cprof_heap_configure(0);
	}
	if ((s = getenv("CPROF_TRACE_STACKS")) && strcmp(s, "0") == 0)
		cprof_stacks_enabled = 0;
	if ((s = getenv("CPROF_TRACE_UNWIND"))) {
		if (strcmp(s, "libunwind") == 0)
			cprof_cfi_enabled = 0;
		else if (strcmp(s, "cfi") != 0)
			fprintf(stderr, "cprof-trace: ignoring CPROF_TRACE_UNWIND=%s (want cfi or libunwind)\n", s);
	}
	/* Separate debug files: on by default for one process (a server's
	 * captures), off under CPROF_TRACE_FILE, where every process of a tree
	 * would load them at exit. */
	int debuginfo = !getenv("CPROF_TRACE_FILE");
	if ((s = getenv("CPROF_TRACE_DEBUGINFO")))
		debuginfo = strcmp(s, "0") != 0;
	cprof_symbolize_configure(debuginfo);
	cprof_lines_configure(getenv("CPROF_TRACE_LINES_CACHE"));
	if ((s = getenv("CPROF_TRACE_INTERPOSE")) && strcmp(s, "0") == 0)
		cprof_interpose_on = 0;
	cprof_rings_configure(cprof_config.ring_bytes, cprof_config.capture_ring_bytes);
	if ((s = getenv("CPROF_TRACE_CPU_HZ"))) {
		char *end;
		unsigned long v = strtoul(s, &end, 10);
		if (*s && !*end && v <= 1000)
			cprof_cpu_configure((uint32_t)v);
		else
			fprintf(stderr, "cprof-trace: ignoring CPROF_TRACE_CPU_HZ=%s (want 0..1000)\n", s);
	}
}

static void before_fork(void)
{
	cprof_capture_before_fork();
	cprof_strings_lock();
}

static void after_fork_parent(void)
{
	cprof_strings_unlock();
	cprof_capture_after_fork_parent();
	struct cprof_thread *self = cprof_me();
	cprof_remote_after_fork_parent(self->busy || self->status == THREAD_INTERNAL);
}

void cprof_exec_init(void) CPROF_INTERNAL; /* exec.c */

static int file_capture;
static pid_t file_capture_pid; /* the process that owns the capture */

static void after_fork_child(void)
{
	/* A fork the tracer makes (the goroutine dump's helper) is no
	 * process of the program's tree. */
	struct cprof_thread *self = cprof_me();
	int tracer_fork = self->busy || self->status == THREAD_INTERNAL;
	cprof_strings_after_fork();
	cprof_capture_after_fork_child();
	cprof_http_after_fork_child();
	cprof_rings_after_fork();
	cprof_cpu_after_fork_child();
	cprof_sched_after_fork_child();
	file_capture = 0;
	if (cprof_tree_after_fork_child(tracer_fork))
		file_capture = 1, file_capture_pid = getpid();
	cprof_remote_after_fork_child(tracer_fork);
}

/* Priority 101: before the program's own constructors, which may trace. */
__attribute__((constructor(101))) static void cprof_load(void)
{
	cprof_me()->busy++; /* everything here is the tracer's own doing */
	configure();
	cprof_clock_init();
	cprof_stacks_init();
	cprof_interpose_resolve_all();
	cprof_heap_ready = cprof_interpose_on ? 1 : -1; /* malloc sampling from here on */
	cprof_interpose_thread_init();
	cprof_rings_init_key();
	if (atomic_load(&cprof_enabled))
		cprof_sched_init(getenv("CPROF_TRACE_SCHED")); /* before the program's threads */
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
	cprof_exec_init();
	cprof_me()->busy--;
	char path[4096] = "";
	const char *env = getenv("CPROF_TRACE_FILE");
	if (env)
		snprintf(path, sizeof path, "%s", env);
	if (*path && atomic_load(&cprof_enabled)) {
		int rc = cprof_trace_start_tree(path);
		if (rc)
			fprintf(stderr, "cprof-trace: cannot capture to %s: %s\n", path, strerror(-rc));
		else
			file_capture = 1, file_capture_pid = getpid();
	}
	cprof_me()->busy++; /* setenv's realloc, the watcher: the tracer's own */
	if (getenv("CPROF_TRACE_ADDR") && *getenv("CPROF_TRACE_ADDR"))
		cprof_remote_init(); /* before any fork: workers share it */
	else if (atomic_load(&cprof_enabled))
		cprof_remote_load(); /* an exec'd descendant of a remote tree's coordinator */
	cprof_me()->busy--;
	cprof_http_autostart();
}

/* Finishes the CPROF_TRACE_FILE capture at exit: from the destructor
 * (exit, return from main) or the _exit wrapper. Only in the process that
 * started it: a forked child's capture state was reset, and a vfork child
 * shares the parent's memory and must not touch it. */
static void finish_file_capture(void)
{
	if (file_capture && getpid() == file_capture_pid) {
		file_capture = 0;
		/* A part's main thread that recorded nothing (as, ls) still
		 * ran: it attaches now, its THREAD_START at the part's start
		 * (born), so the process has its thread and its kernel records. */
		struct cprof_thread *self = cprof_me();
		if (self->status == THREAD_NEW && self->born)
			cprof_thread_attach_now(self);
		int rc = cprof_trace_stop();
		if (rc && rc != -ENOENT)
			fprintf(stderr, "cprof-trace: writing the trace failed: %s\n", strerror(-rc));
	}
}

/* Every capture this image runs ends complete, its threads' exits recorded. */
static void finish_at_exit(void)
{
	cprof_capture_process_exiting();
	finish_file_capture();
	cprof_remote_finish_at_exit(); /* this image's part of a remote tree capture */
	cprof_http_finish_at_exit(); /* a remote capture ends complete too */
}

__attribute__((destructor)) static void cprof_unload(void)
{
	finish_at_exit();
}

/* Programs that end with _exit (shells do) skip destructors. */

CPROF_API void _exit(int status)
{
	finish_at_exit();
	REAL(_exit)(status);
	__builtin_unreachable();
}

CPROF_API void _Exit(int status)
{
	finish_at_exit();
	REAL(_Exit)(status);
	__builtin_unreachable();
}
