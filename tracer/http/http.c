/*
 * The /debug/pprof endpoints over libmicrohttpd: our own daemon
 * (CPROF_TRACE_ADDR, cprof_http_start) or mounted on the program's daemon
 * (cprof_http_dispatch).
 *
 * Safety: the endpoints expose the program's data, so the daemon binds a
 * loopback address or a unix socket (mode 0600) unless
 * CPROF_TRACE_ALLOW_REMOTE=1 and CPROF_TRACE_TOKEN are both set; then every
 * request must carry "Authorization: Bearer <token>" (compared in constant
 * time). Without a token every request must come from loopback or a unix
 * socket, also on the program's own daemon. Query strings are hostile:
 * parsed strictly, bounded, rejected with 400 and a one-line reason.
 * The daemon runs a thread per connection, created by tracer threads, so
 * none of its work is traced.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "capture/capture.h"
#include "http/http.h"
#include "http/query.h"
#include "core/internal.h"
#include "stacks/stack.h"
#include "core/text.h"
#include "interpose/interpose.h"
#include "trace_writer.h"

#define MAX_SECONDS_DEFAULT 60.0
#define TOKEN_MAX 255 /* bytes */
#define CONNECTION_TIMEOUT 10 /* s without traffic */
#define CONNECTION_LIMIT 64
#define PER_IP_LIMIT 8

static pthread_mutex_t server_lock = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Daemon *daemon_;
/* What we serve on, for cprof_http_address(): a new string per start,
 * never freed or rewritten, so a pointer handed out stays valid while
 * stop/start run on other threads (a few bytes per restart). */
static char *_Atomic address;
/* Every address string ever made, so they stay reachable (not leaks). */
struct address_node {
	struct address_node *next;
	char s[];
};
static struct address_node *addresses; /* under server_lock */
static char unix_path[108];   /* to unlink at stop */

/* The policy: read once (pthread_once, first from the constructor through
 * cprof_http_autostart, while the program is single-threaded), then never
 * written again, so request threads (ours and the program's daemon through
 * cprof_http_dispatch) read it without a lock. */
static pthread_once_t policy_once = PTHREAD_ONCE_INIT;
static char token[TOKEN_MAX + 1]; /* CPROF_TRACE_TOKEN; empty: loopback clients only */
static int token_refused;         /* CPROF_TRACE_TOKEN was too long: refuse every request */
static double max_seconds = MAX_SECONDS_DEFAULT;

static void load_policy(void)
{
	const char *t = getenv("CPROF_TRACE_TOKEN");
	if (t && strlen(t) > TOKEN_MAX) {
		/* a cut token would accept its prefix: fail closed instead */
		fprintf(stderr, "cprof-trace: CPROF_TRACE_TOKEN is longer than %d bytes: refused; /debug/pprof "
			"answers no request\n", TOKEN_MAX);
		token_refused = 1;
	} else if (t) {
		memcpy(token, t, strlen(t) + 1);
	}
	if (t) /* the program's children must not inherit the secret */
		unsetenv("CPROF_TRACE_TOKEN");
	const char *m = getenv("CPROF_TRACE_MAX_SECONDS");
	if (m) {
		uint64_t ns;
		if (!cprof_parse_seconds(m, 86400, &ns))
			max_seconds = (double)ns / 1e9;
		else
			fprintf(stderr, "cprof-trace: ignoring CPROF_TRACE_MAX_SECONDS=%s (want decimal seconds, %g to "
				"86400)\n", m, CPROF_SECONDS_MIN);
	}
}

static void policy_load(void)
{
	pthread_once(&policy_once, load_policy);
}

/* ---- responses ---- */

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type, const void *body,
			       size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond_error(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum MHD_Result respond_error(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof msg - 2)
		n = sizeof msg - 2;
	msg[n++] = '\n';
	return respond(conn, status, "text/plain; charset=utf-8", msg, (size_t)n);
}

static enum MHD_Result respond_text(struct MHD_Connection *conn, struct text *t, const char *type)
{
	enum MHD_Result r = respond(conn, MHD_HTTP_OK, type, t->p ? t->p : "", t->len);
	free(t->p);
	return r;
}

/* ---- access control ---- */

static int is_loopback(const struct sockaddr *sa)
{
	if (!sa)
		return 0;
	if (sa->sa_family == AF_UNIX)
		return 1;
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return 0;
}

