/*
 * pprof-demo: the seed article's demo server in C, traced with cprof-trace.
 *
 *   pprof-demo [-addr HOST:PORT] [-workers N]      (default 127.0.0.1:6060, 4)
 *
 *   /fib/?n=30&type=recursive|iterative   Fibonacci (recursive: n <= 40; iterative: n <= 92)
 *   /concat/?str=test&count=5000&version=v1|v2
 *                                         v1 prepends into a new string every step (quadratic,
 *                                         like the seed's concat); v2 appends into one buffer
 *   /debug/pprof/...                      cprof-trace's endpoints, on the same address
 *
 * Each request is a task ("request"). Connection threads (libmicrohttpd,
 * thread per connection) hand the work to a small worker pool through a
 * mutex + condition variable queue and wait for the result on a condition
 * variable of their own: the sync blocking profile shows pthread_cond_wait
 * on both sides, and the wake-ups feed the scheduler-latency profile.
 */
#define _GNU_SOURCE
#include <cprof/trace.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <arpa/inet.h>

#define FIB_RECURSIVE_MAX 40
#define FIB_ITERATIVE_MAX 92 /* fib(93) overflows 64 bits */
#define CONCAT_COUNT_MAX 20000
#define CONCAT_STR_MAX 64
#define WORKERS_MAX 64

/* ---- the handlers' work, as in the seed ---- */

__attribute__((noinline)) static uint64_t fib_recursive(unsigned n)
{
	return n < 2 ? n : fib_recursive(n - 1) + fib_recursive(n - 2);
}

__attribute__((noinline)) static uint64_t fib_iterative(unsigned n)
{
	uint64_t a = 0, b = 1;
	for (unsigned i = 0; i < n; i++) {
		uint64_t t = a + b;
		a = b;
		b = t;
	}
	return a;
}

/* The seed's concat: ret = str + ret, a new allocation every step. */
__attribute__((noinline)) static char *concat_v1(const char *str, unsigned count)
{
	size_t n = strlen(str), len = 0;
	char *ret = calloc(1, 1);
	for (unsigned i = 0; ret && i < count; i++) {
		char *next = malloc(len + n + 1);
		if (!next) {
			free(ret);
			return NULL;
		}
		memcpy(next, str, n);
		memcpy(next + n, ret, len + 1);
		free(ret);
		ret = next;
		len += n;
	}
	return ret;
}

/* concatV2: one buffer, appended to. */
__attribute__((noinline)) static char *concat_v2(const char *str, unsigned count)
{
	size_t n = strlen(str);
	char *ret = malloc(n * count + 1);
	if (!ret)
		return NULL;
	for (unsigned i = 0; i < count; i++)
		memcpy(ret + i * n, str, n);
	ret[n * count] = 0;
	return ret;
}

/* ---- the worker pool ---- */

enum job_kind { JOB_FIB_RECURSIVE, JOB_FIB_ITERATIVE, JOB_CONCAT_V1, JOB_CONCAT_V2 };

struct job {
	enum job_kind kind;
	unsigned n;
	char str[CONCAT_STR_MAX + 1];
	uint64_t task;
	/* result */
	uint64_t value;
	size_t length;
	int done, failed;
	pthread_cond_t done_cond;
	struct job *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t nonempty;
	struct job *head, *tail;
	int stopping;
} queue = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0};

static void run_job(struct job *j)
{
	TRACE_TASK_SET(j->task);
	switch (j->kind) {
	case JOB_FIB_RECURSIVE:
	case JOB_FIB_ITERATIVE: {
		TRACE_REGION("fib");
		if (j->kind == JOB_FIB_RECURSIVE) {
			TRACE_REGION("fib_recursive");
			j->value = fib_recursive(j->n);
		} else {
			TRACE_REGION("fib_iterative");
			j->value = fib_iterative(j->n);
		}
		break;
	}
	case JOB_CONCAT_V1:
	case JOB_CONCAT_V2: {
		TRACE_REGION("concat");
		char *s;
		if (j->kind == JOB_CONCAT_V1) {
			TRACE_REGION("concat_v1");
			s = concat_v1(j->str, j->n);
		} else {
			TRACE_REGION("concat_v2");
			s = concat_v2(j->str, j->n);
		}
		j->failed = !s;
		j->length = s ? strlen(s) : 0;
		free(s);
		break;
	}
	}
	TRACE_TASK_SET(0);
}

