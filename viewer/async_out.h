/*
 * A file descriptor written from a second thread: the caller fills one
 * buffer while the thread writes the other (-json writes ~1 GB for 10 M
 * events; write() and the page cache's copy then run on the other core).
 * One producer; two buffers of the same size.
 */
#ifndef CPROF_ASYNC_OUT_H
#define CPROF_ASYNC_OUT_H

#include <pthread.h>
#include <stddef.h>

struct async_out {
	int fd;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;    /* signalled when a buffer is queued, written, or on stop */
	char *bufs[2];
	size_t cap;           /* bytes in each buffer */
	char *queued;         /* the buffer being written (NULL: none); mu */
	size_t queued_len;    /* its bytes; mu */
	int stop;             /* no more buffers: the thread exits when idle; mu */
	int err;              /* first write error (errno), 0 none; mu */
};

/* Starts the thread and returns the first buffer to fill (cap bytes), or
 * NULL (no memory or no thread: write synchronously instead). */
char *async_out_start(struct async_out *a, int fd, size_t cap);
/* Queues buf's first len bytes and returns the other buffer to fill, once
 * the thread has written it. Never NULL. */
char *async_out_swap(struct async_out *a, char *buf, size_t len);
/* Waits until everything queued is written, ends the thread and frees the
 * buffers. Returns 0, or the first write error (errno). */
int async_out_finish(struct async_out *a);

#endif