/* Constant-time: the time depends on the lengths, never on the content. */
static int token_matches(const char *given)
{
	size_t a = strlen(token), b = strlen(given);
	unsigned diff = a != b;
	for (size_t i = 0; i < a; i++)
		diff |= (unsigned char)token[i] ^ (unsigned char)(i < b ? given[i] : 0);
	return diff == 0;
}

/* 0 when the request may proceed, else the status to refuse it with. */
static unsigned check_access(struct MHD_Connection *conn)
{
	if (token_refused)
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	if (token[0]) {
		const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
		const char *given = cprof_bearer_token(auth);
		if (!given || !token_matches(given))
			return MHD_HTTP_UNAUTHORIZED;
		return 0;
	}
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	return ci && is_loopback(ci->client_addr) ? 0 : MHD_HTTP_FORBIDDEN;
}

/* ---- endpoints ---- */

static enum MHD_Result serve_index(struct MHD_Connection *conn)
{
	/* Like Go's index: count, name, one line each. */
	uint32_t nthreads = 0, ids[1], counts[1], nc = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d && (e = readdir(d)))
		nthreads += atoi(e->d_name) > 0;
	if (d)
		closedir(d);
	uint64_t created = cprof_threadcreate_counts(ids, counts, 0, &nc);
	struct text t = {0};
	text_add(&t, "<!DOCTYPE html><html><head><title>/debug/pprof/</title></head><body>\n"
		     "<h1>/debug/pprof/</h1>\n<p>Profiles and traces of this C program, served by cprof-trace "
		     CPROF_TRACE_VERSION_STRING " (libcproftrace.so." CPROF_STR(CPROF_TRACE_ABI) "). "
		     "Open a profile with <code>go tool pprof URL</code>.</p>\n"
		     "<table>\n<thead><tr><th>Count</th><th>Profile</th><th></th></tr></thead>\n");
	static const char *const rows[][2] = {
		{"allocs", "A sampling of all past memory allocations (malloc family; CPROF_TRACE_MEM_RATE)."},
		{"block", "Stack traces that led to blocking on synchronization primitives (mutex, rwlock, condition "
			  "variable, semaphore, barrier, join): contentions and delay."},
		{"cmdline", "The command line of this program."},
		{"goroutine", "Stack traces of every live thread (pprof; debug=1: text with name, state and wait "
			      "channel, stopping no thread; debug=2: with stacks and file:line, stopping each thread "
			      "briefly: epoll_wait may then return EINTR)."},
		{"heap", "A sampling of memory allocations of live objects (?debug=1: text). allocs is the same "
			 "profile with alloc_space first."},
		{"mutex", "Stack traces of holders of contended mutexes and rwlocks, charged at the unlock with the "
			  "delay they caused."},
		{"profile", "CPU profile of the given seconds (30 by default)."},
		{"threadcreate", "Stack traces that led to the creation of new threads."},
		{"trace", "A trace of execution of this program for the given seconds (with the workers this process "
			  "forked); open it with <code>cprof-trace FILE</code>. <code>?last=N</code>: the last N seconds "
			  "the flight recorder holds, at once."},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const char *name = rows[i][0], *href = name;
		char count[32] = "";
		if (strcmp(name, "goroutine") == 0)
			snprintf(count, sizeof count, "%u", nthreads);
		else if (strcmp(name, "threadcreate") == 0)
			snprintf(count, sizeof count, "%llu", (unsigned long long)created);
		else if (strcmp(name, "block") == 0 || strcmp(name, "mutex") == 0 || strcmp(name, "heap") == 0 ||
			 strcmp(name, "allocs") == 0)
			snprintf(count, sizeof count, "%llu", (unsigned long long)cprof_pprof_count(name));
		if (strcmp(name, "profile") == 0)
			href = "profile?seconds=30";
		else if (strcmp(name, "trace") == 0)
			href = "trace?seconds=1";
		text_add(&t, "<tr><td>%s</td><td><a href=\"%s\">%s</a></td><td>%s</td></tr>\n", count, href, name,
			 rows[i][1]);
	}
	text_add(&t, "</table></body></html>\n");
	return respond_text(conn, &t, "text/html; charset=utf-8");
}

