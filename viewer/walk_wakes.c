/*
 * The wake-up index of the walk (pass 1): per target thread, the times of
 * the WAKEUP events that named it and who recorded them, sorted, so pass 2
 * finds the edge that ended a block with one binary search. Threads'
 * batches interleave in the file, so a waker's WAKEUP may be read after the
 * woken thread's block: that is why this is a separate pass.
 */
#include <stdlib.h>

#include "grow.h"
#include "walk_internal.h"

struct wake_edge {
	int64_t ts;     /* ns */
	uint32_t waker; /* tid */
};

struct wake_list {
	struct wake_edge *e; /* sorted by ts after wakes_sort */
	uint32_t n, cap;
};

struct walk_wakes {
	struct u64map map; /* target tid -> index + 1 into lists */
	struct wake_list *lists;
	uint32_t n, cap;
};

struct walk_wakes *wakes_create(void)
{
	return calloc(1, sizeof(struct walk_wakes));
}

int wakes_add(struct walk_wakes *k, uint32_t target, uint32_t waker, int64_t ts)
{
	uint32_t i = u64map_get(&k->map, target);
	if (!i) {
		if (GROW(k->lists, k->n, k->cap, 16))
			return -1;
		k->lists[k->n] = (struct wake_list){0};
		if (u64map_put(&k->map, target, ++k->n))
			return -1;
		i = k->n;
	}
	struct wake_list *l = &k->lists[i - 1];
	if (GROW(l->e, l->n, l->cap, 64))
		return -1;
	l->e[l->n++] = (struct wake_edge){ts, waker};
	return 0;
}

static int by_ts(const void *a, const void *b)
{
	int64_t x = ((const struct wake_edge *)a)->ts, y = ((const struct wake_edge *)b)->ts;
	return (x > y) - (x < y);
}

void wakes_sort(struct walk_wakes *k)
{
	for (uint32_t i = 0; i < k->n; i++)
		qsort(k->lists[i].e, k->lists[i].n, sizeof *k->lists[i].e, by_ts);
}

int64_t wakes_first(const struct walk_wakes *k, uint32_t target, int64_t begin, int64_t end, uint32_t *waker)
{
	*waker = 0;
	uint32_t i = u64map_get(&k->map, target);
	if (!i)
		return -1;
	const struct wake_list *l = &k->lists[i - 1];
	uint32_t lo = 0, hi = l->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (l->e[mid].ts < begin)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == l->n || l->e[lo].ts > end)
		return -1;
	*waker = l->e[lo].waker;
	return l->e[lo].ts;
}

void wakes_free(struct walk_wakes *k)
{
	if (!k)
		return;
	for (uint32_t i = 0; i < k->n; i++)
		free(k->lists[i].e);
	free(k->lists);
	u64map_free(&k->map);
	free(k);
}