static void *worker_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&queue.lock);
	for (;;) {
		while (!queue.head && !queue.stopping)
			pthread_cond_wait(&queue.nonempty, &queue.lock);
		if (!queue.head)
			break; /* stopping and drained */
		struct job *j = queue.head;
		queue.head = j->next;
		if (!queue.head)
			queue.tail = NULL;
		pthread_mutex_unlock(&queue.lock);

		run_job(j);

		pthread_mutex_lock(&queue.lock);
		j->done = 1;
		pthread_cond_signal(&j->done_cond);
	}
	pthread_mutex_unlock(&queue.lock);
	return NULL;
}

/* Runs j on the pool and waits for it. */
static void submit_and_wait(struct job *j)
{
	pthread_cond_init(&j->done_cond, NULL);
	pthread_mutex_lock(&queue.lock);
	j->next = NULL;
	if (queue.tail)
		queue.tail->next = j;
	else
		queue.head = j;
	queue.tail = j;
	pthread_cond_signal(&queue.nonempty);
	while (!j->done)
		pthread_cond_wait(&j->done_cond, &queue.lock);
	pthread_mutex_unlock(&queue.lock);
	pthread_cond_destroy(&j->done_cond);
}

/* ---- HTTP ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
	char body[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof body)
		n = sizeof body - 1;
	struct MHD_Response *r = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A decimal query parameter in [lo, hi]: 0, -1 when missing, -2 when bad. */
static int query_uint(struct MHD_Connection *c, const char *key, unsigned lo, unsigned hi, unsigned *out)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
	if (!v)
		return -1;
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (!*v || *end || errno || *v == '-' || n < lo || n > hi)
		return -2;
	*out = (unsigned)n;
	return 0;
}

static enum MHD_Result handle_fib(struct MHD_Connection *c, struct job *j)
{
	const char *type = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "type");
	int recursive = !type || strcmp(type, "recursive") == 0;
	if (!recursive && strcmp(type, "iterative") != 0)
		return reply(c, 400, "type must be recursive or iterative\n");
	unsigned max = recursive ? FIB_RECURSIVE_MAX : FIB_ITERATIVE_MAX;
	j->n = 30;
	if (query_uint(c, "n", 0, max, &j->n) == -2)
		return reply(c, 400, "n must be an integer in 0..%u for type=%s\n", max, recursive ? "recursive" : "iterative");
	j->kind = recursive ? JOB_FIB_RECURSIVE : JOB_FIB_ITERATIVE;
	TRACE_LOG("request", "fib n=%u type=%s", j->n, recursive ? "recursive" : "iterative");
	submit_and_wait(j);
	return reply(c, 200, "fib(%u) = %" PRIu64 "\n", j->n, j->value);
}

