/*
 * The web UI: `cprof-trace FILE` serves the embedded page and a small JSON
 * API over libmicrohttpd on 127.0.0.1 (a random free port unless
 * -http=ADDR) at once, while a thread indexes the trace once (timeline and
 * the analyses in one walk). Requests are answered one at a time by MHD's
 * thread; API requests wait until the index is built, which is read-only
 * from then on.
 *
 * API (all times in ns since the trace's first event):
 *   /api/meta                      threads, strings, totals; the analyses,
 *                                  block categories and span kinds
 *   /api/view?t0=&t1=&w=PIXELS     spans overlapping [t0, t1), merged below a pixel;
 *                                  threads' states and samples, CPU lanes and
 *                                  running / runnable counts, at most ~1 per pixel
 *   /api/span?th=&lane=&b=         one span's details (stack, task)
 *   /api/search?q=                 spans whose name contains q (first 200)
 *   /api/report?name=threads|...   an analysis document (as -report -format=json)
 *   /api/report?name=cpu&range=S:E the CPU profile of samples in [S, E) ns
 *   /api/task?name=&min=&max=      one task name's drill-down
 *   /api/pprof?type=sync|...       the pprof profile, gzipped
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analysis.h"
#include "report.h"
#include "timeline.h"
#include "ui_assets.h"
#include "viewer.h"

extern char **environ;

#define MAX_PIXELS 20000
#define MAX_VIEW_LOGS 1000
#define MAX_VIEW_WAKES 1000
#define MAX_SEARCH_HITS 200

int pprof_write(const struct analysis *a, const struct walk *w, int fd);

struct server {
	const char *path;
	struct walk w;
	struct timeline tl;
	struct analysis an[AN_COUNT];
	char *docs[AN_COUNT]; /* report documents, printed once */
	char host_ok[3][80];  /* accepted Host headers (DNS-rebinding guard) */
	double index_seconds;
	struct timespec start;
	/* the index is built by its own thread while the page is served: API
	 * requests wait for it (the same answers, later), the page's files
	 * do not; read-only once ready */
	pthread_mutex_t lock;
	pthread_cond_t built;
	int ready;
};

/* ---- responses ---- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type, char *body,
			       size_t len, int owned)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);
	if (!f)
		return MHD_NO;
	fprintf(f, "{\"error\":\"");
	json_escape_to(f, msg, strlen(msg));
	fprintf(f, "\"}\n");
	fclose(f);
	return respond(c, status, "application/json", body, len, 1);
}

/* A query argument as an integer in [lo, hi]; -1 when missing or bad. */
static int arg_int(struct MHD_Connection *c, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
	if (!v || !*v)
		return -1;
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || *end || n < lo || n > hi)
		return -1;
	*out = n;
	return 0;
}

static void jstring(FILE *f, const char *s)
{
	fputc('"', f);
	json_escape_to(f, s, strlen(s));
	fputc('"', f);
}

/* ---- /api/meta ---- */

