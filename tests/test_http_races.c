/*
 * The endpoint's shared state under concurrency (issue "hostile input",
 * item 15; meaningful under TSan): concurrent /cmdline requests each get the
 * whole command line (it was one static buffer), and cprof_http_address()
 * stays a valid, unchanging string while other threads stop and start the
 * server (it was one buffer that stop/start rewrote).
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <cprof/trace.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static int port;
static char cmdline[4096];
static size_t cmdline_len;

/* GET /debug/pprof/cmdline; returns the body length copied to out, or -1. */
static long get_cmdline(char *out, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	static const char req[] = "GET /debug/pprof/cmdline HTTP/1.0\r\nHost: x\r\n\r\n";
	if (write(fd, req, sizeof req - 1) != (ssize_t)sizeof req - 1) {
		close(fd);
		return -1;
	}
	char buf[16384];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof buf && (n = read(fd, buf + len, sizeof buf - len)) > 0)
		len += (size_t)n;
	close(fd);
	const char *body = memmem(buf, len, "\r\n\r\n", 4);
	if (!body)
		return -1;
	body += 4;
	size_t blen = len - (size_t)(body - buf);
	if (blen > cap)
		blen = cap;
	memcpy(out, body, blen);
	return (long)blen;
}

static _Atomic int bad_bodies;

static void *client(void *arg)
{
	(void)arg;
	char body[8192];
	for (int i = 0; i < 40; i++) {
		long n = get_cmdline(body, sizeof body);
		if (n != (long)cmdline_len || memcmp(body, cmdline, cmdline_len) != 0)
			atomic_fetch_add(&bad_bodies, 1);
	}
	return NULL;
}

static _Atomic int stop_reading, bad_addresses;
static _Atomic long addresses_seen;

static void *address_reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_reading)) {
		const char *a = cprof_http_address();
		if (a) {
			char copy[300];
			snprintf(copy, sizeof copy, "%s", a);
			/* the string must not change under us */
			if (strcmp(copy, a) != 0 || strncmp(copy, "127.0.0.1:", 10) != 0)
				atomic_fetch_add(&bad_addresses, 1);
			atomic_fetch_add(&addresses_seen, 1);
		}
	}
	return NULL;
}

int main(void)
{
	FILE *f = fopen("/proc/self/cmdline", "rb");
	cmdline_len = f ? fread(cmdline, 1, sizeof cmdline, f) : 0;
	if (f)
		fclose(f);
	while (cmdline_len && cmdline[cmdline_len - 1] == 0) /* served without argv's last NUL */
		cmdline_len--;

	CHECK(cprof_http_start("127.0.0.1:0") == 0);
	const char *a = cprof_http_address();
	CHECK(a != NULL);
	port = a ? atoi(strrchr(a, ':') + 1) : 0;
	pthread_t c[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&c[i], NULL, client, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(c[i], NULL);
	CHECKF(atomic_load(&bad_bodies) == 0, "%d cmdline bodies were wrong", atomic_load(&bad_bodies));

	pthread_t r;
	pthread_create(&r, NULL, address_reader, NULL);
	/* The reader must be reading while the server restarts: on a loaded
	 * machine it may not have run at all by the time 20 restarts are done
	 * (this check failed so once). Restarts go on until it has read while
	 * they ran, within 10 s. */
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long seen0 = -1;
	for (int i = 0;; i++) {
		CHECK(cprof_http_stop() == 0);
		CHECK(cprof_http_start("127.0.0.1:0") == 0);
		long seen = atomic_load(&addresses_seen);
		if (seen0 < 0 && seen > 0)
			seen0 = seen; /* the reader runs: count from here */
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((i >= 20 && seen0 >= 0 && seen - seen0 >= 100) || now.tv_sec - t0.tv_sec >= 10)
			break;
		if (seen0 < 0)
			sched_yield();
	}
	atomic_store(&stop_reading, 1);
	pthread_join(r, NULL);
	CHECKF(atomic_load(&bad_addresses) == 0, "%d addresses changed while read", atomic_load(&bad_addresses));
	CHECKF(seen0 >= 0 && atomic_load(&addresses_seen) - seen0 >= 100, "%ld addresses read during the restarts",
	       atomic_load(&addresses_seen) - (seen0 > 0 ? seen0 : 0));
	CHECK(cprof_http_stop() == 0);
	return check_done("test_http_races");
}
