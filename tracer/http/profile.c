/*
 * /debug/pprof/profile?seconds=N responses: a CPU profile of the next N
 * seconds, as Go serves it (gzip pprof, 100 Hz by default).
 *
 * One profile at a time (a second request gets 409, like Go); it runs
 * whether or not a trace capture runs and never stops one (sampling is
 * reference-counted, and the per-stack counters only grow: the profile is
 * the difference of two snapshots). The response's content reader, on the
 * connection's thread (the daemons run a thread per connection), waits out
 * the window, then builds and sends the profile. A client that goes away
 * ends the profile when libmicrohttpd frees the response.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "http/http.h"
#include "profiles/cpu.h"
#include "profiles/profile.h"
#include "stacks/stack.h"

struct profile {
	uint64_t *before;        /* counts at the start, CPROF_STACK_IDS + 1 */
	uint64_t start_real_ns;  /* CLOCK_REALTIME at the start */
	uint64_t start_mono_ns, deadline_ns; /* CLOCK_MONOTONIC */
	int sampling;            /* cprof_cpu_start() succeeded, not yet stopped */
	int built;
	struct trace_buf gz;     /* the profile, once built */
	size_t sent;
};

static _Atomic int profiling; /* a profile request is in progress */

static uint64_t ns_of(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void finish(struct profile *p)
{
	if (p->sampling) {
		cprof_cpu_stop();
		p->sampling = 0;
	}
}

static int build(struct profile *p)
{
	uint64_t end = ns_of(CLOCK_MONOTONIC);
	finish(p);
	uint64_t *after = malloc((CPROF_STACK_IDS + 1) * sizeof *after);
	if (!after)
		return -ENOMEM;
	cprof_cpu_counts(after);
	int rc = cprof_cpu_profile_build(p->before, after, cprof_cpu_profile_hz(), p->start_real_ns,
					 end - p->start_mono_ns, &p->gz);
	free(after);
	return rc;
}

static ssize_t profile_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct profile *p = cls;
	struct cprof_thread *self = cprof_me();
	self->busy++; /* the wait and the work are the tracer's, whoever's thread this is */
	ssize_t n = MHD_CONTENT_READER_END_WITH_ERROR;
	if (!p->built) {
		for (uint64_t now; (now = ns_of(CLOCK_MONOTONIC)) < p->deadline_ns;) {
			uint64_t left = p->deadline_ns - now;
			struct timespec d = {(time_t)(left / 1000000000u), (long)(left % 1000000000u)};
			nanosleep(&d, NULL);
		}
		if (build(p))
			goto out;
		p->built = 1;
	}
	if (p->sent == p->gz.len) {
		n = MHD_CONTENT_READER_END_OF_STREAM;
		goto out;
	}
	n = (ssize_t)(p->gz.len - p->sent < max ? p->gz.len - p->sent : max);
	memcpy(buf, p->gz.p + p->sent, (size_t)n);
	p->sent += (size_t)n;
out:
	self->busy--;
	return n;
}

static void profile_free(void *cls)
{
	struct profile *p = cls;
	struct cprof_thread *self = cprof_me();
	self->busy++;
	finish(p);
	trace_buf_free(&p->gz);
	free(p->before);
	free(p);
	atomic_store_explicit(&profiling, 0, memory_order_release);
	self->busy--;
}

int cprof_http_profile(uint64_t duration_ns, struct MHD_Response **out)
{
	int expect = 0;
	if (!atomic_compare_exchange_strong(&profiling, &expect, 1))
		return -EBUSY;
	struct profile *p = calloc(1, sizeof *p);
	if (p)
		p->before = malloc((CPROF_STACK_IDS + 1) * sizeof *p->before);
	if (!p || !p->before) {
		free(p);
		atomic_store(&profiling, 0);
		return -ENOMEM;
	}
	int rc = cprof_cpu_start();
	if (rc) {
		free(p->before);
		free(p);
		atomic_store(&profiling, 0);
		return rc;
	}
	p->sampling = 1;
	cprof_cpu_counts(p->before);
	p->start_real_ns = ns_of(CLOCK_REALTIME);
	p->start_mono_ns = ns_of(CLOCK_MONOTONIC);
	p->deadline_ns = p->start_mono_ns + duration_ns;
	*out = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, profile_read, p, profile_free);
	if (!*out) {
		profile_free(p);
		return -ENOMEM;
	}
	return 0;
}