static enum MHD_Result api_meta(struct server *s, struct MHD_Connection *c)
{
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);
	if (!f)
		return MHD_NO;
	const struct walk *w = &s->w;
	fprintf(f, "{\"file\":");
	jstring(f, s->path);
	fprintf(f, ",\"cmdline\":");
	char cmd[512];
	size_t n = w->r.header.cmdline_len < sizeof cmd - 1 ? w->r.header.cmdline_len : sizeof cmd - 1;
	memcpy(cmd, w->r.header.cmdline ? w->r.header.cmdline : "", n);
	for (size_t i = 0; i < n; i++)
		if (!cmd[i])
			cmd[i] = ' ';
	cmd[n] = 0;
	jstring(f, cmd);
	fprintf(f, ",\"pid\":%u,\"events\":%" PRIu64 ",\"duration_ns\":%" PRId64 ",\"lost\":%" PRIu64
		   ",\"spans\":%" PRIu64 ",\"index_seconds\":%.3f,\"task_lanes\":%u,\"warning\":",
		w->r.header.pid, w->events, w->end - w->begin, w->lost, s->tl.spans, s->index_seconds,
		s->tl.ntask_lanes);
	jstring(f, w->status ? w->error : "");
	fprintf(f, ",\"threads\":[");
	for (uint32_t i = 0; i < s->tl.nthreads; i++) {
		uint32_t tid = s->tl.threads[i].tid;
		const struct walk_thread *t = walk_find_thread(w, tid);
		fprintf(f, "%s{\"tid\":%u,\"name\":", i ? "," : "", tid);
		jstring(f, walk_thread_name(w, tid));
		fprintf(f, ",\"group\":");
		jstring(f, t ? walk_thread_group(w, t) : "");
		fprintf(f, ",\"lanes\":%u,\"lost\":%" PRIu64 "}", s->tl.threads[i].nlanes, t ? t->lost : 0);
	}
	/* the vocabulary the page draws with: analyses (menu, pages), block
	 * categories (colours, columns) and span kinds (/api/view's kind) */
	fprintf(f, "],\"analyses\":[");
	for (int k = 0; k < AN_COUNT; k++) {
		const struct analysis_def *d = &analysis_registry[k];
		fprintf(f, "%s{\"name\":", k ? "," : "");
		jstring(f, d->name);
		fprintf(f, ",\"title\":");
		jstring(f, d->title);
		fprintf(f, ",\"nav\":");
		jstring(f, d->nav);
		fprintf(f, ",\"page\":");
		jstring(f, d->page);
		fprintf(f, ",\"pprof\":%s}", analysis_is_profile(k) ? "true" : "false");
	}
	fprintf(f, "],\"categories\":[");
	for (unsigned cat = 1; cat <= CPROF_BLOCK_COUNT; cat++) {
		const struct cprof_block_info *b = cprof_block_info(cat);
		fprintf(f, "%s{\"id\":%u,\"name\":", cat > 1 ? "," : "", cat);
		jstring(f, b->name);
		fprintf(f, ",\"colour\":");
		jstring(f, b->colour);
		fprintf(f, ",\"title\":");
		jstring(f, b->title);
		fputc('}', f);
	}
	/* the kernel layers (/api/view's states, samples, cpus, counts): state
	 * names by index (walk.h: the classes, then running) */
	fprintf(f, "],\"cpus\":%u,\"states\":%" PRIu64 ",\"samples\":%" PRIu64 ",\"state_names\":[", s->tl.ncpus,
		s->tl.states, s->tl.samples);
	for (int k = 0; k <= WALK_RUNNING; k++) {
		if (k)
			fputc(',', f);
		jstring(f, k == WALK_RUNNING ? "running" : k == WC_SCHED ? "runnable" : walk_class_names[k]);
	}
	fprintf(f, "],\"span_kinds\":[");
	for (unsigned k = 0; k < TL_KINDS; k++) {
		if (k)
			fputc(',', f);
		jstring(f, tl_kind_name(k));
	}
	/* by id, only the defined ones: a file naming id 2^24 costs nothing */
	fprintf(f, "],\"strings\":{");
	for (uint32_t i = 0; i < w->r.nstrings; i++) {
		fprintf(f, "%s\"%u\":", i ? "," : "", w->r.strings[i].id);
		jstring(f, w->r.strings[i].s);
	}
	fprintf(f, "}}\n");
	fclose(f);
	return respond(c, 200, "application/json", body, len, 1);
}

/* ---- /api/view ---- */

struct merged {
	int active;
	struct tl_span first;
	int64_t end;
	uint32_t n;
	uint32_t kind;
};

static void span_out(FILE *f, int *comma, const struct tl_span *sp, int64_t base, uint32_t n, uint32_t kind)
{
	fprintf(f, "%s[%" PRId64 ",%" PRId64 ",%u,%u,%u,%u]", *comma ? "," : "", sp->begin - base, sp->end - base,
		n > 1 ? 0 : sp->name, kind, n, n > 1 ? 0 : TL_ID(sp->meta));
	*comma = 1;
}

static void merged_flush(FILE *f, int *comma, struct merged *m, int64_t base)
{
	if (!m->active)
		return;
	struct tl_span sp = m->first;
	sp.end = m->end;
	span_out(f, comma, &sp, base, m->n, m->n > 1 ? m->kind : TL_KIND(sp.meta));
	m->active = 0;
}

/* The spans of lane l overlapping [t0, t1), those narrower than px merged
 * with neighbours closer than px. Absolute ns in, relative ns out. */
