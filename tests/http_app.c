/*
 * http_app: a libmicrohttpd application for the endpoint tests. Serves
 * /work (a little contended work inside a region) on its own daemon at
 * 127.0.0.1:PORT, mounts /debug/pprof/ on that daemon with
 * cprof_http_dispatch, and keeps 3 background threads busy. Prints
 * "port N" and, when the library's own server runs (CPROF_TRACE_ADDR),
 * "pprof ADDR". Runs until killed. HTTP_APP_NO_DAEMON=1: no daemon of its
 * own (then only the library's server runs; prints "port 0"). A fourth
 * thread waits in epoll_wait and counts EINTR results, served at /eintr.
 * HTTP_APP_EXIT_MS=N: exit(0) after N ms (a capture may be running).
 */
#include <cprof/trace.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long counter;

static __attribute__((noinline)) void *background(void *arg)
{
	(void)arg;
	for (;;) {
		TRACE_REGION("background");
		pthread_mutex_lock(&lock);
		counter++;
		usleep(100);
		pthread_mutex_unlock(&lock);
		usleep(200);
	}
	return NULL;
}

static _Atomic unsigned long eintr_count;

/* Waits in epoll_wait on an empty set, as event loops do; counts EINTR. */
static void *epoller(void *arg)
{
	(void)arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev;
	for (;;)
		if (epoll_wait(ep, &ev, 1, 200) < 0 && errno == EINTR)
			eintr_count++;
	return NULL;
}

static void *exit_later(void *arg)
{
	usleep((useconds_t)(long)arg * 1000);
	exit(0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *body, size_t *body_size, void **state)
{
	(void)cls, (void)version, (void)body, (void)body_size, (void)state;
	int result;
	if (cprof_http_dispatch(conn, url, method, &result))
		return (enum MHD_Result)result;
	if (strcmp(url, "/eintr") == 0) {
		char n[32];
		snprintf(n, sizeof n, "%lu\n", (unsigned long)eintr_count);
		struct MHD_Response *r = MHD_create_response_from_buffer(strlen(n), n, MHD_RESPMEM_MUST_COPY);
		enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (strcmp(url, "/work") != 0)
		return MHD_NO;
	uint64_t task = TRACE_TASK_BEGIN("request");
	char msg[64];
	{
		TRACE_REGION("work");
		pthread_mutex_lock(&lock);
		snprintf(msg, sizeof msg, "counter %020lu\n", counter++); /* fixed length: ab compares */
		pthread_mutex_unlock(&lock);
	}
	TRACE_TASK_END(task);
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(msg), msg, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	pthread_t t[4];
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, background, NULL);
	pthread_create(&t[3], NULL, epoller, NULL);
	const char *ex = getenv("HTTP_APP_EXIT_MS");
	pthread_t te;
	if (ex)
		pthread_create(&te, NULL, exit_later, (void *)atol(ex));
	if (getenv("HTTP_APP_NO_DAEMON")) {
		printf("port 0\n");
		if (cprof_http_address())
			printf("pprof %s\n", cprof_http_address());
		for (;;)
			pause();
	}
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
						NULL, NULL, on_request, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
						(unsigned)30, MHD_OPTION_END);
	if (!d)
		return perror("MHD_start_daemon"), 1;
	printf("port %u\n", MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
	if (cprof_http_address())
		printf("pprof %s\n", cprof_http_address());
	for (;;)
		pause();
}
