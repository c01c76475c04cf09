/*
 * The wake-up index of the walk: answers "the first WAKEUP naming thread T
 * in [begin, end]" for pass 2, whose memory does not grow with the number
 * of WAKEUP events.
 *
 * Threads' batches interleave in the file, so a waker's WAKEUP may be read
 * after the woken thread's block: pass 2 alone cannot answer. Two modes:
 *
 *   - small traces (at most wakes_max WAKEUPs, default WAKES_MAX_DEFAULT):
 *     pass 1 keeps every edge per target, sorted after pass 1 (16 bytes an
 *     edge, bounded by wakes_max);
 *   - otherwise pass 1 keeps, per batch holding WAKEUPs, the earliest of
 *     them (16 bytes a batch, not an event), and pass 2 runs a second
 *     reader over the same input ahead of the main one: before answering a
 *     query ending at e it reads on until every batch holding a WAKEUP at
 *     or before e has been read (the suffix minimum of the batches'
 *     earliest WAKEUPs says how far). Edges are kept per target, sorted,
 *     and dropped once no later query of their target can reach them:
 *     walk_wake_floor (walk_events.c) bounds the begin of any later query.
 *
 * Either way every answer is the one the whole index gives: an edge is
 * dropped only when it lies before every later query of its target, and a
 * query is answered only after every edge that could answer it was read.
 * What the streaming mode keeps is the edges between the main reader and
 * the reader ahead, per target from its floor on: with the tracer's layout
 * (each thread's ring flushed as it fills) a few batches per thread.
 * Threads whose own timestamps run back in the file (pass 1 notes them)
 * have no floor, so edges naming them are kept to the end.
 *
 * Ties (edges of one target at the same ns) keep file order in both modes
 * (a stable sort; insertion after equal times), so the waker reported is
 * the same.
 */
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "walk_internal.h"

/* Edges pass 1 may keep before it switches to the streaming mode; the
 * environment variable CPROF_WALK_WAKES_MAX overrides it (tests set 0 to
 * run the streaming mode on small traces). */
#define WAKES_MAX_DEFAULT (1u << 18)

struct wake_edge {
	int64_t ts;     /* ns */
	uint32_t waker; /* tid */
};

/* Edges of one target: e[head .. sorted) live, sorted by ts (file order
 * among equal ts); e[sorted .. n) read since, in file order (streaming). */
struct wake_list {
	struct wake_edge *e;
	uint32_t head, sorted, n, cap;
	uint32_t tid; /* the target */
};

/* A batch holding WAKEUPs (pass 1): its number (the reader's batches
 * count while its events are read) and its earliest WAKEUP, then the
 * minimum over it and every later one (suffix minimum). */
struct wake_batch {
	uint64_t batch;
	int64_t min_ts; /* ns */
};

/* Pass 1's view of a thread's own timestamps. */
struct tid_seen {
	int64_t last; /* ns, the largest so far */
	int back;     /* a timestamp ran back in the file */
};

struct walk_wakes {
	struct u64map map; /* target tid -> index + 1 into lists */
	struct wake_list *lists;
	uint32_t n, cap;
	uint64_t kept;     /* live edges in all lists */
	uint64_t max;      /* pass 1 keeps at most this many edges */
	int streaming;     /* pass 1 went over max: pass 2 reads ahead */

	struct wake_batch *batches; /* batches with WAKEUPs, in file order */
	uint32_t nbatches, batches_cap;
	uint32_t done;              /* batches[0 .. done) read by the reader ahead */

	struct u64map tid_map;      /* tid -> index + 1 into seen (pass 1) */
	struct tid_seen *seen;
	uint32_t nseen, seen_cap;
	uint32_t last_tid, last_i;  /* the last wakes_see's tid and index + 1 */

	struct wake_edge *tmp;      /* room for sorting */
	uint32_t tmp_cap;
	struct trace_reader ahead;  /* streaming: the reader ahead of pass 2 */
	int ahead_open, ahead_eof;
	uint64_t ahead_batch;       /* its batches count at the last event read */
	uint64_t sweep_at;          /* kept at which to drop dead edges in all lists */
	uint32_t q_tid;             /* the query under way: its target ... */
	int64_t q_begin;            /* ... and begin (its thread's floor may be past it) */
	int in_query;
	int oom;                    /* pass 2 could not keep an edge: answers may be wrong */
};

struct walk_wakes *wakes_create(int keep_all)
{
	struct walk_wakes *k = calloc(1, sizeof(struct walk_wakes));
	if (!k)
		return NULL;
	k->max = WAKES_MAX_DEFAULT;
	const char *s = getenv("CPROF_WALK_WAKES_MAX");
	if (s && *s >= '0' && *s <= '9')
		k->max = strtoull(s, NULL, 10);
	if (keep_all)
		k->max = UINT64_MAX;
	return k;
}

static struct wake_list *list_of(struct walk_wakes *k, uint32_t target, int create)
{
	uint32_t i = u64map_get(&k->map, target);
	if (!i) {
		if (!create)
			return NULL;
		if (GROW(k->lists, k->n, k->cap, 16))
			return NULL;
		k->lists[k->n] = (struct wake_list){.tid = target};
		if (u64map_put(&k->map, target, k->n + 1))
			return NULL;
		i = ++k->n;
	}
	return &k->lists[i - 1];
}

