/*
 * The timeline index (timeline.h): a walk consumer appending spans to
 * per-thread, per-depth lanes; its finish sorts and packs. Workload: every
 * region and block of the trace, varint-coded (6-10 bytes each), appended
 * in file order.
 */
#define _GNU_SOURCE /* qsort_r */
#include "timeline.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TASK_LANES 64
#define MSG_KEPT 16384 /* distinct log messages remembered for sharing */

static int grow(void **p, uint64_t *cap, uint64_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	uint64_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

static void lane_push(struct timeline *t, struct tl_lane *l, const struct tl_span *s)
{
	if (l->n == l->cap) {
		uint64_t cap = l->cap;
		if (grow((void **)&l->s, &cap, (uint64_t)l->n + 1, sizeof *l->s) || cap > UINT32_MAX) {
			t->oom = 1;
			return;
		}
		l->cap = (uint32_t)cap;
	}
	l->s[l->n++] = *s;
	t->spans++;
}

/* ---- compact lanes ---- */

static inline uint64_t zz(uint64_t v) { return v << 1 ^ (uint64_t)((int64_t)v >> 63); }

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Appends s to l; 0, or -1 out of memory (l unchanged). */
static int clane_push(struct tl_clane *l, const struct tl_span *s)
{
	if (l->n == UINT32_MAX)
		return -1;
	if (l->len + 4 * 10 > l->cap) {
		uint64_t c = l->cap ? l->cap + l->cap / 2 : 64;
		if (c < l->len + 4 * 10)
			c = l->len + 4 * 10;
		void *q = realloc(l->buf, c);
		if (!q)
			return -1;
		l->buf = q;
		l->cap = c;
	}
	if (l->n % TL_BLK == 0) {
		if (l->nblk == l->blk_cap) {
			uint32_t c = l->blk_cap ? l->blk_cap * 2 : 1;
			void *q = c > l->blk_cap ? realloc(l->blk, (size_t)c * sizeof *l->blk) : NULL;
			if (!q)
				return -1;
			l->blk = q;
			l->blk_cap = c;
		}
		l->blk[l->nblk++] = (struct tl_blk){.off = l->len, .prev_end = l->prev_end, .first_begin = s->begin,
						    .max_begin = s->begin, .max_end = s->end, .max_len = INT64_MIN,
						    .max_gap = INT64_MIN, .tame = 1};
	}
	struct tl_blk *b = &l->blk[l->nblk - 1];
	int tame = TL_TAME(s->begin) && TL_TAME(s->end);
	b->tame &= tame;
	if (tame) {
		if (l->n % TL_BLK && s->begin - b->max_end > b->max_gap)
			b->max_gap = s->begin - b->max_end; /* max_end: the latest end before this span */
		if (s->end - s->begin > b->max_len)
			b->max_len = s->end - s->begin;
	}
	if (s->begin > b->max_begin)
		b->max_begin = s->begin;
	if (s->end > b->max_end)
		b->max_end = s->end;
	b->kinds |= (uint8_t)(1u << TL_KIND(s->meta));
	uint8_t *p = l->buf + l->len;
	p = put_varint(p, zz((uint64_t)s->begin - (uint64_t)l->prev_end));
	p = put_varint(p, zz((uint64_t)s->end - (uint64_t)s->begin));
	p = put_varint(p, s->name);
	p = put_varint(p, (uint64_t)TL_ID(s->meta) << 3 | TL_KIND(s->meta));
	l->len = (uint64_t)(p - l->buf);
	if (l->n && s->begin < l->last_begin)
		l->unsorted = 1;
	l->last_begin = s->begin;
	l->prev_end = s->end;
	l->n++;
	return 0;
}

static void clane_free(struct tl_clane *l)
{
	free(l->buf);
	free(l->blk);
	*l = (struct tl_clane){0};
}

/* p reallocated to want elements of elem bytes when it holds more (have),
 * or NULL: nothing to give back, or realloc refused (p stays valid). */
static void *trimmed(void *p, uint64_t have, uint64_t want, size_t elem)
{
	return have > want && want ? realloc(p, want * elem) : NULL;
}

/* Gives back the buffers' unused room once a lane is complete. */
static void clane_shrink(struct tl_clane *l)
{
	void *q;
	if ((q = trimmed(l->buf, l->cap, l->len, 1)))
		l->buf = q, l->cap = l->len;
	if ((q = trimmed(l->blk, l->blk_cap, l->nblk, sizeof *l->blk)))
		l->blk = q, l->blk_cap = l->nblk;
}

void tl_cur_at(struct tl_cur *c, const struct tl_clane *l, uint32_t i)
{
	*c = (struct tl_cur){.l = l};
	if (i >= l->n) {
		c->i = l->n;
		return;
	}
	const struct tl_blk *b = &l->blk[i / TL_BLK];
	c->i = i / TL_BLK * TL_BLK;
	c->off = b->off;
	c->prev_end = b->prev_end;
	struct tl_span skip;
	while (c->i < i)
		tl_cur_next(c, &skip);
}

int tl_clane_get(const struct tl_clane *l, uint32_t i, struct tl_span *out)
{
	if (i >= l->n)
		return 0;
	struct tl_cur c;
	tl_cur_at(&c, l, i);
	return tl_cur_next(&c, out);
}

/* The same bisection as tl_lane_seek, on ends read through a one-block
 * cache: the same answer on any lane, sorted or not. */
uint32_t tl_clane_seek(const struct tl_clane *l, int64_t ns)
{
	int64_t ends[TL_BLK];
	uint32_t cached = UINT32_MAX;
	uint32_t lo = 0, hi = l->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (mid / TL_BLK != cached) {
			cached = mid / TL_BLK;
			struct tl_cur c;
			struct tl_span sp;
			tl_cur_at(&c, l, cached * TL_BLK);
			for (uint32_t k = 0; k < TL_BLK && tl_cur_next(&c, &sp); k++)
				ends[k] = sp.end;
		}
		if (ends[mid % TL_BLK] <= ns)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The lane's spans as an array (malloc'd; NULL out of memory or empty). */
static struct tl_span *clane_decode(const struct tl_clane *l)
{
	struct tl_span *a = l->n ? malloc((size_t)l->n * sizeof *a) : NULL;
	if (!a)
		return NULL;
	struct tl_cur c;
	tl_cur_at(&c, l, 0);
	for (uint32_t i = 0; tl_cur_next(&c, &a[i]); i++)
		;
	return a;
}

/* ---- record streams (logs, wake-ups) ---- */

static int rs_push(struct tl_rstream *r, const struct tl_rec *x)
{
	if (r->len + (1 + TL_RF) * 10 > r->cap) {
		uint64_t c = r->cap ? r->cap + r->cap / 2 : 128;
		if (c < r->len + (1 + TL_RF) * 10)
			c = r->len + (1 + TL_RF) * 10;
		void *q = realloc(r->buf, c);
		if (!q)
			return -1;
		r->buf = q;
		r->cap = c;
	}
	if (r->n % TL_BLK == 0) {
		if (r->nblk == r->blk_cap) {
			uint64_t c = r->blk_cap ? r->blk_cap * 2 : 1;
			void *q = realloc(r->blk, c * sizeof *r->blk);
			if (!q)
				return -1;
			r->blk = q;
			r->blk_cap = c;
		}
		r->blk[r->nblk++] = (struct tl_rblk){r->len, r->last};
	}
	uint8_t *p = r->buf + r->len;
	p = put_varint(p, zz((uint64_t)x->ts - (uint64_t)r->last.ts));
	for (unsigned k = 0; k < r->nf; k++)
		p = put_varint(p, zz(x->f[k] - r->last.f[k]));
	r->len = (uint64_t)(p - r->buf);
	if (r->n && x->ts < r->last.ts)
		r->unsorted = 1;
	r->last = *x;
	r->n++;
	return 0;
}

static void rs_free(struct tl_rstream *r)
{
	free(r->buf);
	free(r->blk);
	unsigned nf = r->nf;
	*r = (struct tl_rstream){.nf = nf};
}

static void rs_shrink(struct tl_rstream *r)
{
	void *q;
	if ((q = trimmed(r->buf, r->cap, r->len, 1)))
		r->buf = q, r->cap = r->len;
	if ((q = trimmed(r->blk, r->blk_cap, r->nblk, sizeof *r->blk)))
		r->blk = q, r->blk_cap = r->nblk;
}

void tl_rcur_at(struct tl_rcur *c, const struct tl_rstream *r, uint64_t i)
{
	*c = (struct tl_rcur){.r = r};
	if (i >= r->n) {
		c->i = r->n;
		return;
	}
	const struct tl_rblk *b = &r->blk[i / TL_BLK];
	c->i = i / TL_BLK * TL_BLK;
	c->off = b->off;
	c->prev = b->prev;
	struct tl_rec skip;
	while (c->i < i)
		tl_rcur_next(c, &skip);
}

int tl_rcur_next(struct tl_rcur *c, struct tl_rec *out)
{
	if (c->i >= c->r->n)
		return 0;
	const uint8_t *p = c->r->buf + c->off;
	uint64_t v;
	p = tl_get_varint(p, &v);
	*out = (struct tl_rec){0};
	out->ts = (int64_t)((uint64_t)c->prev.ts + tl_unzz(v));
	for (unsigned k = 0; k < c->r->nf; k++) {
		p = tl_get_varint(p, &v);
		out->f[k] = c->prev.f[k] + tl_unzz(v);
	}
	c->off = (uint64_t)(p - c->r->buf);
	c->prev = *out;
	c->i++;
	return 1;
}

/* The bisection of tl_seek_ts through a one-block cache. */
uint64_t tl_rs_seek(const struct tl_rstream *r, int64_t ns)
{
	int64_t ts[TL_BLK];
	uint64_t cached = UINT64_MAX;
	uint64_t lo = 0, hi = r->n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (mid / TL_BLK != cached) {
			cached = mid / TL_BLK;
			struct tl_rcur c;
			struct tl_rec x;
			tl_rcur_at(&c, r, cached * TL_BLK);
			for (unsigned k = 0; k < TL_BLK && tl_rcur_next(&c, &x); k++)
				ts[k] = x.ts;
		}
		if (ts[mid % TL_BLK] < ns)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int rec_by_ts_arrival(const void *a, const void *b, void *nf)
{
	const struct tl_rec *x = a, *y = b;
	unsigned k = *(const unsigned *)nf; /* the arrival number's field */
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return (x->f[k] > y->f[k]) - (x->f[k] < y->f[k]);
}

/* Sorts a thread's stream by (time, arrival): decoded, sorted, re-coded. */
static int rs_sort(struct tl_rstream *r)
{
	struct tl_rec *a = malloc(r->n * sizeof *a);
	if (!a)
		return -1;
	struct tl_rcur c;
	tl_rcur_at(&c, r, 0);
	for (uint64_t i = 0; tl_rcur_next(&c, &a[i]); i++)
		;
	uint64_t n = r->n;
	unsigned seq = r->nf - 1;
	qsort_r(a, n, sizeof *a, rec_by_ts_arrival, &seq);
	rs_free(r);
	int rc = 0;
	for (uint64_t i = 0; i < n && !rc; i++)
		rc = rs_push(r, &a[i]);
	free(a);
	return rc;
}

/* Merges streams sorted by (time, arrival number: field seq) into out
 * (whose nf the caller sets: the fields kept), freeing each as it ends.
 * A binary heap of the streams' heads. Returns -1 out of memory. */
struct rs_head {
	struct tl_rec x;
	struct tl_rcur c;
};

static int head_less(const struct rs_head *a, const struct rs_head *b, unsigned seq)
{
	return a->x.ts != b->x.ts ? a->x.ts < b->x.ts : a->x.f[seq] < b->x.f[seq];
}

static void heap_down(struct rs_head *h, uint32_t n, uint32_t i, unsigned seq)
{
	for (;;) {
		uint32_t l = 2 * i + 1, m = i;
		if (l < n && head_less(&h[l], &h[m], seq))
			m = l;
		if (l + 1 < n && head_less(&h[l + 1], &h[m], seq))
			m = l + 1;
		if (m == i)
			return;
		struct rs_head tmp = h[i];
		h[i] = h[m];
		h[m] = tmp;
		i = m;
	}
}

static int rs_merge_v(struct tl_rstream **v, uint32_t nv, unsigned seq, struct tl_rstream *out)
{
	int rc = 0;
	struct rs_head *h = malloc(((size_t)nv + 1) * sizeof *h);
	uint32_t n = 0;
	for (uint32_t i = 0; i < nv; i++) {
		if (v[i]->unsorted && rs_sort(v[i]))
			rc = -1;
		rs_shrink(v[i]);
		if (!h)
			continue;
		tl_rcur_at(&h[n].c, v[i], 0);
		if (tl_rcur_next(&h[n].c, &h[n].x))
			n++;
	}
	if (!h)
		n = 0, rc = -1;
	for (uint32_t i = n; i-- > 0;)
		heap_down(h, n, i, seq);
	while (n) {
		if (rs_push(out, &h[0].x)) {
			rc = -1;
			break;
		}
		if (!tl_rcur_next(&h[0].c, &h[0].x)) {
			rs_free((struct tl_rstream *)h[0].c.r);
			h[0] = h[--n];
		}
		heap_down(h, n, 0, seq);
	}
	for (uint32_t i = 0; i < nv; i++)
		rs_free(v[i]);
	free(h);
	rs_shrink(out);
	return rc;
}

/* Appends x (its last field set here to the arrival number) to the runs
 * of nf fields + the arrival; 0, or -1 out of memory. */
static int runs_push(struct tl_runs *u, struct tl_rec *x, unsigned nf)
{
	if (!u->n || u->r[u->n - 1].n == TL_RUN) {
		if (u->n && u->r[u->n - 1].unsorted && rs_sort(&u->r[u->n - 1]))
			return -1;
		if (u->n)
			rs_shrink(&u->r[u->n - 1]);
		void *q = realloc(u->r, ((size_t)u->n + 1) * sizeof *u->r);
		if (!q)
			return -1;
		u->r = q;
		u->r[u->n++] = (struct tl_rstream){.nf = nf + 1};
	}
	x->f[nf] = u->arrivals;
	if (rs_push(&u->r[u->n - 1], x))
		return -1;
	u->arrivals++;
	return 0;
}

static void runs_free(struct tl_runs *u)
{
	for (uint32_t i = 0; i < u->n; i++)
		rs_free(&u->r[i]);
	free(u->r);
	*u = (struct tl_runs){0};
}

/* The runs merged into out (nf fields: without the arrival), then freed. */
static void runs_merge(struct timeline *t, struct tl_runs *u, struct tl_rstream *out, unsigned nf)
{
	*out = (struct tl_rstream){.nf = nf};
	struct tl_rstream **v = malloc(((size_t)u->n + 1) * sizeof *v);
	for (uint32_t i = 0; v && i < u->n; i++)
		v[i] = &u->r[i];
	if (!v || rs_merge_v(v, u->n, nf, out))
		t->oom = 1;
	free(v);
	runs_free(u);
}

static void cpush(struct timeline *t, struct tl_clane *l, const struct tl_span *s)
{
	if (clane_push(l, s))
		t->oom = 1;
	else
		t->spans++;
}

static uint32_t thread_index(struct timeline *t, uint32_t tid)
{
	if (t->last_index && t->last_tid == tid) /* events come in batches of one thread */
		return t->last_index - 1;
	uint32_t i = u64map_get(&t->thread_index, tid);
	if (i) {
		t->last_tid = tid;
		t->last_index = i;
		return i - 1;
	}
	uint64_t cap = t->threads_cap;
	if (grow((void **)&t->threads, &cap, (uint64_t)t->nthreads + 1, sizeof *t->threads) ||
	    u64map_put(&t->thread_index, tid, t->nthreads + 1)) {
		t->oom = 1;
		return UINT32_MAX;
	}
	t->threads_cap = (uint32_t)cap;
	t->threads[t->nthreads] = (struct tl_thread){.tid = tid};
	return t->nthreads++;
}

static struct tl_clane *thread_lane(struct timeline *t, uint32_t tid, uint32_t depth)
{
	uint32_t i = thread_index(t, tid);
	if (i == UINT32_MAX || depth > 255)
		return NULL;
	struct tl_thread *th = &t->threads[i];
	if (depth >= th->nlanes) {
		void *q = realloc(th->lanes, (depth + 1) * sizeof *th->lanes);
		if (!q) {
			t->oom = 1;
			return NULL;
		}
		th->lanes = q;
		memset(th->lanes + th->nlanes, 0, (depth + 1 - th->nlanes) * sizeof *th->lanes);
		th->nlanes = depth + 1;
	}
	return &th->lanes[depth];
}

static void on_region(void *self, struct walk *w, const struct walk_region *r)
{
	(void)w;
	struct timeline *t = self;
	struct tl_clane *l = thread_lane(t, r->thread->tid, r->depth);
	if (l) {
		struct tl_span s = {r->begin, r->end, r->name, TL_META(TL_REGION, r->task_name)};
		cpush(t, l, &s);
	}
}

static void on_block(void *self, struct walk *w, const struct walk_block *b)
{
	(void)w;
	struct timeline *t = self;
	struct tl_clane *l = thread_lane(t, b->thread->tid, b->depth);
	if (l) {
		struct tl_span s = {b->begin, b->end, b->what, TL_META(TL_BLOCK0 + b->cls, b->stack)};
		cpush(t, l, &s);
	}
}

/* A kernel state of the thread: its background lane. */
static void on_state(void *self, struct walk *w, const struct walk_state *st)
{
	(void)w;
	struct timeline *t = self;
	uint32_t i = thread_index(t, st->thread->tid);
	if (i == UINT32_MAX)
		return;
	uint32_t cpu1 = st->cpu >= 0 && st->cpu < 0x1fffffff ? (uint32_t)st->cpu + 1 : 0;
	struct tl_span s = {st->begin, st->end, (uint32_t)st->cls, cpu1};
	lane_push(t, &t->threads[i].states, &s);
	t->spans--; /* counted apart */
	t->states++;
}

static void on_sample(void *self, struct walk *w, const struct walk_sample *sm)
{
	(void)w;
	struct timeline *t = self;
	uint32_t i = thread_index(t, sm->thread->tid);
	if (i == UINT32_MAX)
		return;
	struct tl_thread *th = &t->threads[i];
	uint64_t cap = th->samples_cap;
	if (grow((void **)&th->samples, &cap, (uint64_t)th->nsamples + 1, sizeof *th->samples) || cap > UINT32_MAX) {
		t->oom = 1;
		return;
	}
	th->samples_cap = (uint32_t)cap;
	th->samples[th->nsamples++] = sm->ts;
	t->samples++;
}

/* Tasks end in file order, not time order: they are packed after the walk. */
static void on_task(void *self, struct walk *w, const struct walk_task *k)
{
	(void)w;
	struct timeline *t = self;
	if (!t->task_lanes) {
		t->task_lanes = calloc(MAX_TASK_LANES + 1, sizeof *t->task_lanes);
		if (!t->task_lanes) {
			t->oom = 1;
			return;
		}
	}
	/* collected in sorted runs, merged and packed in on_finish */
	struct tl_rec x = {k->begin, {(uint64_t)k->end, k->name, TL_META(TL_TASK, k->id)}};
	if (runs_push(&t->task_runs, &x, TL_TASK_FIELDS))
		t->oom = 1;
}

static void on_log(void *self, struct walk *w, const struct walk_log *l)
{
	(void)w;
	struct timeline *t = self;
	uint32_t th = thread_index(t, l->thread->tid);
	const char *msg = l->message ? l->message : "";
	/* a message seen before is kept once (the first MSG_KEPT distinct
	 * ones are remembered by hash) */
	uint64_t h = 0xcbf29ce484222325ull ^ l->len;
	for (uint32_t i = 0; i < l->len; i++)
		h = (h ^ (uint8_t)msg[i]) * 0x100000001b3ull;
	uint32_t seen = u64map_get(&t->msg_map, h);
	uint64_t off = seen ? t->msg_offs[seen - 1] : 0;
	if (th == UINT32_MAX) {
		t->oom = 1;
		return;
	}
	if (!seen || off + l->len > t->msgs_len || memcmp(t->msgs + off, msg, l->len)) {
		if (grow((void **)&t->msgs, &t->msgs_cap, t->msgs_len + l->len + 1, 1)) {
			t->oom = 1;
			return;
		}
		off = t->msgs_len;
		memcpy(t->msgs + off, msg, l->len);
		t->msgs_len += l->len;
		if (!seen && t->msg_map.n < MSG_KEPT &&
		    !grow((void **)&t->msg_offs, &t->msg_offs_cap, (uint64_t)t->msg_map.n + 1, sizeof *t->msg_offs) &&
		    !u64map_put(&t->msg_map, h, t->msg_map.n + 1))
			t->msg_offs[t->msg_map.n - 1] = off;
	}
	struct tl_rec x = {l->ts, {th, l->category, l->len, off}};
	if (runs_push(&t->log_runs, &x, TL_LOG_FIELDS))
		t->oom = 1;
}

static void on_wake(void *self, struct walk *w, const struct walk_wake *k)
{
	(void)w;
	struct timeline *t = self;
	uint32_t a = thread_index(t, k->waker), b = thread_index(t, k->target);
	struct tl_rec x = {k->ts, {a, b}};
	if (a == UINT32_MAX || b == UINT32_MAX || runs_push(&t->wake_runs, &x, TL_WAKE_FIELDS))
		t->oom = 1;
}

static int span_by_begin(const void *a, const void *b)
{
	const struct tl_span *x = a, *y = b;
	return (x->begin > y->begin) - (x->begin < y->begin);
}

static int i64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int count_by_ts(const void *a, const void *b)
{
	const struct tl_count *x = a, *y = b;
	return (x->ts > y->ts) - (x->ts < y->ts);
}

static void sort_lane(struct tl_lane *ln)
{
	for (uint32_t j = 1; j < ln->n; j++)
		if (ln->s[j].begin < ln->s[j - 1].begin) {
			qsort(ln->s, ln->n, sizeof *ln->s, span_by_begin);
			return;
		}
}

/* After the walk, from the threads' sorted states: the CPU lanes and the
 * running / runnable counts (a change per state boundary, merged when at
 * the same ns). Memory: 24 bytes per running state, 16 per count change. */
static void build_cpus_and_counts(struct timeline *t)
{
	uint64_t nedges = 0;
	uint32_t ncpus = 0;
	for (uint32_t i = 0; i < t->nthreads; i++) {
		const struct tl_lane *ln = &t->threads[i].states;
		for (uint32_t j = 0; j < ln->n; j++) {
			uint32_t cls = ln->s[j].name;
			if (cls == WALK_RUNNING || cls == WC_SCHED)
				nedges += 2;
			if (cls == WALK_RUNNING && ln->s[j].meta && ln->s[j].meta > ncpus && ln->s[j].meta <= 4096)
				ncpus = ln->s[j].meta;
		}
	}
	if (ncpus) {
		t->cpus = calloc(ncpus, sizeof *t->cpus);
		if (!t->cpus) {
			t->oom = 1;
		} else {
			t->ncpus = ncpus;
			for (uint32_t i = 0; i < t->nthreads; i++) {
				const struct tl_lane *ln = &t->threads[i].states;
				for (uint32_t j = 0; j < ln->n; j++)
					if (ln->s[j].name == WALK_RUNNING && ln->s[j].meta && ln->s[j].meta <= ncpus) {
						struct tl_span s = {ln->s[j].begin, ln->s[j].end, i, 0};
						lane_push(t, &t->cpus[ln->s[j].meta - 1], &s);
						t->spans--;
					}
			}
			for (uint32_t c = 0; c < ncpus; c++)
				sort_lane(&t->cpus[c]);
		}
	}
	if (!nedges)
		return;
	struct tl_count *e = malloc(nedges * sizeof *e);
	if (!e) {
		t->oom = 1;
		return;
	}
	uint64_t n = 0;
	for (uint32_t i = 0; i < t->nthreads; i++) {
		const struct tl_lane *ln = &t->threads[i].states;
		for (uint32_t j = 0; j < ln->n; j++) {
			int run = ln->s[j].name == WALK_RUNNING, rq = ln->s[j].name == WC_SCHED;
			if (!run && !rq)
				continue;
			e[n++] = (struct tl_count){ln->s[j].begin, run, rq};
			e[n++] = (struct tl_count){ln->s[j].end, -run, -rq};
		}
	}
	qsort(e, n, sizeof *e, count_by_ts);
	/* in place: deltas into running totals, one record per ns */
	uint64_t out = 0;
	int32_t running = 0, runnable = 0;
	for (uint64_t k = 0; k < n; k++) {
		running += e[k].running;
		runnable += e[k].runnable;
		if (out && e[out - 1].ts == e[k].ts)
			out--;
		e[out++] = (struct tl_count){e[k].ts, running, runnable};
	}
	t->counts = e;
	t->ncounts = out;
}

const char *tl_kind_name(unsigned kind)
{
	if (kind >= TL_BLOCK0 && kind < TL_TASK)
		return walk_class_names[kind - TL_BLOCK0];
	return kind == TL_REGION ? "region" : kind == TL_TASK ? "task" : "merged";
}

/* Sorts a lane by begin as qsort sorted the array of its spans in the
 * order they arrived (the same array in, the same order out). */
static void clane_sort(struct timeline *t, struct tl_clane *l)
{
	struct tl_span *a = clane_decode(l);
	if (!a) {
		t->oom = 1; /* left as it came */
		return;
	}
	uint32_t n = l->n;
	qsort(a, n, sizeof *a, span_by_begin);
	clane_free(l);
	for (uint32_t i = 0; i < n; i++)
		if (clane_push(l, &a[i])) {
			t->oom = 1;
			t->spans -= n - i;
			break;
		}
	free(a);
}

/* After the walk: sorts what arrived out of order, packs the task lanes. */
static void on_finish(void *self, struct walk *w)
{
	struct timeline *t = self;
	/* regions whose task name was read late arrive out of order */
	for (uint32_t i = 0; i < t->nthreads; i++)
		for (uint32_t l = 0; l < t->threads[i].nlanes; l++) {
			struct tl_clane *ln = &t->threads[i].lanes[l];
			if (ln->unsorted)
				clane_sort(t, ln);
			clane_shrink(ln);
		}
	/* a blocked state is emitted once its cause is known: after later ones;
	 * a thread's window may open at the capture's start, before the first
	 * event the view counts from: states are cut to the view */
	for (uint32_t i = 0; i < t->nthreads; i++) {
		struct tl_thread *th = &t->threads[i];
		uint32_t kept = 0;
		for (uint32_t j = 0; j < th->states.n; j++) {
			struct tl_span sp = th->states.s[j];
			if (sp.begin < w->begin)
				sp.begin = w->begin;
			if (sp.end > sp.begin)
				th->states.s[kept++] = sp;
		}
		th->states.n = kept;
		sort_lane(&th->states);
		if (th->nsamples)
			qsort(th->samples, th->nsamples, sizeof *th->samples, i64_cmp);
	}
	build_cpus_and_counts(t);
	u64map_free(&t->msg_map);
	free(t->msg_offs);
	t->msg_offs = NULL;
	t->msg_offs_cap = 0;
	runs_merge(t, &t->log_runs, &t->logs, TL_LOG_FIELDS);
	runs_merge(t, &t->wake_runs, &t->wakes, TL_WAKE_FIELDS);
	if (t->msgs_cap > t->msgs_len + 1) {
		void *q = realloc(t->msgs, t->msgs_len + 1);
		if (q) {
			t->msgs = q;
			t->msgs_cap = t->msgs_len + 1;
		}
	}
	if (!t->task_lanes)
		return;
	/* each task, by begin, to the first lane free at its begin; tasks
	 * beyond MAX_TASK_LANES overlapping ones are not drawn */
	struct tl_rstream all;
	runs_merge(t, &t->task_runs, &all, TL_TASK_FIELDS);
	int64_t free_at[MAX_TASK_LANES]; /* per lane: the end of its last span (ns) */
	uint32_t used = 0;
	struct tl_rcur c;
	struct tl_rec x;
	for (tl_rcur_at(&c, &all, 0); tl_rcur_next(&c, &x);) {
		uint32_t l = 0;
		while (l < used && free_at[l] > x.ts)
			l++;
		if (l == MAX_TASK_LANES)
			continue; /* more than MAX_TASK_LANES tasks at once */
		if (l == used)
			used++;
		free_at[l] = (int64_t)x.f[TL_TASK_END];
		struct tl_span sp = {x.ts, (int64_t)x.f[TL_TASK_END], (uint32_t)x.f[TL_TASK_NAME],
				     (uint32_t)x.f[TL_TASK_META]};
		cpush(t, &t->task_lanes[l], &sp);
	}
	rs_free(&all);
	t->ntask_lanes = used;
	for (uint32_t l = 0; l < used; l++)
		clane_shrink(&t->task_lanes[l]);
}

struct walk_consumer timeline_consumer(struct timeline *t)
{
	return (struct walk_consumer){.self = t, .region = on_region, .block = on_block, .task = on_task,
				      .log = on_log, .wake = on_wake, .state = on_state, .sample = on_sample,
				      .finish = on_finish};
}

uint64_t tl_seek_ts(const void *records, uint64_t n, size_t stride, int64_t ns)
{
	uint64_t lo = 0, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int64_t ts;
		memcpy(&ts, (const char *)records + mid * stride, sizeof ts);
		if (ts < ns)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t tl_lane_seek(const struct tl_lane *l, int64_t ns)
{
	uint32_t lo = 0, hi = l->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (l->s[mid].end <= ns)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void timeline_free(struct timeline *t)
{
	for (uint32_t i = 0; i < t->nthreads; i++) {
		for (uint32_t l = 0; l < t->threads[i].nlanes; l++)
			clane_free(&t->threads[i].lanes[l]);
		free(t->threads[i].lanes);
		free(t->threads[i].states.s);
		free(t->threads[i].samples);
	}
	for (uint32_t c = 0; c < t->ncpus; c++)
		free(t->cpus[c].s);
	free(t->cpus);
	free(t->counts);
	free(t->threads);
	for (uint32_t l = 0; t->task_lanes && l <= MAX_TASK_LANES; l++)
		clane_free(&t->task_lanes[l]);
	free(t->task_lanes);
	rs_free(&t->logs);
	free(t->msgs);
	rs_free(&t->wakes);
	runs_free(&t->task_runs);
	runs_free(&t->log_runs);
	runs_free(&t->wake_runs);
	u64map_free(&t->thread_index);
	u64map_free(&t->msg_map);
	free(t->msg_offs);
	*t = (struct timeline){0};
}