static void lane_out(FILE *f, const struct tl_clane *l, int64_t t0, int64_t t1, int64_t px, int64_t base)
{
	int comma = 0;
	struct merged m = {0};
	struct tl_cur cur;
	struct tl_span span;
	const struct tl_span *sp = &span;
	fputc('[', f);
	for (tl_cur_at(&cur, l, tl_clane_seek(l, t0));;) {
		/* a whole block that would merge span by span into the run: at once */
		if (m.active && cur.i % TL_BLK == 0 && cur.i < l->n && TL_TAME(m.end)) {
			const struct tl_blk *b = &l->blk[cur.i / TL_BLK];
			if (b->tame && b->max_len < px && b->max_gap < px && b->first_begin - m.end < px &&
			    b->max_begin < t1) {
				uint32_t cnt = l->n - cur.i < TL_BLK ? l->n - cur.i : TL_BLK;
				if (b->max_end > m.end)
					m.end = b->max_end;
				m.n += cnt;
				if (b->kinds != 1u << m.kind)
					m.kind = TL_MERGED;
				tl_cur_at(&cur, l, cur.i + cnt);
				continue;
			}
		}
		if (!tl_cur_next(&cur, &span) || sp->begin >= t1)
			break;
		if (sp->end - sp->begin >= px) {
			merged_flush(f, &comma, &m, base);
			span_out(f, &comma, sp, base, 1, TL_KIND(sp->meta));
			continue;
		}
		if (m.active && sp->begin - m.end < px) {
			if (sp->end > m.end)
				m.end = sp->end;
			m.n++;
			if (TL_KIND(sp->meta) != m.kind)
				m.kind = TL_MERGED;
			continue;
		}
		merged_flush(f, &comma, &m, base);
		m = (struct merged){1, *sp, sp->end, 1, TL_KIND(sp->meta)};
	}
	merged_flush(f, &comma, &m, base);
	fputc(']', f);
}

/* Kernel states and CPU lanes: a partition of time, so sub-pixel spans
 * would chain forever; they are cut into runs of about a pixel instead,
 * each shown as the key that held most of it (by_key: per key sums, keys <
 * 16; else the longest span's key). Out: [begin, end, key, n]. */
static void partition_out(FILE *f, const struct tl_lane *l, int64_t t0, int64_t t1, int64_t px, int64_t base,
			  int by_key)
{
	int comma = 0;
	int64_t rb = 0, re = 0, sum[16] = {0}, longest = 0;
	uint32_t n = 0, key = 0;
	fputc('[', f);
#define RUN_FLUSH()                                                                                       \
	do {                                                                                              \
		if (n) {                                                                                  \
			if (by_key)                                                                       \
				for (uint32_t k_ = 0; k_ < 16; k_++)                                       \
					if (sum[k_] > sum[key])                                           \
						key = k_;                                                 \
			fprintf(f, "%s[%" PRId64 ",%" PRId64 ",%u,%u]", comma ? "," : "", rb - base, re - base, \
				key, n);                                                                  \
			comma = 1;                                                                        \
		}                                                                                         \
		n = 0;                                                                                    \
		memset(sum, 0, sizeof sum);                                                               \
		longest = 0;                                                                              \
	} while (0)
	for (uint32_t i = tl_lane_seek(l, t0); i < l->n && l->s[i].begin < t1; i++) {
		const struct tl_span *sp = &l->s[i];
		int64_t d = sp->end - sp->begin;
		if (n && (sp->begin - re >= px || sp->begin - rb >= px))
			RUN_FLUSH();
		if (d >= px) {
			RUN_FLUSH();
			rb = sp->begin, re = sp->end, key = sp->name, n = 1;
			RUN_FLUSH();
			continue;
		}
		if (!n)
			rb = sp->begin, key = sp->name;
		if (sp->end > re || !n)
			re = sp->end;
		n++;
		if (by_key && sp->name < 16)
			sum[sp->name] += d;
		else if (d >= longest)
			longest = d, key = sp->name;
	}
	RUN_FLUSH();
#undef RUN_FLUSH
	fputc(']', f);
}

/* The view's kernel layers: per thread its states and sample ticks (one
 * per pixel), per CPU who ran, and the running / runnable counts (the
 * largest in each pixel). */
