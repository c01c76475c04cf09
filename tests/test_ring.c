/*
 * Rings through the capture paths, on small rings (64 KiB, 4 KiB blocks):
 * wrap-around with nothing lost, exact drop accounting when the drainer
 * falls behind, flight-recorder snapshots, and snapshots taken while a
 * writer overwrites the ring (every snapshot must be a gap-free run).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/capture.h"
#include "check.h"
#include "core/internal.h"
#include "profiles/cpu.h"
#include "trace_load.h"

/* Counts events of kind on tid, and checks "seq" logs run first..first+n-1. */
static long seq_run(const struct loaded *t, uint32_t tid, long *first)
{
	long n = 0, expect = -1;
	for (size_t i = 0; i < t->n; i++) {
		const struct trace_event *ev = &t->ev[i].ev;
		if (ev->tid != tid || ev->kind != CPROF_EV_LOG)
			continue;
		long v = strtol(t->ev[i].msg, NULL, 10);
		if (expect >= 0 && v != expect)
			return -1; /* a gap or disorder */
		if (expect < 0)
			*first = v;
		expect = v + 1;
		n++;
	}
	return n;
}

static void record_seq(long from, long to)
{
	for (long i = from; i < to; i++) {
		TRACE_REGION("outer");
		TRACE_LOG("seq", "%ld", i);
	}
}

static void test_wraparound(void)
{
	struct trace_buf out = {0};
	struct capture_spec spec = {.sink = trace_sink_buf, .ctx = &out, .fd = -1};
	cprof_capture_handle h = 0, other = 0;
	CHECK(cprof_capture_begin(&spec, &h) == 0 && h != 0);
	CHECK(cprof_capture_begin(&spec, &other) == -EBUSY && other == 0); /* one at a time */
	CHECK(cprof_capture_end(h + 1) == -ENOENT); /* only its owner's handle ends it */
	const long n = 100000; /* ~5 MB of records through a 64 KiB ring */
	for (long i = 0; i < n; i += 500) {
		record_seq(i, i + 500);
		cprof_capture_pump(h);
	}
	CHECK(cprof_capture_end(h) == 0);
	CHECK(cprof_capture_end(h) == -ENOENT); /* a stale handle ends nothing */
	struct loaded t;
	CHECK(load_buf(&t, &out) == 0);
	long first = -1;
	CHECKF(seq_run(&t, cprof_gettid(), &first) == n && first == 0, "first %ld", first);
	CHECK(t.lost == 0);
	/* regions pair up, in order, named */
	long begins = 0, ends = 0, depth = 0, bad = 0;
	uint64_t last_ts = 0;
	for (size_t i = 0; i < t.n; i++) {
		const struct trace_event *ev = &t.ev[i].ev;
		/* the thread's own records in time order (the kernel's switch
		 * records of the pumping thread may precede its THREAD_START,
		 * which goes first by design) */
		if (ev->kind == CPROF_EV_SCHED_SWITCH_OUT || ev->kind == CPROF_EV_SCHED_SWITCH_IN)
			continue;
		if (ev->ts < last_ts)
			bad++;
		last_ts = ev->ts;
		if (ev->kind == CPROF_EV_REGION_BEGIN) {
			begins++;
			depth++;
			bad += strcmp(loaded_name(&t, ev->args[0]), "outer") != 0;
		} else if (ev->kind == CPROF_EV_REGION_END) {
			ends++;
			bad += --depth != 0;
			bad += strcmp(loaded_name(&t, ev->args[0]), "outer") != 0;
		}
	}
	CHECKF(begins == n && ends == n && bad == 0, "begins %ld ends %ld bad %ld", begins, ends, bad);
	CHECK(cprof_capture_corrupt() == 0);
	loaded_free(&t);
	trace_buf_free(&out);
}