/* A gzip pprof profile built by fn (pprof_family.c). */
static enum MHD_Result serve_pprof(struct MHD_Connection *conn, const char *name, int (*fn)(struct trace_buf *))
{
	struct trace_buf b = {0};
	if (fn(&b)) {
		trace_buf_free(&b);
		return respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot build the %s profile: out of memory", name);
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		trace_buf_free(&b);
		return MHD_NO;
	}
	char disp[96];
	snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", name);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static int serve_heap_inuse(struct trace_buf *out)
{
	return cprof_pprof_heap(0, out);
}

static int serve_heap_allocs(struct trace_buf *out)
{
	return cprof_pprof_heap(1, out);
}

/* ?debug=N: 0 (pprof, the default) up to max; -1 when malformed. */
static int debug_arg(struct MHD_Connection *conn, int max)
{
	const char *d = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "debug");
	if (!d)
		return 0;
	if (strlen(d) == 1 && d[0] >= '0' && d[0] <= '0' + max)
		return d[0] - '0';
	return -1;
}

static enum MHD_Result serve_cmdline(struct MHD_Connection *conn)
{
	char *buf = malloc(CPROF_CMDLINE_MAX); /* per request: requests run concurrently */
	if (!buf)
		return respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	uint32_t n = cprof_read_cmdline(buf, CPROF_CMDLINE_MAX);
	enum MHD_Result r = respond(conn, MHD_HTTP_OK, "text/plain; charset=utf-8", buf, n);
	free(buf);
	return r;
}

static enum MHD_Result serve_trace(struct MHD_Connection *conn)
{
	const char *secs = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "seconds");
	const char *last = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "last");
	if (secs && last)
		return respond_error(conn, MHD_HTTP_BAD_REQUEST, "give seconds=N or last=N, not both");
	uint64_t ns = 1000000000;
	const char *why = NULL;
	if (secs || last)
		why = cprof_parse_seconds(secs ? secs : last, max_seconds, &ns);
	if (why)
		return respond_error(conn, MHD_HTTP_BAD_REQUEST,
				     "%s=%.40s: %s (decimal seconds, %g to %g)", secs ? "seconds" : "last",
				     secs ? secs : last, why, CPROF_SECONDS_MIN, max_seconds);
	struct MHD_Response *r = NULL;
	int rc = last ? cprof_http_trace_last(ns, &r)
		 : cprof_remote_is_tree() ? cprof_http_trace_tree(ns, &r) /* descendants too */
		      : cprof_http_trace_stream(ns, &r);
	if (rc == -EBUSY)
		return respond_error(conn, MHD_HTTP_CONFLICT, "a trace is already being collected");
	if (rc)
		return respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot trace: %s", strerror(-rc));
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, "attachment; filename=\"trace\"");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- /profile (the CPU profile; tracer/http/profile.c) ---- */
static enum MHD_Result serve_profile(struct MHD_Connection *conn)
{
	const char *secs = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "seconds");
	uint64_t ns = 30000000000ull; /* Go's default */
	const char *why = secs ? cprof_parse_seconds(secs, max_seconds, &ns) : NULL;
	if (why)
		return respond_error(conn, MHD_HTTP_BAD_REQUEST, "seconds=%.40s: %s (decimal seconds, %g to %g)", secs,
				     why, CPROF_SECONDS_MIN, max_seconds);
	struct MHD_Response *r = NULL;
	int rc = cprof_http_profile(ns, &r);
	if (rc == -EBUSY)
		return respond_error(conn, MHD_HTTP_CONFLICT, "a CPU profile is already being collected");
	if (rc == -ENOTSUP)
		return respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				     "cannot profile: the program handles the sampling signal (SIGRTMAX-3) itself");
	if (rc)
		return respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot profile: %s", strerror(-rc));
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, "attachment; filename=\"profile\"");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* One frame as pprof's text profiles print it: "#\t0xpc\tfunction\tfile:line". */
static void text_frame(struct text *t, uintptr_t pc, int leaf)
{
	struct cprof_frame f;
	cprof_symbolize(pc, leaf, &f);
	uint32_t n;
	const char *fn = cprof_string_get(f.function, &n), *file = cprof_string_get(f.file, &n);
	const char *mod = cprof_string_get(f.module, &n);
	text_add(t, "#\t%#lx\t%s", (unsigned long)pc, fn ? fn : "?");
	if (file)
		text_add(t, "\t%s:%u\n", file, f.line);
	else
		text_add(t, "\t%s+%#llx\n", mod ? mod : "?", (unsigned long long)f.module_offset);
}