static void kernel_layers_out(FILE *f, const struct server *s, int64_t t0, int64_t t1, int64_t px, int64_t base)
{
	const struct timeline *tl = &s->tl;
	fprintf(f, ",\"states\":[");
	for (uint32_t i = 0; i < tl->nthreads; i++) {
		if (i)
			fputc(',', f);
		partition_out(f, &tl->threads[i].states, t0, t1, px, base, 1);
	}
	fprintf(f, "],\"samples\":[");
	for (uint32_t i = 0; i < tl->nthreads; i++) {
		const struct tl_thread *th = &tl->threads[i];
		fprintf(f, "%s[", i ? "," : "");
		int64_t last = INT64_MIN;
		int comma = 0;
		for (uint64_t k = tl_seek_ts(th->samples, th->nsamples, sizeof *th->samples, t0);
		     k < th->nsamples && th->samples[k] < t1; k++) {
			if (last != INT64_MIN && th->samples[k] - last < px)
				continue;
			last = th->samples[k];
			fprintf(f, "%s%" PRId64, comma ? "," : "", last - base);
			comma = 1;
		}
		fputc(']', f);
	}
	fprintf(f, "],\"cpus\":[");
	for (uint32_t c = 0; c < tl->ncpus; c++) {
		if (c)
			fputc(',', f);
		partition_out(f, &tl->cpus[c], t0, t1, px, base, 0);
	}
	fprintf(f, "],\"counts\":[");
	uint64_t k = tl_seek_ts(tl->counts, tl->ncounts, sizeof *tl->counts, t0);
	int comma = 0;
	if (k > 0) { /* the value in force at t0 */
		const struct tl_count *p = &tl->counts[k - 1];
		fprintf(f, "[%" PRId64 ",%d,%d]", t0 - base, p->running, p->runnable);
		comma = 1;
	}
	while (k < tl->ncounts && tl->counts[k].ts < t1) {
		int64_t bucket = tl->counts[k].ts, end = bucket + px;
		struct tl_count m = tl->counts[k];
		for (k++; k < tl->ncounts && tl->counts[k].ts < end && tl->counts[k].ts < t1; k++) {
			if (tl->counts[k].running > m.running)
				m.running = tl->counts[k].running;
			if (tl->counts[k].runnable > m.runnable)
				m.runnable = tl->counts[k].runnable;
		}
		fprintf(f, "%s[%" PRId64 ",%d,%d]", comma ? "," : "", bucket - base, m.running, m.runnable);
		comma = 1;
		/* the pixel ends with the last value it held */
		if (k > 0 && tl->counts[k - 1].ts > bucket) {
			const struct tl_count *p = &tl->counts[k - 1];
			fprintf(f, ",[%" PRId64 ",%d,%d]", (p->ts > end - 1 ? p->ts : end - 1) - base, p->running,
				p->runnable);
		}
	}
	fputc(']', f);
}

static enum MHD_Result api_view(struct server *s, struct MHD_Connection *c)
{
	const int64_t base = s->w.begin, limit = 1000000000000000; /* 1e15 ns: 11 days either way */
	int64_t t0, t1, width;
	if (arg_int(c, "t0", -limit, limit, &t0) || arg_int(c, "t1", -limit, limit, &t1) || t1 <= t0 ||
	    arg_int(c, "w", 1, MAX_PIXELS, &width))
		return respond_error(c, 400, "view needs t0 < t1 (ns since the trace start, |t| < 1e15) and w (1..20000 pixels)");
	int64_t px = (t1 - t0) / width;
	if (px < 1)
		px = 1;
	t0 += base;
	t1 += base;
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);
	if (!f)
		return MHD_NO;
	fprintf(f, "{\"t0\":%" PRId64 ",\"t1\":%" PRId64 ",\"threads\":[", t0 - base, t1 - base);
	for (uint32_t i = 0; i < s->tl.nthreads; i++) {
		fprintf(f, "%s[", i ? "," : "");
		for (uint32_t l = 0; l < s->tl.threads[i].nlanes; l++) {
			if (l)
				fputc(',', f);
			lane_out(f, &s->tl.threads[i].lanes[l], t0, t1, px, base);
		}
		fputc(']', f);
	}
	fprintf(f, "],\"tasks\":[");
	for (uint32_t l = 0; l < s->tl.ntask_lanes; l++) {
		if (l)
			fputc(',', f);
		lane_out(f, &s->tl.task_lanes[l], t0, t1, px, base);
	}
	/* logs: every one when few, else one per thread per 2 pixels */
	const struct tl_rstream *logs = &s->tl.logs, *wakes = &s->tl.wakes;
	uint64_t lo = tl_rs_seek(logs, t0);
	uint64_t end = lo;
	struct tl_rcur cur;
	struct tl_rec g;
	for (tl_rcur_at(&cur, logs, lo); end - lo <= MAX_VIEW_LOGS && tl_rcur_next(&cur, &g) && g.ts < t1;)
		end++;
	int thin = end - lo > MAX_VIEW_LOGS;
	int64_t *last = thin ? calloc(s->tl.nthreads + 1, sizeof *last) : NULL;
	fprintf(f, "],\"logs\":[");
	int comma = 0, shown = 0;
	for (tl_rcur_at(&cur, logs, lo); shown < 4 * MAX_VIEW_LOGS && tl_rcur_next(&cur, &g) && g.ts < t1;) {
		uint64_t th = g.f[TL_LOG_THREAD], len = g.f[TL_LOG_LEN];
		if (thin && last && g.ts - last[th] < 2 * px && last[th])
			continue;
		if (last)
			last[th] = g.ts;
		fprintf(f, "%s[%" PRId64 ",%u,%u,\"", comma ? "," : "", g.ts - base, (uint32_t)th,
			(uint32_t)g.f[TL_LOG_CATEGORY]);
		json_escape_to(f, s->tl.msgs + g.f[TL_LOG_MSG], len < 200 ? len : 200);
		fputs("\"]", f);
		comma = 1;
		shown++;
	}
	free(last);
	/* wake-ups: every one when few, else a regular sample */
	lo = tl_rs_seek(wakes, t0);
	end = tl_rs_seek(wakes, t1);
	uint64_t stride = (end - lo) / MAX_VIEW_WAKES + 1;
	fprintf(f, "],\"wakes\":[");
	comma = 0;
	for (uint64_t i = lo; i < end; i += stride) {
		if (i == lo || stride > TL_BLK)
			tl_rcur_at(&cur, wakes, i);
		else
			for (uint64_t k = 1; k < stride; k++)
				tl_rcur_next(&cur, &g);
		tl_rcur_next(&cur, &g);
		fprintf(f, "%s[%" PRId64 ",%u,%u]", comma ? "," : "", g.ts - base, (uint32_t)g.f[TL_WAKE_WAKER],
			(uint32_t)g.f[TL_WAKE_TARGET]);
		comma = 1;
	}
	fprintf(f, "],\"wakes_total\":%" PRIu64 ",\"px_ns\":%" PRId64, end - lo, px);
	kernel_layers_out(f, s, t0, t1, px, base);
	fprintf(f, "}\n");
	fclose(f);
	return respond(c, 200, "application/json", body, len, 1);
}