static void free_lists(struct walk_wakes *k)
{
	for (uint32_t i = 0; i < k->n; i++)
		free(k->lists[i].e);
	free(k->lists);
	u64map_free(&k->map);
	k->lists = NULL;
	k->n = k->cap = 0;
	k->map = (struct u64map){0};
	k->kept = 0;
}

int wakes_add(struct walk_wakes *k, uint64_t batch, uint32_t target, uint32_t waker, int64_t ts)
{
	if (!k->nbatches || k->batches[k->nbatches - 1].batch != batch) {
		if (GROW(k->batches, k->nbatches, k->batches_cap, 64))
			return -1;
		k->batches[k->nbatches++] = (struct wake_batch){batch, ts};
	} else if (ts < k->batches[k->nbatches - 1].min_ts) {
		k->batches[k->nbatches - 1].min_ts = ts;
	}
	if (k->streaming)
		return 0;
	if (k->kept >= k->max) { /* too many: pass 2 reads them again */
		free_lists(k);
		k->streaming = 1;
		return 0;
	}
	struct wake_list *l = list_of(k, target, 1);
	if (!l || GROW(l->e, l->n, l->cap, 64))
		return -1;
	l->e[l->n++] = (struct wake_edge){ts, waker};
	k->kept++;
	return 0;
}

int wakes_see(struct walk_wakes *k, uint32_t tid, int64_t ns)
{
	/* a batch is one thread's: the same tid as last time, mostly */
	uint32_t i = k->nseen && k->last_tid == tid ? k->last_i : u64map_get(&k->tid_map, tid);
	if (!i) {
		if (GROW(k->seen, k->nseen, k->seen_cap, 32))
			return -1;
		k->seen[k->nseen] = (struct tid_seen){.last = ns};
		if (u64map_put(&k->tid_map, tid, k->nseen + 1))
			return -1;
		k->nseen++;
		k->last_tid = tid;
		k->last_i = k->nseen;
		return 0;
	}
	k->last_tid = tid;
	k->last_i = i;
	struct tid_seen *s = &k->seen[i - 1];
	if (ns < s->last)
		s->back = 1;
	else
		s->last = ns;
	return 0;
}

/* Merges sorted a[0 .. na) and b[0 .. nb) into out, a first among equal
 * times (stable). */
static void merge(const struct wake_edge *a, uint32_t na, const struct wake_edge *b, uint32_t nb,
		  struct wake_edge *out)
{
	uint32_t i = 0, j = 0, o = 0;
	while (i < na && j < nb)
		out[o++] = b[j].ts < a[i].ts ? b[j++] : a[i++];
	while (i < na)
		out[o++] = a[i++];
	while (j < nb)
		out[o++] = b[j++];
}

/* Sorts e[0 .. n) by time, stably (file order among equal times), with
 * room for n edges in tmp. Already-sorted runs (one waker's edges) cost a
 * pass each. */
static void sort_stable(struct wake_edge *e, uint32_t n, struct wake_edge *tmp)
{
	if (n < 2)
		return;
	uint32_t h = n / 2;
	sort_stable(e, h, tmp);
	sort_stable(e + h, n - h, tmp);
	if (e[h - 1].ts <= e[h].ts)
		return;
	memcpy(tmp, e, h * sizeof *e);
	merge(tmp, h, e + h, n - h, e);
}

/* Streaming: brings the edges read since into the sorted part. 0, or -1
 * out of memory. */
static int settle(struct walk_wakes *k, struct wake_list *l)
{
	uint32_t na = l->sorted - l->head, nb = l->n - l->sorted;
	if (!nb)
		return 0;
	while (k->tmp_cap < na + nb)
		if (GROW(k->tmp, k->tmp_cap, k->tmp_cap, 256))
			return -1;
	struct wake_edge *a = l->e + l->head, *b = l->e + l->sorted;
	sort_stable(b, nb, k->tmp);
	if (na && a[na - 1].ts > b[0].ts) {
		memcpy(k->tmp, a, na * sizeof *a);
		merge(k->tmp, na, b, nb, a);
	}
	l->sorted = l->n;
	return 0;
}

int wakes_end_of_pass1(struct walk_wakes *k)
{
	for (uint32_t i = 0; i < k->n; i++)
		if (settle(k, &k->lists[i]))
			return -1;
	/* suffix minimum: batches[i].min_ts becomes the earliest WAKEUP of
	 * batch i and every later one, non-decreasing in i */
	for (uint32_t i = k->nbatches; i-- > 1;)
		if (k->batches[i].min_ts < k->batches[i - 1].min_ts)
			k->batches[i - 1].min_ts = k->batches[i].min_ts;
	if (!k->streaming) { /* every edge is in the lists */
		free(k->batches);
		k->batches = NULL;
		k->nbatches = k->batches_cap = 0;
	}
	return k->streaming;
}