static void test_drops(void)
{
	struct trace_buf out = {0};
	uint64_t dropped_before = cprof_trace_dropped();
	struct capture_spec spec = {.sink = trace_sink_buf, .ctx = &out, .fd = -1};
	cprof_capture_handle h;
	CHECK(cprof_capture_begin(&spec, &h) == 0);
	const long n1 = 20000, n2 = 3000;
	record_seq(0, n1); /* far more than 64 KiB, nobody draining: drops */
	uint64_t dropped1 = cprof_trace_dropped() - dropped_before;
	cprof_capture_pump(h);
	record_seq(n1, n1 + n2); /* room again: the writer reports its drops in-band */
	CHECK(cprof_capture_end(h) == 0);
	uint64_t dropped = cprof_trace_dropped() - dropped_before;
	struct loaded t;
	CHECK(load_buf(&t, &out) == 0);
	long logs = 0, inband = 0;
	for (size_t i = 0; i < t.n; i++) {
		logs += t.ev[i].ev.kind == CPROF_EV_LOG;
		if (t.ev[i].ev.kind == CPROF_EV_LOST)
			inband += (long)t.ev[i].ev.args[0];
	}
	/* every event is either delivered or counted as lost, exactly */
	uint64_t recorded = (uint64_t)(n1 + n2) * 3; /* begin, log, end */
	long regions = 0;
	for (size_t i = 0; i < t.n; i++)
		regions += t.ev[i].ev.kind == CPROF_EV_REGION_BEGIN || t.ev[i].ev.kind == CPROF_EV_REGION_END;
	CHECKF((uint64_t)(logs + regions) + t.lost == recorded, "%ld + %ld + %llu != %llu", logs, regions,
	       (unsigned long long)t.lost, (unsigned long long)recorded);
	CHECK(t.lost == dropped && dropped > 0);
	/* phase 1's drops were reported in-band once there was room again;
	 * drops still pending at the end are in the LOST chunk only */
	CHECKF((uint64_t)inband == dropped1 && dropped1 > 0, "in-band %ld, phase 1 %llu", inband,
	       (unsigned long long)dropped1);
	CHECK(logs > 0 && logs < n1 + n2);
	loaded_free(&t);
	trace_buf_free(&out);
}

static void test_flight(void)
{
	const long n = 30000;
	record_seq(0, n); /* FLIGHT mode: the ring keeps the newest */
	struct trace_buf out = {0};
	CHECK(cprof_capture_flight(trace_sink_buf, &out, 60000000000ull) == 0);
	struct loaded t;
	CHECK(load_buf(&t, &out) == 0);
	long first = -1, got = seq_run(&t, cprof_gettid(), &first);
	CHECKF(got > 100 && got < n && first + got == n, "got %ld first %ld", got, first);
	CHECK(t.lost == 0);
	/* the ring wrapped inside the 60 s window: the trace says from when
	 * it holds this thread (FLIGHT_FROM, at or before its first event) */
	long marks = 0;
	uint64_t mark_ts = 0, first_ts = UINT64_MAX;
	for (size_t i = 0; i < t.n; i++) {
		const struct trace_event *ev = &t.ev[i].ev;
		if (ev->tid != cprof_gettid())
			continue;
		if (ev->kind == CPROF_EV_FLIGHT_FROM)
			marks++, mark_ts = ev->ts;
		else if (ev->ts < first_ts)
			first_ts = ev->ts;
	}
	CHECKF(marks == 1 && mark_ts <= first_ts && mark_ts > t.r.header.start_ticks, "%ld marks", marks);
	loaded_free(&t);
	trace_buf_free(&out);

	/* a window of 1 ns holds (almost) nothing */
	CHECK(cprof_capture_flight(trace_sink_buf, &out, 1) == 0);
	CHECK(load_buf(&t, &out) == 0);
	CHECK(seq_run(&t, cprof_gettid(), &first) <= 1);
	loaded_free(&t);
	trace_buf_free(&out);
}

static atomic_int writer_stop;
static atomic_uint writer_tid;

static void *writer_main(void *arg)
{
	(void)arg;
	atomic_store(&writer_tid, cprof_gettid());
	for (long i = 0; !atomic_load(&writer_stop); i++) {
		TRACE_LOG("seq", "%ld", i);
	}
	return NULL;
}

static void test_flight_concurrent(void)
{
	pthread_t t;
	pthread_create(&t, NULL, writer_main, NULL);
	while (!atomic_load(&writer_tid))
		;
	int snapshots = 0, gapless = 0;
	long total = 0;
	for (int k = 0; k < 200; k++) {
		struct trace_buf out = {0};
		if (cprof_capture_flight(trace_sink_buf, &out, 60000000000ull) != 0)
			continue;
		struct loaded lt;
		if (load_buf(&lt, &out) == 0) {
			snapshots++;
			long first, got = seq_run(&lt, atomic_load(&writer_tid), &first);
			gapless += got >= 0;
			total += got > 0 ? got : 0;
		}
		loaded_free(&lt);
		trace_buf_free(&out);
	}
	atomic_store(&writer_stop, 1);
	pthread_join(t, NULL);
	CHECK(snapshots == 200);
	CHECKF(gapless == snapshots, "%d of %d snapshots had a gap (torn copy accepted)", snapshots - gapless,
	       snapshots);
	CHECK(total > 0);
}

int main(void)
{
	cprof_rings_configure(64u << 10, 64u << 10);
	cprof_cpu_configure(0); /* exact drop accounting: no CPU samples in the rings */
	test_wraparound();
	test_drops();
	test_flight();
	test_flight_concurrent();
	return check_done("test_ring");
}