/* ---- /api/span, /api/search ---- */

static enum MHD_Result api_span(struct server *s, struct MHD_Connection *c)
{
	int64_t th, lane, b;
	if (arg_int(c, "th", 0, (int64_t)s->tl.nthreads + 1, &th) || arg_int(c, "lane", -1, 255, &lane) ||
	    arg_int(c, "b", INT64_MIN / 2, INT64_MAX / 2, &b))
		return respond_error(c, 400, "span needs th, lane and b");
	const struct tl_clane *l = NULL;
	if (lane < 0 && th < s->tl.ntask_lanes)
		l = &s->tl.task_lanes[th];
	else if (lane >= 0 && th < s->tl.nthreads && lane < s->tl.threads[th].nlanes)
		l = &s->tl.threads[th].lanes[lane];
	b += s->w.begin;
	struct tl_span span;
	if (!l || !tl_clane_get(l, tl_clane_seek(l, b), &span) || span.begin != b)
		return respond_error(c, 404, "no span starts there");
	const struct tl_span *sp = &span;
	unsigned kind = TL_KIND(sp->meta);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "kind", tl_kind_name(kind));
	cJSON_AddStringToObject(o, "name", walk_string(&s->w, sp->name));
	cJSON_AddNumberToObject(o, "begin_ns", (double)(sp->begin - s->w.begin));
	cJSON_AddNumberToObject(o, "duration_ns", (double)(sp->end - sp->begin));
	if (lane >= 0)
		cJSON_AddNumberToObject(o, "tid", s->tl.threads[th].tid);
	if (kind == TL_REGION)
		cJSON_AddStringToObject(o, "task", walk_task_name(&s->w, TL_ID(sp->meta)));
	if (kind >= TL_BLOCK0 && kind < TL_TASK)
		cJSON_AddItemToObject(o, "frames", stack_json(&s->w, TL_ID(sp->meta)));
	char *body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return body ? respond(c, 200, "application/json", body, strlen(body), 1) : MHD_NO;
}

static enum MHD_Result api_search(struct server *s, struct MHD_Connection *c)
{
	const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q");
	if (!q || !*q || strlen(q) > 200)
		return respond_error(c, 400, "search needs q (1..200 bytes)");
	struct u64map match = {0}; /* ids of the matching strings */
	for (uint32_t i = 0; i < s->w.r.nstrings; i++)
		if (strcasestr(s->w.r.strings[i].s, q) && u64map_put(&match, s->w.r.strings[i].id, 1)) {
			u64map_free(&match);
			return MHD_NO;
		}
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);
	if (!f) {
		u64map_free(&match);
		return MHD_NO;
	}
	uint64_t total = 0;
	int shown = 0;
	fprintf(f, "{\"hits\":[");
	for (uint32_t t = 0; t < s->tl.nthreads; t++)
		for (uint32_t l = 0; l < s->tl.threads[t].nlanes; l++) {
			struct tl_cur cur;
			struct tl_span sp;
			for (tl_cur_at(&cur, &s->tl.threads[t].lanes[l], 0); tl_cur_next(&cur, &sp);) {
				if (!u64map_get(&match, sp.name))
					continue;
				if (shown < MAX_SEARCH_HITS) {
					fprintf(f, "%s[%u,%u,%" PRId64 ",%" PRId64 ",%u]", shown ? "," : "", t, l,
						sp.begin - s->w.begin, sp.end - s->w.begin, sp.name);
					shown++;
				}
				total++;
			}
		}
	fprintf(f, "],\"total\":%" PRIu64 "}\n", total);
	fclose(f);
	u64map_free(&match);
	return respond(c, 200, "application/json", body, len, 1);
}