static enum MHD_Result serve_threadcreate(struct MHD_Connection *conn)
{
	int debug = debug_arg(conn, 2);
	if (debug < 0)
		return respond_error(conn, MHD_HTTP_BAD_REQUEST, "debug: want 0, 1 or 2");
	if (debug == 0)
		return serve_pprof(conn, "threadcreate", cprof_pprof_threadcreate);
	enum { CAP = 4096 };
	uint32_t *ids = malloc(CAP * sizeof *ids), *counts = malloc(CAP * sizeof *counts), n = 0;
	if (!ids || !counts) {
		free(ids);
		free(counts);
		return respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	uint64_t total = cprof_threadcreate_counts(ids, counts, CAP, &n);
	struct text t = {0};
	text_add(&t, "threadcreate profile: total %llu\n", (unsigned long long)total);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t depth = 0;
		const uintptr_t *pcs = cprof_stack_get(ids[i], &depth);
		text_add(&t, "%u @", counts[i]);
		for (uint32_t k = 0; pcs && k < depth; k++)
			text_add(&t, " %#lx", (unsigned long)pcs[k]);
		text_add(&t, "\n");
		for (uint32_t k = 0; pcs && k < depth; k++)
			text_frame(&t, pcs[k], k == 0);
		text_add(&t, "\n");
	}
	free(ids);
	free(counts);
	return respond_text(conn, &t, "text/plain; charset=utf-8");
}

static enum MHD_Result serve_goroutine(struct MHD_Connection *conn)
{
	int debug = debug_arg(conn, 2);
	if (debug < 0)
		return respond_error(conn, MHD_HTTP_BAD_REQUEST, "debug: want 0, 1 or 2");
	if (debug == 0)
		return serve_pprof(conn, "goroutine", cprof_pprof_goroutine);
	struct text t = {0};
	cprof_threads_dump(&t, debug);
	return respond_text(conn, &t, "text/plain; charset=utf-8");
}

static enum MHD_Result serve(struct MHD_Connection *conn, const char *path, const char *method)
{
	unsigned deny = check_access(conn);
	if (deny == MHD_HTTP_UNAUTHORIZED)
		return respond_error(conn, deny, "unauthorized: send Authorization: Bearer <CPROF_TRACE_TOKEN>");
	if (deny == MHD_HTTP_SERVICE_UNAVAILABLE)
		return respond_error(conn, deny, "refused: CPROF_TRACE_TOKEN is longer than %d bytes", TOKEN_MAX);
	if (deny)
		return respond_error(conn, deny, "forbidden: /debug/pprof answers loopback clients only");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return respond_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method %.16s not allowed: use GET", method);
	if (!*path || strcmp(path, "/") == 0)
		return serve_index(conn);
	if (strcmp(path, "/trace") == 0)
		return serve_trace(conn);
	if (strcmp(path, "/profile") == 0)
		return serve_profile(conn);
	if (strcmp(path, "/cmdline") == 0)
		return serve_cmdline(conn);
	if (strcmp(path, "/threadcreate") == 0)
		return serve_threadcreate(conn);
	if (strcmp(path, "/goroutine") == 0)
		return serve_goroutine(conn);
	if (strcmp(path, "/heap") == 0 || strcmp(path, "/allocs") == 0) {
		/* ?gc=1 is accepted (C has no collector: nothing to run first) */
		int debug = debug_arg(conn, 2);
		if (debug < 0)
			return respond_error(conn, MHD_HTTP_BAD_REQUEST, "debug: want 0, 1 or 2");
		if (debug) {
			struct text t = {0};
			cprof_heap_text(&t);
			return respond_text(conn, &t, "text/plain; charset=utf-8");
		}
		return path[1] == 'h' ? serve_pprof(conn, "heap", serve_heap_inuse) : serve_pprof(conn, "allocs", serve_heap_allocs);
	}
	if (strcmp(path, "/block") == 0 || strcmp(path, "/mutex") == 0) {
		int debug = debug_arg(conn, 2);
		if (debug < 0)
			return respond_error(conn, MHD_HTTP_BAD_REQUEST, "debug: want 0, 1 or 2");
		if (debug) {
			struct text t = {0};
			cprof_contention_text(path[1] == 'm', &t);
			return respond_text(conn, &t, "text/plain; charset=utf-8");
		}
		return path[1] == 'b' ? serve_pprof(conn, "block", cprof_pprof_block) : serve_pprof(conn, "mutex", cprof_pprof_mutex);
	}
	return respond_error(conn, MHD_HTTP_NOT_FOUND, "unknown profile: %.100s (see /debug/pprof/)", path);
}