void wakes_start_ahead(struct walk_wakes *k, const struct trace_reader *r)
{
	k->ahead = *r;
	k->ahead_open = 1;
}

/* The earliest begin of any query of tid from now on (INT64_MIN: unknown,
 * keep everything). */
static int64_t floor_of(struct walk *w, struct walk_wakes *k, uint32_t tid)
{
	uint32_t i = u64map_get(&k->tid_map, tid);
	if (!i)
		return INT64_MAX; /* never has an event: never queried */
	if (k->seen[i - 1].back)
		return INT64_MIN;
	int64_t f = walk_wake_floor(w, tid);
	if (k->in_query && tid == k->q_tid && k->q_begin < f)
		f = k->q_begin;
	return f;
}

/* Drops l's edges before floor f (of its sorted part; of the rest too
 * when `all`). */
static void prune(struct walk_wakes *k, struct wake_list *l, int64_t f, int all)
{
	uint32_t lo = l->head, hi = l->sorted;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (l->e[mid].ts < f)
			lo = mid + 1;
		else
			hi = mid;
	}
	k->kept -= lo - l->head;
	l->head = lo;
	if (all) { /* the unsorted rest: keep what may still be reached, in order */
		uint32_t o = l->sorted;
		for (uint32_t i = l->sorted; i < l->n; i++)
			if (l->e[i].ts >= f)
				l->e[o++] = l->e[i];
		k->kept -= l->n - o;
		l->n = o;
	}
	if (l->head == l->n) {
		l->head = l->sorted = l->n = 0;
		if (l->cap > 256) { /* a burst is over: give its room back */
			free(l->e);
			l->e = NULL;
			l->cap = 0;
		}
	} else if (l->head >= 64 && l->head >= l->n / 2) {
		memmove(l->e, l->e + l->head, (l->n - l->head) * sizeof *l->e);
		l->n -= l->head;
		l->sorted -= l->head;
		l->head = 0;
	}
}

static void sweep(struct walk *w, struct walk_wakes *k)
{
	for (uint32_t i = 0; i < k->n; i++) {
		struct wake_list *l = &k->lists[i];
		if (l->n > l->head)
			prune(k, l, floor_of(w, k, l->tid), 1);
	}
}

/* Streaming: one edge read by the reader ahead. 0, or -1 out of memory. */
static int insert(struct walk *w, struct walk_wakes *k, uint32_t target, uint32_t waker, int64_t ts)
{
	if (ts < floor_of(w, k, target))
		return 0; /* no later query of target reaches it */
	struct wake_list *l = list_of(k, target, 1);
	if (!l || GROW(l->e, l->n, l->cap, 16))
		return -1;
	l->e[l->n++] = (struct wake_edge){ts, waker}; /* sorted when queried */
	if (++k->kept >= k->sweep_at) {
		sweep(w, k);
		k->sweep_at = 2 * k->kept + 4096;
	}
	return 0;
}

/* Streaming: reads ahead until every batch with a WAKEUP at or before end
 * has been read. */
static void read_ahead(struct walk *w, struct walk_wakes *k, int64_t end)
{
	while (k->done < k->nbatches && k->batches[k->done].min_ts <= end) {
		uint64_t need = k->batches[k->done].batch;
		/* the batch is read once an event of a later one is */
		while (!k->ahead_eof && k->ahead_batch <= need) {
			struct trace_event ev;
			if (trace_reader_next(&k->ahead, &ev) != 1) {
				k->ahead_eof = 1; /* an error: pass 1 stopped there too */
				break;
			}
			k->ahead_batch = k->ahead.batches;
			if (walk_only_pid && ev.pid != walk_only_pid)
				continue;
			if (ev.kind == CPROF_EV_WAKEUP &&
			    insert(w, k, (uint32_t)ev.args[0], ev.tid, walk_ns(w, ev.ts))) {
				k->ahead_eof = k->oom = 1; /* the walk fails (wakes_failed) */
				break;
			}
		}
		k->done++;
	}
}

int64_t wakes_first(struct walk *w, uint32_t target, int64_t begin, int64_t end, uint32_t *waker)
{
	struct walk_wakes *k = w->wakes;
	*waker = 0;
	if (k->streaming) {
		k->in_query = 1;
		k->q_tid = target;
		k->q_begin = begin;
		read_ahead(w, k, end);
		k->in_query = 0;
	}
	struct wake_list *l = list_of(k, target, 0);
	if (!l)
		return -1;
	if (k->streaming) { /* this query's begin and later ones' floor */
		if (settle(k, l)) {
			k->oom = 1; /* the walk fails (wakes_failed) */
			return -1;
		}
		int64_t f = floor_of(w, k, target);
		prune(k, l, begin < f ? begin : f, 0);
	}
	uint32_t lo = l->head, hi = l->n;
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

int wakes_failed(const struct walk_wakes *k)
{
	return k->oom;
}

void wakes_free(struct walk_wakes *k)
{
	if (!k)
		return;
	free_lists(k);
	free(k->tmp);
	free(k->batches);
	free(k->seen);
	u64map_free(&k->tid_map);
	if (k->ahead_open)
		trace_reader_close(&k->ahead);
	free(k);
}