/* ---- reports, task drill-down, pprof ---- */

/* The cpu analysis of a time range (as -report=cpu -range=S:E): its own
 * walk over the file. */
static enum MHD_Result api_report_range(struct server *s, struct MHD_Connection *c, int kind, const char *range)
{
	struct analysis a;
	analysis_init(&a, kind);
	if (kind != AN_CPU || analysis_parse_range(&a, range))
		return respond_error(c, 400, "range=START:END (ns since the trace's first event, START < END) goes with name=cpu");
	struct walk_consumer wc = analysis_consumer(&a);
	struct walk w = {0};
	int rc = walk_file(&w, s->path, &wc, 1);
	cJSON *doc = rc >= 0 ? analysis_json(&a, &w) : NULL;
	char err[sizeof w.error];
	snprintf(err, sizeof err, "%s", w.error);
	analysis_free(&a);
	walk_close(&w);
	if (!doc)
		return respond_error(c, 500, err);
	char *body = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	return body ? respond(c, 200, "application/json", body, strlen(body), 1) : MHD_NO;
}

static enum MHD_Result api_report(struct server *s, struct MHD_Connection *c)
{
	const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
	int kind = name ? analysis_by_name(name) : -1;
	if (kind < 0) {
		char msg[240], list[200];
		snprintf(msg, sizeof msg, "report name: one of %s", analysis_list(list, sizeof list, 0));
		return respond_error(c, 400, msg);
	}
	const char *range = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "range");
	if (range && *range)
		return api_report_range(s, c, kind, range);
	if (!s->docs[kind])
		return respond_error(c, 500, "report not available");
	return respond(c, 200, "application/json", s->docs[kind], strlen(s->docs[kind]), 0);
}

static enum MHD_Result api_task(struct server *s, struct MHD_Connection *c)
{
	const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
	int64_t min = 0, max = INT64_MAX;
	if (!name || strlen(name) > CPROF_STRING_MAX)
		return respond_error(c, 400, "task needs name");
	arg_int(c, "min", 0, INT64_MAX, &min);
	arg_int(c, "max", 0, INT64_MAX, &max);
	char err[400];
	cJSON *doc = task_detail_json(s->path, name, min, max, 50, err, sizeof err);
	if (!doc)
		return respond_error(c, 500, err);
	char *body = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	return body ? respond(c, 200, "application/json", body, strlen(body), 1) : MHD_NO;
}

