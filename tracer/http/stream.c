/*
 * /debug/pprof/trace responses: a timed capture streamed through a bounded
 * queue.
 *
 * The capture's drainer is the producer (the sink below); libmicrohttpd's
 * content reader, on the connection's own thread (the daemons run a thread
 * per connection), is the consumer. At most STREAM_MAX bytes wait in the
 * queue: a client reading slowly makes the drainer wait, the rings then fill
 * and writers drop and count, so memory never grows with the duration and
 * the file stays complete and valid. A client that goes away makes the sink
 * fail at once; the capture then ends and the next one can start.
 */
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture/capture.h"
#include "http/http.h"
#include "core/internal.h"

#define STREAM_MAX (4u << 20) /* bytes queued for the client at most */

struct stream {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int exiting;        /* the process exits: the sink never waits */
	struct trace_buf q; /* bytes [head, q.len) not yet sent */
	size_t head;
	int done;           /* the capture wrote its end marker (or failed) */
	int aborted;        /* the client is gone */
	cprof_capture_handle capture; /* this response's capture: the only one it ends */
};

/* The stream being served, so that exit can finish it; NULL when none.
 * Guarded by streams_mu; streams_cv signals it became NULL. */
static pthread_mutex_t streams_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t streams_cv = PTHREAD_COND_INITIALIZER;
static struct stream *active;
static pid_t active_pid; /* a fork or vfork child must not end the parent's */

static int stream_sink(void *ctx, const void *buf, size_t len)
{
	struct stream *s = ctx;
	pthread_mutex_lock(&s->mu);
	while (!s->aborted && !s->exiting && s->q.len - s->head > STREAM_MAX)
		pthread_cond_wait(&s->cv, &s->mu);
	int rc = s->aborted ? -EPIPE : trace_buf_put(&s->q, buf, len);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static void stream_done(void *ctx, int rc)
{
	(void)rc;
	struct stream *s = ctx;
	pthread_mutex_lock(&s->mu);
	s->done = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct stream *s = cls;
	pthread_mutex_lock(&s->mu);
	while (s->q.len == s->head && !s->done)
		pthread_cond_wait(&s->cv, &s->mu);
	size_t n = s->q.len - s->head;
	if (n == 0) { /* done and drained */
		pthread_mutex_unlock(&s->mu);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	if (n > max)
		n = max;
	memcpy(buf, s->q.p + s->head, n);
	s->head += n;
	if (s->head == s->q.len) {
		s->q.len = s->head = 0;
	} else if (s->head > STREAM_MAX) { /* compact */
		memmove(s->q.p, s->q.p + s->head, s->q.len - s->head);
		s->q.len -= s->head;
		s->head = 0;
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return (ssize_t)n;
}

/* Called by libmicrohttpd when the response is finished or abandoned. */
static void stream_free(void *cls)
{
	struct stream *s = cls;
	pthread_mutex_lock(&streams_mu);
	if (active == s)
		active = NULL;
	pthread_cond_broadcast(&streams_cv);
	pthread_mutex_unlock(&streams_mu);
	pthread_mutex_lock(&s->mu);
	s->aborted = 1; /* a capture still running stops writing at once */
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	cprof_capture_end(s->capture); /* joins the drainer; frees the slot for the next capture */
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	trace_buf_free(&s->q);
	free(s);
}

int cprof_http_trace_stream(uint64_t duration_ns, struct MHD_Response **out)
{
	struct stream *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	struct capture_spec spec = {.sink = stream_sink, .ctx = s, .background = 1, .duration_ns = duration_ns,
				    .on_done = stream_done, .done_ctx = s, .fd = -1};
	int rc = cprof_capture_begin(&spec, &s->capture);
	if (rc) {
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return rc;
	}
	*out = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, s, stream_free);
	if (!*out) {
		stream_free(s);
		return -ENOMEM;
	}
	pthread_mutex_lock(&streams_mu);
	active = s; /* one capture at a time: one stream */
	active_pid = getpid();
	pthread_mutex_unlock(&streams_mu);
	return 0;
}

void cprof_http_finish_at_exit(void)
{
	pthread_mutex_lock(&streams_mu);
	struct stream *s = active;
	if (!s || active_pid != getpid()) {
		pthread_mutex_unlock(&streams_mu);
		return;
	}
	pthread_mutex_lock(&s->mu);
	s->exiting = 1; /* the tail is queued whole, whatever the client's pace */
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_unlock(&streams_mu);
	/* Writes the tail and the end marker into the queue (s stays alive:
	 * only the connection's stream_free frees it, after this returns). */
	cprof_capture_end(s->capture);
	/* Let the connection thread send the rest, for at most 2 s. s is
	 * touched only while it is still `active` (stream_free unlinks it
	 * under streams_mu before freeing it). */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	pthread_mutex_lock(&streams_mu);
	if (active == s) {
		pthread_mutex_lock(&s->mu);
		s->done = 1;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	while (active == s && pthread_cond_timedwait(&streams_cv, &streams_mu, &until) == 0)
		;
	pthread_mutex_unlock(&streams_mu);
}

int cprof_http_trace_last(uint64_t last_ns, struct MHD_Response **out)
{
	struct trace_buf b = {0};
	int rc = cprof_capture_flight(trace_sink_buf, &b, last_ns);
	if (rc) {
		trace_buf_free(&b);
		return rc;
	}
	*out = MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_FREE);
	if (!*out) {
		trace_buf_free(&b);
		return -ENOMEM;
	}
	return 0;
}

int cprof_http_trace_tree(uint64_t duration_ns, struct MHD_Response **out)
{
	int fd;
	int rc = cprof_remote_capture(duration_ns, &fd);
	if (rc)
		return rc;
	off_t size = lseek(fd, 0, SEEK_END);
	*out = size > 0 ? MHD_create_response_from_fd((uint64_t)size, fd) : NULL;
	if (!*out) {
		close(fd);
		return size < 0 ? -errno : -ENOMEM;
	}
	return 0; /* the response owns fd */
}