CPROF_API int cprof_http_dispatch(struct MHD_Connection *conn, const char *url, const char *method, int *result)
{
	if (!url || strncmp(url, "/debug/pprof", 12) != 0 || (url[12] && url[12] != '/'))
		return 0;
	struct cprof_thread *self = cprof_me();
	self->busy++; /* serving is the tracer's own work, whichever thread does it */
	policy_load();
	*result = serve(conn, url + 12, method);
	self->busy--;
	return 1;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)cls, (void)version, (void)upload, (void)con_cls;
	if (*upload_size) { /* we take no bodies */
		*upload_size = 0;
		return MHD_YES;
	}
	int result;
	if (cprof_http_dispatch(conn, url, method, &result))
		return (enum MHD_Result)result;
	cprof_me()->busy++;
	enum MHD_Result r = respond_error(conn, MHD_HTTP_NOT_FOUND, "not found: %.100s (see /debug/pprof/)", url);
	cprof_me()->busy--;
	return r;
}

/* ---- the daemon ---- */

/* Parses "host:port", "[v6]:port", ":port" or "unix:/path" into a bound,
 * listening socket; sets *loopback. Returns the fd or -errno, with why. */
static int open_listener(const char *addr, int *loopback, char *why, size_t whylen)
{
	if (strncmp(addr, "unix:", 5) == 0) {
		const char *path = addr + 5;
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		if (!*path || strlen(path) >= sizeof sun.sun_path) {
			snprintf(why, whylen, "unix socket path empty or longer than %zu bytes", sizeof sun.sun_path - 1);
			return -EINVAL;
		}
		strcpy(sun.sun_path, path);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path); /* a stale socket of an earlier run */
		/* chmod before listen: nobody can connect while the mode is wider */
		if (bind(fd, (struct sockaddr *)&sun, sizeof sun) || chmod(path, 0600) || listen(fd, 64)) {
			int e = errno;
			snprintf(why, whylen, "%s: %s", path, strerror(e));
			close(fd);
			return -e;
		}
		snprintf(unix_path, sizeof unix_path, "%s", path);
		*loopback = 1;
		return fd;
	}
	char host[256];
	const char *colon = strrchr(addr, ':');
	if (!colon || !colon[1] || strlen(addr) >= sizeof host) {
		snprintf(why, whylen, "want host:port, [ipv6]:port or unix:/path");
		return -EINVAL;
	}
	size_t hl = (size_t)(colon - addr);
	memcpy(host, addr, hl);
	host[hl] = 0;
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = 0;
	}
	long port = cprof_parse_port(colon + 1); /* "127.0.0.1: 80" is not port 80 */
	if (port < 0) {
		snprintf(why, whylen, "bad port \"%s\"", colon + 1);
		return -EINVAL;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &res);
	if (gai) {
		snprintf(why, whylen, "%.200s: %s", host, gai_strerror(gai));
		return -EINVAL;
	}
	*loopback = is_loopback(res->ai_addr);
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 64)) {
		int e = errno;
		snprintf(why, whylen, "%s: %s", addr, strerror(e));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -e;
	}
	freeaddrinfo(res);
	return fd;
}

