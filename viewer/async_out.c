/*
 * async_out.h: one writer thread, two buffers. The producer owns the buffer
 * it fills; the thread owns `queued` from the swap that queued it until it
 * sets queued back to NULL (under mu), so a buffer is never written and
 * filled at once.
 */
#include "async_out.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *writer(void *arg)
{
	struct async_out *a = arg;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!a->queued && !a->stop)
			pthread_cond_wait(&a->cv, &a->mu);
		if (!a->queued)
			break; /* stop, and nothing left */
		char *p = a->queued;
		size_t n = a->queued_len;
		int failed = a->err;
		pthread_mutex_unlock(&a->mu);
		int e = failed ? 0 : write_all(a->fd, p, n); /* after an error: drop the rest */
		pthread_mutex_lock(&a->mu);
		if (e && !a->err)
			a->err = e;
		a->queued = NULL;
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

char *async_out_start(struct async_out *a, int fd, size_t cap)
{
	*a = (struct async_out){.fd = fd, .cap = cap};
	a->bufs[0] = malloc(cap);
	a->bufs[1] = malloc(cap);
	if (!a->bufs[0] || !a->bufs[1] || pthread_mutex_init(&a->mu, NULL))
		goto fail;
	if (pthread_cond_init(&a->cv, NULL)) {
		pthread_mutex_destroy(&a->mu);
		goto fail;
	}
	if (pthread_create(&a->thread, NULL, writer, a)) {
		pthread_cond_destroy(&a->cv);
		pthread_mutex_destroy(&a->mu);
		goto fail;
	}
	return a->bufs[0];
fail:
	free(a->bufs[0]);
	free(a->bufs[1]);
	*a = (struct async_out){0};
	return NULL;
}

char *async_out_swap(struct async_out *a, char *buf, size_t len)
{
	pthread_mutex_lock(&a->mu);
	while (a->queued) /* the other buffer is still being written */
		pthread_cond_wait(&a->cv, &a->mu);
	a->queued = buf;
	a->queued_len = len;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	return buf == a->bufs[0] ? a->bufs[1] : a->bufs[0];
}

int async_out_finish(struct async_out *a)
{
	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	int err = a->err;
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a->bufs[0]);
	free(a->bufs[1]);
	*a = (struct async_out){0};
	return err;
}
