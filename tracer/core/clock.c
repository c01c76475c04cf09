/*
 * Timestamps: the TSC when the CPU says it is invariant (constant rate,
 * runs in deep C-states), calibrated against CLOCK_MONOTONIC; otherwise
 * CLOCK_MONOTONIC in ns. Calibration is lazy: the anchor pair is read at
 * load time and the rate is computed when a trace header is written, so the
 * longer the program ran, the more precise the rate, and start-up pays
 * nothing.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

int cprof_clock_tsc;

static uint64_t anchor_ticks; /* ticks at load */
static uint64_t anchor_mono;  /* CLOCK_MONOTONIC ns at load */

static uint64_t ns_of(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t cprof_clock_slow(void)
{
	return ns_of(CLOCK_MONOTONIC);
}

/* Reads ticks and CLOCK_MONOTONIC as close together as possible: the
 * monotonic read is bracketed by two tick reads, the closest of 5 tries. */
static void read_pair(uint64_t *ticks, uint64_t *mono)
{
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 5; i++) {
		uint64_t t0 = cprof_clock_now();
		uint64_t m = ns_of(CLOCK_MONOTONIC);
		uint64_t t1 = cprof_clock_now();
		if (t1 - t0 < best) {
			best = t1 - t0;
			*ticks = t0 + (t1 - t0) / 2;
			*mono = m;
		}
	}
}

void cprof_clock_init(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;
	/* CPUID 0x80000007 EDX bit 8: invariant TSC. */
	if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000007 &&
	    __get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8)))
		cprof_clock_tsc = 1;
	const char *force = getenv("CPROF_TRACE_CLOCK");
	if (force && strcmp(force, "monotonic") == 0)
		cprof_clock_tsc = 0;
#endif
	read_pair(&anchor_ticks, &anchor_mono);
}

int cprof_clock_calibrated(void)
{
	return !cprof_clock_tsc || ns_of(CLOCK_MONOTONIC) - anchor_mono >= 20000000u;
}

uint64_t cprof_clock_ticks_per_sec(void)
{
	if (!cprof_clock_tsc)
		return 1000000000u;
	uint64_t t, m;
	read_pair(&t, &m);
	if (m - anchor_mono < 20000000u) { /* under 20 ms of history: wait */
		struct timespec d = {0, (long)(20000000u - (m - anchor_mono))};
		nanosleep(&d, NULL);
		read_pair(&t, &m);
	}
	return (uint64_t)((double)(t - anchor_ticks) * 1e9 / (double)(m - anchor_mono) + 0.5);
}

uint64_t cprof_clock_rate_now(uint64_t min_ns)
{
	if (!cprof_clock_tsc)
		return 1000000000u;
	uint64_t t, m;
	read_pair(&t, &m);
	if (m - anchor_mono < min_ns) {
		struct timespec d = {0, (long)(min_ns - (m - anchor_mono))};
		nanosleep(&d, NULL);
		read_pair(&t, &m);
	}
	if (m - anchor_mono < (min_ns ? 50000u : 1000000u))
		return 0;
	return (uint64_t)((double)(t - anchor_ticks) * 1e9 / (double)(m - anchor_mono) + 0.5);
}

void cprof_clock_anchor(uint64_t *ticks, uint64_t *mono_ns, uint64_t *ticks_per_sec)
{
	*ticks_per_sec = cprof_clock_rate_now(0);
	read_pair(ticks, mono_ns);
}

static void header_anchors(struct cprof_header *h);

void cprof_clock_header_now(struct cprof_header *h, uint64_t min_ns)
{
	h->ticks_per_sec = cprof_clock_rate_now(min_ns);
	header_anchors(h);
}

void cprof_clock_header(struct cprof_header *h)
{
	h->ticks_per_sec = cprof_clock_ticks_per_sec();
	header_anchors(h);
}

static void header_anchors(struct cprof_header *h)
{
	read_pair(&h->anchor_ticks, &h->anchor_monotonic_ns);
	uint64_t real = ns_of(CLOCK_REALTIME), mono = ns_of(CLOCK_MONOTONIC);
	h->anchor_realtime_ns = real - (mono - h->anchor_monotonic_ns);
}
