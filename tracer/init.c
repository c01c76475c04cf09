/*
 * Library load and unload: configuration from the environment, the clock,
 * fork handlers, and the CPROF_TRACE_FILE whole-run capture.
 *
 * Environment:
 *   CPROF_TRACE_FILE=path      capture the whole run into path ("%p": pid)
 *   CPROF_TRACE_BUFFER=bytes   ring size per thread (suffix k/m/g allowed),
 *                              rounded up to a power of two in [64k, 1g];
 *                              default 1m
 *   CPROF_TRACE_DRAIN_MS=ms    drainer period, default 10
 *   CPROF_TRACE=0              record nothing at all
 *   CPROF_TRACE_CLOCK=monotonic  never use the TSC
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "capture.h"
#include "internal.h"

struct cprof_config cprof_config = {.ring_bytes = 1u << 20, .drain_ms = 10};

void cprof_rings_init_key(void) CPROF_INTERNAL;

uint32_t cprof_gettid(void)
{
	return (uint32_t)syscall(SYS_gettid);
}

uint32_t cprof_read_cmdline(char *buf, uint32_t cap)
{
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	uint32_t n = 0;
	while (n < cap) {
		ssize_t k = read(fd, buf + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (uint32_t)k;
	}
	close(fd);
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
			cprof_config.ring_bytes = v;
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
	if ((s = getenv("CPROF_TRACE")) && strcmp(s, "0") == 0)
		atomic_store(&cprof_enabled, 0);
	cprof_rings_configure(cprof_config.ring_bytes);
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
}

static void after_fork_child(void)
{
	cprof_strings_after_fork();
	cprof_capture_after_fork_child();
	cprof_rings_after_fork();
}

static int file_capture;

/* Priority 101: before the program's own constructors, which may trace. */
__attribute__((constructor(101))) static void cprof_load(void)
{
	configure();
	cprof_clock_init();
	cprof_rings_init_key();
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
	const char *path = getenv("CPROF_TRACE_FILE");
	if (path && *path && atomic_load(&cprof_enabled)) {
		int rc = cprof_trace_start_file(path);
		if (rc)
			fprintf(stderr, "cprof-trace: cannot capture to %s: %s\n", path, strerror(-rc));
		else
			file_capture = 1;
	}
}

__attribute__((destructor)) static void cprof_unload(void)
{
	if (file_capture) {
		file_capture = 0;
		int rc = cprof_trace_stop();
		if (rc && rc != -ENOENT)
			fprintf(stderr, "cprof-trace: writing the trace failed: %s\n", strerror(-rc));
	}
}