static int start(const char *addr)
{
	if (daemon_)
		return -EALREADY;
	policy_load();
	if (token_refused) {
		fprintf(stderr, "cprof-trace: not serving /debug/pprof on %s: CPROF_TRACE_TOKEN is too long\n", addr);
		return -EINVAL;
	}
	char why[256] = "";
	int loopback = 0;
	unix_path[0] = 0;
	int fd = open_listener(addr, &loopback, why, sizeof why);
	if (fd < 0) {
		fprintf(stderr, "cprof-trace: cannot serve /debug/pprof on %s: %s\n", addr, why);
		return fd;
	}
	const char *allow = getenv("CPROF_TRACE_ALLOW_REMOTE");
	if (!loopback && !(allow && strcmp(allow, "1") == 0 && token[0])) {
		fprintf(stderr,
			"cprof-trace: refusing to serve /debug/pprof on %s: not a loopback address, and the "
			"endpoints expose the program's data. Set CPROF_TRACE_ALLOW_REMOTE=1 and "
			"CPROF_TRACE_TOKEN=<secret> to serve it with bearer-token authentication.\n", addr);
		close(fd);
		if (unix_path[0])
			unlink(unix_path);
		return -EPERM;
	}
	/* Idle connections (half-open, a client that stops reading) close
	 * after CONNECTION_TIMEOUT; one client address holds at most
	 * PER_IP_LIMIT of the CONNECTION_LIMIT connections. */
	daemon_ = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
				   handle, NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT,
				   (unsigned)CONNECTION_TIMEOUT, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
				   MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PER_IP_LIMIT, MHD_OPTION_END);
	if (!daemon_) {
		fprintf(stderr, "cprof-trace: cannot start the HTTP server on %s\n", addr);
		close(fd);
		return -EIO;
	}
	char buf[300];
	if (unix_path[0]) {
		snprintf(buf, sizeof buf, "unix:%s", unix_path);
	} else {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		char h[INET6_ADDRSTRLEN] = "?";
		getsockname(fd, (struct sockaddr *)&ss, &len);
		unsigned port = 0;
		if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, h, sizeof h);
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
			snprintf(buf, sizeof buf, "%s:%u", h, port);
		} else {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, h, sizeof h);
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
			snprintf(buf, sizeof buf, "[%s]:%u", h, port);
		}
	}
	struct address_node *a = malloc(sizeof *a + strlen(buf) + 1); /* never freed (see `address`) */
	if (a) {
		memcpy(a->s, buf, strlen(buf) + 1);
		a->next = addresses;
		addresses = a;
	}
	/* release: published once complete */
	atomic_store_explicit(&address, a ? a->s : NULL, memory_order_release);
	fprintf(stderr, "cprof-trace: serving /debug/pprof/ on %s%s%s\n", unix_path[0] ? "" : "http://", buf,
		unix_path[0] ? "" : "/debug/pprof/");
	return 0;
}

CPROF_API int cprof_http_start(const char *addr)
{
	if (!addr)
		return -EINVAL;
	struct cprof_thread *self = cprof_me();
	self->busy++; /* the daemon's threads are created by a tracer call: never traced */
	pthread_mutex_lock(&server_lock);
	int rc = start(addr);
	pthread_mutex_unlock(&server_lock);
	self->busy--;
	return rc;
}

CPROF_API int cprof_http_stop(void)
{
	struct cprof_thread *self = cprof_me();
	self->busy++;
	pthread_mutex_lock(&server_lock);
	int rc = -ENOENT;
	if (daemon_) {
		MHD_stop_daemon(daemon_); /* closes the listening socket it was given */
		daemon_ = NULL;
		atomic_store_explicit(&address, NULL, memory_order_release);
		if (unix_path[0])
			unlink(unix_path);
		unix_path[0] = 0;
		rc = 0;
	}
	pthread_mutex_unlock(&server_lock);
	self->busy--;
	return rc;
}

CPROF_API const char *cprof_http_address(void)
{
	/* acquire: the string's bytes were written before the pointer */
	return atomic_load_explicit(&address, memory_order_acquire);
}

void cprof_http_autostart(void)
{
	policy_load(); /* at load, single-threaded: unsetenv of the token is safe */
	cprof_threads_dump_init();
	char addr[300];
	const char *env = getenv("CPROF_TRACE_ADDR");
	if (!env || !*env)
		return;
	snprintf(addr, sizeof addr, "%s", env);
	unsetenv("CPROF_TRACE_ADDR"); /* one address, one process: children do not try it */
	cprof_http_start(addr);
}

void cprof_http_after_fork_child(void)
{
	/* The daemon's threads do not exist here; its sockets are the parent's. */
	if (daemon_) {
		const union MHD_DaemonInfo *di = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_LISTEN_FD);
		if (di)
			close(di->listen_fd);
	}
	daemon_ = NULL;
	atomic_store_explicit(&address, NULL, memory_order_relaxed);
	unix_path[0] = 0;
	pthread_mutex_init(&server_lock, NULL);
}
