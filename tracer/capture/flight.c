/*
 * Flight snapshots (?last=N): what the rings hold in FLIGHT mode, copied
 * while writers keep overwriting the oldest blocks, validated against
 * those overwrites (the protocol is in core/internal.h), and decoded from
 * the copy.
 */
#include <errno.h>
#include <stdlib.h>

#include "capture/session.h"

/* Copies a ring's memory while its writer may be overwriting it; the copy
 * is validated afterwards, so the race is intended. */
__attribute__((no_sanitize("thread"))) static void copy_racy(uint8_t *dst, const uint8_t *src, size_t n)
{
	const volatile uint64_t *s = (const volatile uint64_t *)src;
	uint64_t *d = (uint64_t *)dst;
	for (size_t i = 0; i < n / 8; i++)
		d[i] = s[i];
}

/* Decodes the blocks of ring r that survived the copy in `copy`. */
static void snapshot_ring(struct capture *c, struct ring *r, uint8_t *copy, uint64_t min_ts)
{
	uint32_t gen = atomic_load_explicit(&r->generation, memory_order_acquire);
	uint64_t h1 = atomic_load_explicit(&r->head, memory_order_acquire);
	if (!h1)
		return;
	copy_racy(copy, r->base, r->size);
	atomic_thread_fence(memory_order_acquire);
	uint64_t h2 = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (atomic_load_explicit(&r->generation, memory_order_relaxed) != gen)
		return; /* the ring changed owner during the copy */
	uint64_t nblocks = r->size / r->block;
	uint64_t lo = h1 / r->block + 1 > nblocks ? h1 / r->block + 1 - nblocks : 0;
	uint64_t torn = h2 / r->block + 2 > nblocks ? h2 / r->block + 2 - nblocks : 0;
	if (torn > lo)
		lo = torn;
	if (lo * r->block >= h1)
		return;
	struct ring_drain *d = capture_drain_of(c, r);
	if (!d)
		return;
	d->batch_gen = 0;
	decode_span(c, r, d, copy, lo * r->block, h1, min_ts, gen);
	/* Wrapped: blocks before lo were overwritten. When the oldest kept
	 * block is younger than the window, the thread's first part of the
	 * window is gone, and the trace says from when it holds it. */
	const uint64_t *first = (const uint64_t *)(copy + ((lo * r->block) & (r->size - 1)));
	if (lo > 0 && ring_kind(first[0]) == CPROF_EV_BLOCK_START && first[1] > min_ts)
		decode_flight_from(c, r, d, first[1]);
	decode_flush(c, r, d);
	d->batch_gen = 0;
}

int flight_snapshot(struct capture *c, cprof_sink_fn sink, void *ctx, uint64_t last_ns)
{
	capture_reset(c, sink, ctx);
	uint64_t now = cprof_clock_now();
	uint64_t span = (uint64_t)((double)last_ns * (double)cprof_clock_ticks_per_sec() / 1e9);
	uint64_t min_ts = now > span ? now - span : 0;
	c->start_ticks = min_ts;
	drain_write_header(c);
	int rc = 0;
	uint8_t *copy = NULL;
	size_t copy_size = 0;
	for (struct ring *r = cprof_rings_first(); r && !c->w.error; r = r->next) {
		if (atomic_load_explicit(&r->state, memory_order_acquire) == RING_FREE)
			continue;
		if (copy_size < r->size) {
			free(copy);
			copy = malloc(r->size);
			copy_size = copy ? r->size : 0;
			if (!copy) {
				rc = -ENOMEM;
				break;
			}
		}
		snapshot_ring(c, r, copy, min_ts);
	}
	free(copy);
	drain_write_tail(c);
	return rc;
}