static enum MHD_Result handle_concat(struct MHD_Connection *c, struct job *j)
{
	const char *str = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "str");
	const char *version = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "version");
	if (!str)
		str = "test";
	if (!*str || strlen(str) > CONCAT_STR_MAX)
		return reply(c, 400, "str must be 1..%d bytes\n", CONCAT_STR_MAX);
	if (version && strcmp(version, "v1") && strcmp(version, "v2"))
		return reply(c, 400, "version must be v1 or v2\n");
	j->n = 5000;
	if (query_uint(c, "count", 0, CONCAT_COUNT_MAX, &j->n) == -2)
		return reply(c, 400, "count must be an integer in 0..%d\n", CONCAT_COUNT_MAX);
	snprintf(j->str, sizeof j->str, "%s", str);
	j->kind = version && strcmp(version, "v2") == 0 ? JOB_CONCAT_V2 : JOB_CONCAT_V1;
	TRACE_LOG("request", "concat count=%u version=%s", j->n, j->kind == JOB_CONCAT_V2 ? "v2" : "v1");
	submit_and_wait(j);
	if (j->failed)
		return reply(c, 500, "out of memory\n");
	return reply(c, 200, "concat: %zu bytes\n", j->length);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *body, size_t *body_size, void **state)
{
	(void)cls, (void)version, (void)body, (void)body_size;
#ifndef CPROF_TRACE_DISABLE
	int result;
	if (cprof_http_dispatch(c, url, method, &result)) /* /debug/pprof/... */
		return (enum MHD_Result)result;
#endif
	/* libmicrohttpd calls twice: when the headers arrive, then when the
	 * request is complete. Answering only then keeps the connection alive. */
	if (!*state) {
		*state = c;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0)
		return reply(c, 405, "GET only\n");
	int fib = strcmp(url, "/fib/") == 0 || strcmp(url, "/fib") == 0;
	int concat = strcmp(url, "/concat/") == 0 || strcmp(url, "/concat") == 0;
	if (!fib && !concat) {
		if (strcmp(url, "/") == 0)
			return reply(c, 200, "pprof-demo: /fib/?n=30&type=recursive|iterative, "
					     "/concat/?str=test&count=5000&version=v1|v2, /debug/pprof/\n");
		return reply(c, 404, "not found: try /fib/?n=30 or /concat/?count=5000\n");
	}
	struct job j = {0};
	j.task = TRACE_TASK_BEGIN("request");
	enum MHD_Result ret = fib ? handle_fib(c, &j) : handle_concat(c, &j);
	TRACE_TASK_END(j.task);
	return ret;
}

static int parse_addr(const char *addr, struct sockaddr_storage *ss)
{
	const char *colon = strrchr(addr, ':');
	char host[256];
	if (!colon || (size_t)(colon - addr) >= sizeof host)
		return -1;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
	if (getaddrinfo(*host ? host : "127.0.0.1", colon + 1, &hints, &res))
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1:6060";
	int workers = 4;
	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "-addr") == 0 || strcmp(argv[i], "--addr") == 0) && i + 1 < argc)
			addr = argv[++i];
		else if ((strcmp(argv[i], "-workers") == 0 || strcmp(argv[i], "--workers") == 0) && i + 1 < argc)
			workers = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: pprof-demo [-addr HOST:PORT] [-workers N]\n");
			return 2;
		}
	}
	if (workers < 1 || workers > WORKERS_MAX) {
		fprintf(stderr, "pprof-demo: -workers must be 1..%d\n", WORKERS_MAX);
		return 2;
	}
	struct sockaddr_storage ss;
	if (parse_addr(addr, &ss)) {
		fprintf(stderr, "pprof-demo: -addr %s: want HOST:PORT\n", addr);
		return 2;
	}
	/* SIGINT/SIGTERM are taken by sigwait below, in every thread */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	pthread_t pool[WORKERS_MAX];
	for (int i = 0; i < workers; i++) {
		if (pthread_create(&pool[i], NULL, worker_main, NULL)) {
			fprintf(stderr, "pprof-demo: cannot start workers\n");
			return 1;
		}
		pthread_setname_np(pool[i], "worker");
	}
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &ss,
						MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "pprof-demo: cannot listen on %s: %s\n", addr, strerror(errno));
		return 1;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	char host[64] = "127.0.0.1";
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
	printf("pprof-demo: listening on http://%s:%u/ (%d workers); trace: wget -O dumps/trace "
	       "'http://%s:%u/debug/pprof/trace?seconds=5'\n",
	       host, info ? info->port : 0, workers, host, info ? info->port : 0);
	fflush(stdout);

	int sig;
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	pthread_mutex_lock(&queue.lock);
	queue.stopping = 1;
	pthread_cond_broadcast(&queue.nonempty);
	pthread_mutex_unlock(&queue.lock);
	for (int i = 0; i < workers; i++)
		pthread_join(pool[i], NULL);
	printf("pprof-demo: stopped\n");
	return 0;
}