static enum MHD_Result api_pprof(struct server *s, struct MHD_Connection *c)
{
	const char *type = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "type");
	int kind = type ? analysis_by_name(type) : -1;
	if (!analysis_is_profile(kind) && kind != AN_CPU) {
		char msg[240], list[200];
		snprintf(msg, sizeof msg, "pprof type: one of cpu, %s", analysis_list(list, sizeof list, 1));
		return respond_error(c, 400, msg);
	}
	FILE *tmp = tmpfile();
	if (!tmp)
		return respond_error(c, 500, "no temporary file");
	if (kind == AN_CPU ? pprof_cpu_write(s->path, tmp) : pprof_write(&s->an[kind], &s->w, fileno(tmp))) {
		fclose(tmp);
		return respond_error(c, 500, "writing the profile failed");
	}
	off_t len = lseek(fileno(tmp), 0, SEEK_END);
	char *body = len > 0 ? malloc((size_t)len) : NULL;
	if (!body || pread(fileno(tmp), body, (size_t)len, 0) != len) {
		free(body);
		fclose(tmp);
		return respond_error(c, 500, "reading the profile back failed");
	}
	fclose(tmp);
	struct MHD_Response *r = MHD_create_response_from_buffer((size_t)len, body, MHD_RESPMEM_MUST_FREE);
	if (!r)
		return MHD_NO;
	char disp[64];
	snprintf(disp, sizeof disp, "attachment; filename=\"%s.pb.gz\"", type);
	MHD_add_response_header(r, "Content-Type", "application/octet-stream");
	MHD_add_response_header(r, "Content-Disposition", disp);
	enum MHD_Result ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- dispatch ---- */

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **state)
{
	(void)version, (void)upload, (void)upload_size, (void)state;
	struct server *s = cls;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return respond_error(c, 405, "GET only");
	/* a page on another origin that rebinds a name to 127.0.0.1 must not
	 * read the trace: only our own address is accepted as Host */
	const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
	if (host && strcmp(host, s->host_ok[0]) && strcmp(host, s->host_ok[1]) && strcmp(host, s->host_ok[2]))
		return respond_error(c, 403, "unexpected Host header");
	if (strcmp(url, "/") == 0)
		url = "/index.html";
	for (const struct ui_asset *a = ui_assets; a->path; a++)
		if (strcmp(url, a->path) == 0) {
			const char *type = strstr(url, ".js")    ? "text/javascript; charset=utf-8"
					   : strstr(url, ".css") ? "text/css; charset=utf-8"
								 : "text/html; charset=utf-8";
			return respond(c, 200, type, (char *)a->data, a->len, 0);
		}
	if (strncmp(url, "/api/", 5) == 0) {
		pthread_mutex_lock(&s->lock);
		while (!s->ready)
			pthread_cond_wait(&s->built, &s->lock);
		pthread_mutex_unlock(&s->lock);
	}
	if (strcmp(url, "/api/meta") == 0)
		return api_meta(s, c);
	if (strcmp(url, "/api/view") == 0)
		return api_view(s, c);
	if (strcmp(url, "/api/span") == 0)
		return api_span(s, c);
	if (strcmp(url, "/api/search") == 0)
		return api_search(s, c);
	if (strcmp(url, "/api/report") == 0)
		return api_report(s, c);
	if (strcmp(url, "/api/task") == 0)
		return api_task(s, c);
	if (strcmp(url, "/api/pprof") == 0)
		return api_pprof(s, c);
	return respond_error(c, 404, "not found");
}

/* ---- start-up ---- */

static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[256] = "127.0.0.1", port[16] = "0";
	if (addr) {
		const char *colon = strrchr(addr, ':');
		if (!colon || strlen(colon + 1) >= sizeof port || (size_t)(colon - addr) >= sizeof host)
			return -1;
		if (colon > addr) {
			size_t n = (size_t)(colon - addr);
			if (addr[0] == '[' && colon[-1] == ']') /* [::1]:8080 */
				memcpy(host, addr + 1, n -= 2);
			else
				memcpy(host, addr, n);
			host[n] = 0;
		}
		snprintf(port, sizeof port, "%s", colon + 1);
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
	if (getaddrinfo(host, port, &hints, &res))
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return 0;
}

static void open_browser_at(const char *url)
{
	const char *browser = getenv("BROWSER");
	const char *cmd = browser && *browser ? browser : NULL;
	if (!cmd && (getenv("DISPLAY") || getenv("WAYLAND_DISPLAY")))
		cmd = "xdg-open";
	if (!cmd)
		return; /* headless: the printed URL is enough */
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	char *argv[] = {(char *)cmd, (char *)url, NULL};
	pid_t pid;
	if (posix_spawnp(&pid, cmd, &fa, NULL, argv, environ) != 0)
		fprintf(stderr, "cprof-trace: could not start %s; open %s yourself\n", cmd, url);
	posix_spawn_file_actions_destroy(&fa);
}

/* The index: the timeline and every analysis in one walk, then the
 * analyses' documents. Returns the walk's code (< 0: nothing to show). */
static int build_index(struct server *s)
{
	struct walk_consumer c[AN_COUNT + 1];
	c[0] = timeline_consumer(&s->tl);
	for (int k = 0; k < AN_COUNT; k++) {
		analysis_init(&s->an[k], k);
		c[k + 1] = analysis_consumer(&s->an[k]);
	}
	s->w.progress = 1;
	s->w.wakes_keep_all = 1; /* the timeline keeps every wake-up anyway: one pass less */
	int rc = walk_file(&s->w, s->path, c, AN_COUNT + 1);
	if (rc < 0) {
		fprintf(stderr, "cprof-trace: %s\n", s->w.error);
		return rc;
	}
	if (rc == 1)
		fprintf(stderr, "cprof-trace: warning: %s: showing what was complete\n", s->w.error);
	if (s->tl.oom)
		fprintf(stderr, "cprof-trace: warning: out of memory indexing the timeline; it is partial\n");
	for (int k = 0; k < AN_COUNT; k++) {
		cJSON *doc = analysis_json(&s->an[k], &s->w);
		s->docs[k] = doc ? cJSON_PrintUnformatted(doc) : NULL;
		cJSON_Delete(doc);
	}
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	s->index_seconds = (double)(b.tv_sec - s->start.tv_sec) + (double)(b.tv_nsec - s->start.tv_nsec) / 1e9;
	return rc;
}

static void index_done(struct server *s)
{
	printf("cprof-trace: %s: %" PRIu64 " events, %u threads, indexed in %.2f s\n", s->path, s->w.events,
	       s->w.nthreads, s->index_seconds);
	fflush(stdout);
	pthread_mutex_lock(&s->lock);
	s->ready = 1;
	pthread_cond_broadcast(&s->built);
	pthread_mutex_unlock(&s->lock);
}

static void *index_thread(void *arg)
{
	struct server *s = arg;
	if (build_index(s) < 0) {
		fflush(stdout);
		fflush(stderr);
		_exit(1); /* nothing to serve: as if it had failed before serving */
	}
	index_done(s);
	return NULL;
}

int viewer_serve(const char *path, const char *addr, int open_browser)
{
	static struct server s; /* lives until exit */
	s.path = path;
	/* a fixed threshold: the index's large buffers are mappings of their
	 * own, grown by mremap and given back when freed, not heap holes that
	 * the RSS keeps (glibc's adaptive threshold rises past them) */
	mallopt(M_MMAP_THRESHOLD, 256 << 10);
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.built, NULL);
	clock_gettime(CLOCK_MONOTONIC, &s.start);
	/* a file whose header cannot be read is indexed (and fails) before
	 * serving, the rest while serving */
	struct trace_reader hr;
	int tfd = trace_reader_open_file(&hr, path);
	trace_reader_close(&hr);
	if (tfd < 0 && build_index(&s) < 0)
		return 1;

	struct sockaddr_storage ss;
	socklen_t sslen;
	if (parse_addr(addr, &ss, &sslen)) {
		fprintf(stderr, "cprof-trace: -http=%s: want host:port (e.g. 127.0.0.1:8080 or :8080)\n", addr);
		return 2;
	}
	if (!is_loopback(&ss))
		fprintf(stderr, "cprof-trace: warning: serving on a non-loopback address: anyone who can reach it "
				"can read this trace\n");
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* bind first: the accepted Host names (and the port) are known before
	 * the daemon's thread answers anything */
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sslen) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen)) {
		fprintf(stderr, "cprof-trace: cannot listen on %s: %s\n", addr ? addr : "127.0.0.1", strerror(errno));
		return 1;
	}
	unsigned port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	char host[INET6_ADDRSTRLEN] = "127.0.0.1";
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
	int v6 = ss.ss_family == AF_INET6;
	snprintf(s.host_ok[0], sizeof s.host_ok[0], v6 ? "[%s]:%u" : "%s:%u", host, port);
	snprintf(s.host_ok[1], sizeof s.host_ok[1], "localhost:%u", port);
	snprintf(s.host_ok[2], sizeof s.host_ok[2], "%s", addr && *addr != ':' ? addr : s.host_ok[0]);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, handle, &s, MHD_OPTION_LISTEN_SOCKET, fd,
						MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "cprof-trace: cannot start the HTTP server: %s\n", strerror(errno));
		return 1;
	}
	char url[160];
	snprintf(url, sizeof url, "http://%s/", s.host_ok[0]);
	printf("cprof-trace: serving the trace at %s (Ctrl-C to stop)\n", url);
	fflush(stdout);
	pthread_t indexer;
	int indexing = 0;
	if (tfd < 0)
		index_done(&s);
	else if (pthread_create(&indexer, NULL, index_thread, &s) == 0)
		indexing = 1;
	else if (build_index(&s) < 0)
		return 1;
	else
		index_done(&s);
	if (open_browser)
		open_browser_at(url);
	signal(SIGCHLD, SIG_IGN); /* the browser launcher reaps itself */
	int sig;
	sigwait(&set, &sig);
	pthread_mutex_lock(&s.lock);
	int ready = s.ready;
	pthread_mutex_unlock(&s.lock);
	if (!ready) /* stopped while indexing: requests wait on it, nothing to free in order */
		_exit(0);
	if (indexing)
		pthread_join(indexer, NULL);
	MHD_stop_daemon(d);
	for (int k = 0; k < AN_COUNT; k++) {
		free(s.docs[k]);
		analysis_free(&s.an[k]);
	}
	timeline_free(&s.tl);
	walk_close(&s.w);
	return 0;
}
