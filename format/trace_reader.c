/*
 * The one reader of cprof-trace files (layout in FORMAT.md).
 *
 * Invariant: every byte is read through source_read(), so r->offset always
 * names the first byte not yet consumed; error messages use the offset of
 * the chunk or field being decoded. Tables (strings, stacks, thread names)
 * hold the entries the file defines, found through a hash index: memory
 * follows what the file carries, never the largest id it names.
 */
#include "trace_reader.h"

#include <errno.h>
#include <lz4.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "varint.h"

_Static_assert(TRACE_STATS_CHUNK_TYPES == CPROF_CHUNK_MODULES + 1, "-dump -stats counts every chunk type");

static int set_error(struct trace_reader *r, int truncated, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int set_error(struct trace_reader *r, int truncated, uint64_t off, const char *fmt, ...)
{
	if (r->status == -1)
		return -1;
	int n = snprintf(r->error, sizeof r->error, "offset %llu: ", (unsigned long long)off);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error + n, sizeof r->error - (size_t)n, fmt, ap);
	va_end(ap);
	r->status = -1;
	r->truncated = truncated;
	return -1;
}

/* Reads exactly len bytes. Returns len, or the short count at end of input,
 * or -1 on a source error (r->error set). */
static long source_read(struct trace_reader *r, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		long n = r->source(r->source_ctx, (uint8_t *)buf + got, len - got);
		if (n < 0)
			return set_error(r, 0, r->offset + got, "read error: %s", strerror((int)-n));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	r->offset += got;
	return (long)got;
}

long trace_source_mem(void *ctx, void *buf, size_t len)
{
	struct trace_mem_source *m = ctx;
	size_t n = m->len - m->pos < len ? m->len - m->pos : len;
	memcpy(buf, m->p + m->pos, n);
	m->pos += n;
	return (long)n;
}

static long source_file(void *ctx, void *buf, size_t len)
{
	FILE *f = ctx;
	size_t n = fread(buf, 1, len, f);
	if (n == 0 && ferror(f))
		return -EIO;
	return (long)n;
}

static int reader_start(struct trace_reader *r, cprof_source_fn source, void *ctx, FILE *file)
{
	memset(r, 0, sizeof *r);
	r->file = file;
	r->source = source;
	r->source_ctx = ctx;

	uint8_t fixed[CPROF_HEADER_FIXED];
	long n = source_read(r, fixed, sizeof fixed);
	if (n < 0)
		return -1;
	if (n < CPROF_MAGIC_LEN || memcmp(fixed, CPROF_MAGIC, CPROF_MAGIC_LEN) != 0)
		return set_error(r, 0, 0, "not a cprof-trace file (bad magic)");
	if (n < (long)sizeof fixed)
		return set_error(r, 1, r->offset, "truncated header (%ld of %u bytes)", n,
				 CPROF_HEADER_FIXED);
	struct cprof_header *h = &r->header;
	h->version = le_get16(fixed + 8);
	if (h->version < CPROF_FORMAT_VERSION_MIN || h->version > CPROF_FORMAT_VERSION)
		return set_error(r, 0, 8, "unsupported format version %u (this reader knows %u to %u)",
				 h->version, CPROF_FORMAT_VERSION_MIN, CPROF_FORMAT_VERSION);
	h->flags = le_get16(fixed + 10);
	r->tree = h->version >= 2 && (h->flags & CPROF_FLAG_TREE);
	uint32_t hlen = le_get32(fixed + 12);
	h->ticks_per_sec = le_get64(fixed + 16);
	h->anchor_ticks = le_get64(fixed + 24);
	h->anchor_realtime_ns = le_get64(fixed + 32);
	h->anchor_monotonic_ns = le_get64(fixed + 40);
	h->start_ticks = le_get64(fixed + 48);
	h->pid = le_get32(fixed + 56);
	h->cmdline_len = le_get32(fixed + 60);
	if (h->ticks_per_sec == 0)
		return set_error(r, 0, 16, "header: ticks per second is 0");
	if (h->cmdline_len > CPROF_CMDLINE_MAX)
		return set_error(r, 0, 60, "header: command line of %u bytes exceeds %u",
				 h->cmdline_len, CPROF_CMDLINE_MAX);
	if (hlen < CPROF_HEADER_FIXED + h->cmdline_len || hlen > CPROF_HEADER_FIXED + CPROF_CMDLINE_MAX + 65536u)
		return set_error(r, 0, 12, "header: length %u inconsistent", hlen);
	r->cmdline = malloc(hlen - CPROF_HEADER_FIXED + 1u);
	if (!r->cmdline)
		return set_error(r, 0, r->offset, "out of memory");
	n = source_read(r, r->cmdline, hlen - CPROF_HEADER_FIXED);
	if (n < 0)
		return -1;
	if ((uint32_t)n < hlen - CPROF_HEADER_FIXED)
		return set_error(r, 1, r->offset, "truncated header");
	/* Extension entries after the cmdline: tag, len, value. Unknown tags
	 * are skipped; a cut entry ends the list (later versions may pad). */
	const uint8_t *ext = (const uint8_t *)r->cmdline + h->cmdline_len;
	uint32_t extlen = hlen - CPROF_HEADER_FIXED - h->cmdline_len;
	r->stats.header_bytes = hlen;
	for (uint32_t i = 0; i + 2 <= extlen;) {
		uint8_t tag = ext[i], len = ext[i + 1];
		if (i + 2u + len > extlen)
			break;
		if (tag == CPROF_HDR_SCHED_SOURCE && len >= 1)
			h->sched_source = ext[i + 2];
		else if (tag == CPROF_HDR_CPU_HZ && len >= 4)
			h->has_cpu_hz = 1, h->cpu_hz = le_get32(ext + i + 2);
		i += 2u + len;
	}
	r->cmdline[h->cmdline_len] = 0;
	h->cmdline = r->cmdline;
	if (!r->tree) { /* the file is the one process's part */
		r->parts = calloc(1, sizeof *r->parts);
		if (!r->parts)
			return set_error(r, 0, r->offset, "out of memory");
		r->nparts = 1;
		r->parts[0] = (struct trace_part){.pid = h->pid, .start_ticks = h->start_ticks,
						  .cmdline_len = h->cmdline_len};
		r->parts[0].cmdline = malloc(h->cmdline_len + 1u);
		if (r->parts[0].cmdline) {
			memcpy(r->parts[0].cmdline, r->cmdline, h->cmdline_len + 1u);
		}
	}
	return 0;
}

const char *trace_sched_source_name(const struct trace_reader *r)
{
	switch (r->header.sched_source) {
	case CPROF_SCHED_SOURCE_OFF: return "off";
	case CPROF_SCHED_SOURCE_PERF: return "perf";
	case CPROF_SCHED_SOURCE_SCHEDSTAT: return "schedstat";
	default: return "not recorded";
	}
}

int trace_reader_open(struct trace_reader *r, cprof_source_fn source, void *ctx)
{
	return reader_start(r, source, ctx, NULL);
}

int trace_reader_open_file(struct trace_reader *r, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		memset(r, 0, sizeof *r);
		snprintf(r->error, sizeof r->error, "%s: %s", path, strerror(errno));
		r->status = -1;
		return -1;
	}
	return reader_start(r, source_file, f, f);
}


void trace_reader_close(struct trace_reader *r)
{
	for (uint32_t i = 0; i < r->nstrings; i++)
		free(r->strings[i].s);
	for (uint32_t i = 0; i < r->nstacks; i++)
		free(r->stacks[i].frames);
	free(r->strings);
	free(r->stacks);
	free(r->lost);
	free(r->threads);
	u64map_free(&r->string_index);
	u64map_free(&r->stack_index);
	for (uint32_t i = 0; i < r->nbuild_ids; i++)
		free(r->build_ids[i]);
	free(r->build_ids);
	u64map_free(&r->build_id_index);
	u64map_free(&r->thread_index);
	free(r->chunk);
	free(r->raw);
	free(r->cmdline);
	for (uint32_t i = 0; i < r->nparts; i++) {
		free(r->parts[i].cmdline);
		free(r->parts[i].smap);
		free(r->parts[i].kmap);
		free(r->parts[i].pending);
	}
	free(r->parts);
	free(r->string_hash);
	free(r->stack_hash);
	free(r->tid_keys);
	free(r->tid_vals);
	if (r->file)
		fclose(r->file);
	memset(r, 0, sizeof *r);
}

/* ---- tables: entries in arrays, found through an index by key ---- */

/* The entry for key in a table of elem-byte entries (index + array),
 * appending a zeroed one when absent. Returns NULL when out of memory. */
static void *table_get(void **arr, uint32_t *n, uint32_t *cap, struct u64map *x, uint32_t key, size_t elem,
		       int *created)
{
	uint32_t i = u64map_get(x, key);
	*created = !i;
	if (i)
		return (uint8_t *)*arr + (size_t)(i - 1) * elem;
	if (*n == *cap) {
		uint32_t ncap = *cap ? *cap * 2 : 16;
		void *p = realloc(*arr, (size_t)ncap * elem);
		if (!p)
			return NULL;
		*arr = p;
		*cap = ncap;
	}
	if (u64map_put(x, key, *n + 1))
		return NULL;
	void *e = (uint8_t *)*arr + (size_t)*n * elem;
	memset(e, 0, elem);
	(*n)++;
	return e;
}

/* The entries of ids (tables are sized by entries, not by ids). */
static struct trace_string *string_at(const struct trace_reader *r, uint32_t id)
{
	uint32_t i = u64map_get(&r->string_index, id);
	return i ? &r->strings[i - 1] : NULL;
}

static struct trace_stack *stack_at(const struct trace_reader *r, uint32_t id)
{
	uint32_t i = u64map_get(&r->stack_index, id);
	return i ? &r->stacks[i - 1] : NULL;
}

const char *trace_reader_string(const struct trace_reader *r, uint64_t id)
{
	uint32_t i = id <= UINT32_MAX ? u64map_get(&r->string_index, (uint32_t)id) : 0;
	return i ? r->strings[i - 1].s : NULL;
}

const struct trace_stack *trace_reader_stack(const struct trace_reader *r, uint64_t id)
{
	uint32_t i = id <= UINT32_MAX ? u64map_get(&r->stack_index, (uint32_t)id) : 0;
	return i ? &r->stacks[i - 1] : NULL;
}

const char *trace_reader_build_id(const struct trace_reader *r, uint32_t module)
{
	uint32_t i = module ? u64map_get(&r->build_id_index, module) : 0;
	return i ? r->build_ids[i - 1] : NULL;
}

uint32_t trace_reader_thread_pid(const struct trace_reader *r, uint32_t tid)
{
	for (uint32_t i = 0; i < r->nthreads; i++)
		if (r->threads[i].tid == tid)
			return r->threads[i].pid;
	return 0;
}

const struct trace_part *trace_reader_process(const struct trace_reader *r, uint32_t pid)
{
	for (uint32_t i = r->nparts; i-- > 0;)
		if (r->parts[i].pid == pid)
			return &r->parts[i];
	return NULL;
}

const char *trace_reader_thread_name(const struct trace_reader *r, uint32_t tid)
{
	uint32_t i = u64map_get(&r->thread_index, tid);
	return i ? r->threads[i - 1].name : NULL;
}

double trace_ticks_to_ns(const struct trace_reader *r, uint64_t ticks)
{
	int64_t d = (int64_t)(ticks - r->header.start_ticks);
	return (double)d * 1e9 / (double)r->header.ticks_per_sec;
}

uint64_t trace_start_realtime_ns(const struct trace_reader *r)
{
	const struct cprof_header *h = &r->header;
	double off = trace_ticks_to_ns(r, h->anchor_ticks);
	if (!(off > -9e18 && off < 9e18)) /* an absurd header: no offset rather than UB */
		off = 0;
	return h->anchor_realtime_ns - (uint64_t)(int64_t)off;
}

/* A cursor over one chunk's payload; errors name the payload offset. */
struct cursor {
	const uint8_t *p, *end, *start;
	uint64_t base; /* file offset of start */
};

static int cur_varint(struct trace_reader *r, struct cursor *c, uint64_t *v, const char *what)
{
	size_t n = varint_get(c->p, c->end, v);
	if (!n)
		return set_error(r, 0, c->base + (uint64_t)(c->p - c->start), "bad or cut varint (%s)", what);
	c->p += n;
	return 0;
}

/* ---- process trees: one namespace for every stream's ids ----
 *
 * Each PART stream numbers its strings, stacks, threads and tasks on its
 * own. The reader maps them as it goes: a string's reader id is shared by
 * every stream that defines the same text (so analyses that aggregate by
 * name see one "fib" across processes); a stack gets a fresh reader id;
 * a tid keeps its value unless another pid used it earlier in the file
 * (pid reuse: then a synthetic tid from 0xF0000000 up); a task id gets the
 * part's index in bits 44 and up (task ids are per-process counters). */

static uint32_t fnv(const char *s, uint32_t len)
{
	uint32_t h = 2166136261u;
	for (uint32_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static int string_hash_insert(struct trace_reader *r, uint32_t id)
{
	if (r->next_string * 2 >= r->string_hash_cap) {
		uint32_t ncap = r->string_hash_cap ? r->string_hash_cap * 2 : 1024;
		uint32_t *n = calloc(ncap, sizeof *n);
		if (!n)
			return -1;
		uint32_t *old = r->string_hash, oldcap = r->string_hash_cap;
		r->string_hash = n;
		r->string_hash_cap = ncap;
		for (uint32_t i = 0; i < oldcap; i++)
			if (old[i])
				string_hash_insert(r, old[i]);
		free(old);
	}
	const struct trace_string *t = string_at(r, id);
	if (!t)
		return 0;
	uint32_t j = fnv(t->s, t->len) & (r->string_hash_cap - 1);
	while (r->string_hash[j])
		j = (j + 1) & (r->string_hash_cap - 1);
	r->string_hash[j] = id;
	return 0;
}

/* The reader id of text s (owned by the caller), defining it if new; 0 when
 * out of ids or memory. */
static uint32_t tree_string(struct trace_reader *r, char *s, uint32_t len)
{
	if (r->string_hash_cap) {
		uint32_t j = fnv(s, len) & (r->string_hash_cap - 1);
		for (uint32_t id; (id = r->string_hash[j]); j = (j + 1) & (r->string_hash_cap - 1)) {
			const struct trace_string *t = string_at(r, id);
			if (t && t->len == len && memcmp(t->s, s, len) == 0) {
				free(s);
				return id;
			}
		}
	}
	uint32_t id = r->next_string + 1;
	int created;
	struct trace_string *e = id < CPROF_STRING_ID_MAX ? table_get((void **)&r->strings, &r->nstrings, &r->strings_cap,
								      &r->string_index, id, sizeof *r->strings, &created)
							  : NULL;
	if (!e) {
		free(s);
		return 0;
	}
	*e = (struct trace_string){id, len, s};
	r->next_string = id;
	if (string_hash_insert(r, id))
		return 0;
	return id;
}

/* A part's id map (local id -> tree id), grown to hold `local`. Local ids
 * are bounded by the id ranges the readers check. */
static int map_set(uint32_t **map, uint32_t *cap, uint64_t local, uint32_t global)
{
	if (local >= UINT32_MAX / 2)
		return -1;
	if (local >= *cap) {
		uint32_t n = *cap ? *cap : 64;
		while (n <= local)
			n *= 2;
		uint32_t *p = realloc(*map, (size_t)n * sizeof *p);
		if (!p)
			return -1;
		memset(p + *cap, 0, (size_t)(n - *cap) * sizeof *p);
		*map = p;
		*cap = n;
	}
	(*map)[local] = global;
	return 0;
}

static uint32_t map_get(const uint32_t *map, uint32_t cap, uint64_t local)
{
	return local < cap ? map[local] : 0;
}

static uint64_t tid_hash(uint64_t key, uint32_t cap)
{
	return (key * 0x9e3779b97f4a7c15ull) >> 32 & (cap - 1);
}

/* The output tid of (pid, tid) in a tree file. */
static uint32_t tree_tid(struct trace_reader *r, uint32_t pid, uint32_t tid)
{
	if (r->tid_used * 2 >= r->tid_cap) {
		uint32_t ncap = r->tid_cap ? r->tid_cap * 2 : 256;
		uint64_t *k = calloc(ncap, sizeof *k), *v = calloc(ncap, sizeof *v);
		if (!k || !v) {
			free(k);
			free(v);
			return tid;
		}
		for (uint32_t i = 0; i < r->tid_cap; i++) {
			if (!r->tid_keys[i])
				continue;
			uint64_t j = tid_hash(r->tid_keys[i], ncap);
			while (k[j])
				j = (j + 1) & (ncap - 1);
			k[j] = r->tid_keys[i];
			v[j] = r->tid_vals[i];
		}
		free(r->tid_keys);
		free(r->tid_vals);
		r->tid_keys = k;
		r->tid_vals = v;
		r->tid_cap = ncap;
	}
	/* Keys: (pid << 32 | tid) + 1 for pairs; (1 << 63 | tid) for "tid
	 * taken" marks, whose value is the owning pid. */
	uint64_t key = ((uint64_t)pid << 32 | tid) + 1, j = tid_hash(key, r->tid_cap);
	for (; r->tid_keys[j]; j = (j + 1) & (r->tid_cap - 1))
		if (r->tid_keys[j] == key)
			return (uint32_t)r->tid_vals[j];
	uint64_t taken = 1ull << 63 | tid, t = tid_hash(taken, r->tid_cap);
	int used = 0;
	for (; r->tid_keys[t]; t = (t + 1) & (r->tid_cap - 1))
		if (r->tid_keys[t] == taken)
			used = 1;
	uint32_t out = tid;
	if (used) {
		out = 0xF0000000u + r->next_synthetic_tid++;
	} else {
		r->tid_keys[t] = taken;
		r->tid_vals[t] = pid;
		r->tid_used++;
		for (j = tid_hash(key, r->tid_cap); r->tid_keys[j];)
			j = (j + 1) & (r->tid_cap - 1);
	}
	r->tid_keys[j] = key;
	r->tid_vals[j] = out;
	r->tid_used++;
	return out;
}

static uint64_t tree_task(const struct trace_reader *r, uint64_t task)
{
	return task ? task + ((uint64_t)r->cur_part << 44) : 0;
}

/* Maps a tree stream's ids in an event's arguments to the reader's. The
 * kinds and argument positions are CPROF_EVENTS' (trace_events.h):
 * string-table ids, stack ids, tids and task ids. */
static void tree_map_event(struct trace_reader *r, struct trace_event *ev)
{
	const struct trace_part *p = &r->parts[r->cur_part];
#define S(i) ev->args[i] = map_get(p->smap, p->smap_cap, ev->args[i])
#define K(i) ev->args[i] = map_get(p->kmap, p->kmap_cap, ev->args[i])
#define T(i) ev->args[i] = ev->args[i] ? tree_tid(r, p->pid, (uint32_t)ev->args[i]) : 0
#define TASK(i) ev->args[i] = tree_task(r, ev->args[i])
	switch (ev->kind) {
	case CPROF_EV_REGION_BEGIN: case CPROF_EV_REGION_END: case CPROF_EV_LOG: case CPROF_EV_THREAD_NAME:
		S(0); break;
	case CPROF_EV_TASK_BEGIN: S(0); TASK(1); TASK(2); break;
	case CPROF_EV_TASK_END: case CPROF_EV_TASK_SET: TASK(0); break;
	case CPROF_EV_THREAD_START: T(0); S(1); K(2); break;
	case CPROF_EV_BLOCK_BEGIN: S(2); K(3); break;
	case CPROF_EV_WAKEUP: T(0); K(2); break;
	case CPROF_EV_CPU_SAMPLE: K(0); break;
	default: break;
	}
#undef S
#undef K
#undef T
#undef TASK
}

/* Maps the string ids in the frames of the part's stacks read since the
 * last call (a writer sends a stack's strings right after the stack). */
static uint32_t stack_hash_of(const struct trace_stack *k)
{
	uint32_t h = 2166136261u ^ k->nframes;
	for (uint32_t f = 0; f < k->nframes; f++) {
		const struct cprof_frame *x = &k->frames[f];
		uint64_t v[5] = {x->function, x->file, x->line, x->module, x->module_offset};
		for (int i = 0; i < 5; i++)
			h = (h ^ (uint32_t)(v[i] ^ v[i] >> 32)) * 16777619u;
	}
	return h;
}

/* Same frames, PCs aside (they differ between processes: ASLR). */
static int stack_same(const struct trace_stack *a, const struct trace_stack *b)
{
	if (a->nframes != b->nframes)
		return 0;
	for (uint32_t f = 0; f < a->nframes; f++) {
		const struct cprof_frame *x = &a->frames[f], *y = &b->frames[f];
		if (x->function != y->function || x->file != y->file || x->line != y->line || x->module != y->module ||
		    x->module_offset != y->module_offset)
			return 0;
	}
	return 1;
}

/* The reader id of a stack with k's frames defined earlier, or k's own
 * (then remembered); identical stacks of several processes (forked workers
 * run the same code) become one, so profiles aggregate across the tree. */
static uint32_t stack_dedupe(struct trace_reader *r, uint32_t id)
{
	if (r->stack_hash_used * 2 >= r->stack_hash_cap) {
		uint32_t ncap = r->stack_hash_cap ? r->stack_hash_cap * 2 : 1024;
		uint32_t *n = calloc(ncap, sizeof *n);
		if (!n)
			return id;
		for (uint32_t i = 0; i < r->stack_hash_cap; i++) {
			uint32_t o = r->stack_hash[i];
			if (!o)
				continue;
			uint32_t j = stack_hash_of(stack_at(r, o)) & (ncap - 1);
			while (n[j])
				j = (j + 1) & (ncap - 1);
			n[j] = o;
		}
		free(r->stack_hash);
		r->stack_hash = n;
		r->stack_hash_cap = ncap;
	}
	const struct trace_stack *k = stack_at(r, id);
	if (!k)
		return id;
	uint32_t j = stack_hash_of(k) & (r->stack_hash_cap - 1);
	for (uint32_t o; (o = r->stack_hash[j]); j = (j + 1) & (r->stack_hash_cap - 1))
		if (o != id && stack_same(stack_at(r, o), k))
			return o;
	r->stack_hash[j] = id;
	r->stack_hash_used++;
	return id;
}

static void map_pending_stacks(struct trace_reader *r, struct trace_part *p)
{
	for (uint32_t i = 0; i < p->npending; i++) {
		uint32_t local = p->pending[2 * i], gid = p->pending[2 * i + 1];
		struct trace_stack *k = stack_at(r, gid);
		for (uint32_t f = 0; k && f < k->nframes; f++) {
			k->frames[f].function = map_get(p->smap, p->smap_cap, k->frames[f].function);
			k->frames[f].file = map_get(p->smap, p->smap_cap, k->frames[f].file);
			k->frames[f].module = map_get(p->smap, p->smap_cap, k->frames[f].module);
		}
		uint32_t same = stack_dedupe(r, gid);
		if (same != gid && map_get(p->kmap, p->kmap_cap, local) == gid)
			p->kmap[local] = same;
	}
	p->npending = 0;
}

static int read_strings(struct trace_reader *r, struct cursor *c)
{
	while (c->p < c->end) {
		uint64_t id, len;
		if (cur_varint(r, c, &id, "string id") || cur_varint(r, c, &len, "string length"))
			return -1;
		uint64_t at = c->base + (uint64_t)(c->p - c->start);
		if (id == 0 || id >= CPROF_STRING_ID_MAX)
			return set_error(r, 0, at, "string id %llu out of range", (unsigned long long)id);
		if (len > CPROF_STRING_MAX || len > (uint64_t)(c->end - c->p))
			return set_error(r, 0, at, "string %llu: length %llu exceeds the chunk or %u",
					 (unsigned long long)id, (unsigned long long)len, CPROF_STRING_MAX);
		char *s = malloc(len + 1);
		if (!s)
			return set_error(r, 0, at, "out of memory");
		memcpy(s, c->p, len);
		s[len] = 0;
		c->p += len;
		if (r->tree) { /* a part's local id maps to the tree's id of the same text */
			struct trace_part *p = &r->parts[r->cur_part];
			uint32_t gid = tree_string(r, s, (uint32_t)len);
			if (!gid || map_set(&p->smap, &p->smap_cap, id, gid))
				return set_error(r, 0, at, "out of memory or string ids");
			continue;
		}
		int created;
		struct trace_string *e = table_get((void **)&r->strings, &r->nstrings, &r->strings_cap,
						   &r->string_index, (uint32_t)id, sizeof *r->strings, &created);
		if (!e) {
			free(s);
			return set_error(r, 0, at, "out of memory");
		}
		free(e->s);
		*e = (struct trace_string){(uint32_t)id, (uint32_t)len, s};
	}
	return 0;
}

static int read_stacks(struct trace_reader *r, struct cursor *c)
{
	while (c->p < c->end) {
		uint64_t id, n;
		uint64_t at = c->base + (uint64_t)(c->p - c->start);
		if (cur_varint(r, c, &id, "stack id") || cur_varint(r, c, &n, "frame count"))
			return -1;
		if (id == 0 || id >= CPROF_STACK_ID_MAX)
			return set_error(r, 0, at, "stack id %llu out of range", (unsigned long long)id);
		if (n > CPROF_STACK_MAX_FRAMES)
			return set_error(r, 0, at, "stack %llu: %llu frames exceeds %u", (unsigned long long)id,
					 (unsigned long long)n, CPROF_STACK_MAX_FRAMES);
		struct cprof_frame frames[CPROF_STACK_MAX_FRAMES];
		for (uint64_t i = 0; i < n; i++) {
			uint64_t v[6];
			for (int k = 0; k < 6; k++)
				if (cur_varint(r, c, &v[k], "frame"))
					return -1;
			if (v[1] >= CPROF_STRING_ID_MAX || v[2] >= CPROF_STRING_ID_MAX || v[4] >= CPROF_STRING_ID_MAX ||
			    v[3] > UINT32_MAX)
				return set_error(r, 0, at, "stack %llu: frame %llu has an out-of-range field",
						 (unsigned long long)id, (unsigned long long)i);
			frames[i] = (struct cprof_frame){v[0], (uint32_t)v[1], (uint32_t)v[2], (uint32_t)v[3],
							 (uint32_t)v[4], v[5]};
		}
		if (r->tree) { /* frames name strings the stream may define next: mapped then */
			struct trace_part *p = &r->parts[r->cur_part];
			uint32_t gid = ++r->next_stack;
			if (gid >= CPROF_STACK_ID_MAX || map_set(&p->kmap, &p->kmap_cap, id, gid) ||
			    map_set(&p->pending, &p->pending_cap, 2 * p->npending, (uint32_t)id) ||
			    map_set(&p->pending, &p->pending_cap, 2 * p->npending + 1, gid))
				return set_error(r, 0, at, "out of memory or stack ids");
			p->npending++;
			id = gid;
		}
		int created;
		struct trace_stack *s = table_get((void **)&r->stacks, &r->nstacks, &r->stacks_cap, &r->stack_index,
						  (uint32_t)id, sizeof *r->stacks, &created);
		if (!s)
			return set_error(r, 0, at, "out of memory");
		free(s->frames);
		s->id = (uint32_t)id;
		s->frames = n ? malloc(n * sizeof *frames) : NULL;
		if (n && !s->frames)
			return set_error(r, 0, at, "out of memory");
		if (n)
			memcpy(s->frames, frames, n * sizeof *frames);
		s->nframes = (uint32_t)n;
	}
	return 0;
}

/* MODULES: (module string id, build id length, bytes)*. The module's
 * string comes before (a tree part's ids are mapped by then); an entry
 * naming no defined string, or past CPROF_MODULES_MAX, is skipped. */
static int read_modules(struct trace_reader *r, struct cursor *c)
{
	while (c->p < c->end) {
		uint64_t module, len;
		uint64_t at = c->base + (uint64_t)(c->p - c->start);
		if (cur_varint(r, c, &module, "module id") || cur_varint(r, c, &len, "build id length"))
			return -1;
		if (module == 0 || module >= CPROF_STRING_ID_MAX || len == 0 || len > CPROF_BUILD_ID_MAX ||
		    len > (uint64_t)(c->end - c->p))
			return set_error(r, 0, at, "module %llu: build id of %llu bytes out of range",
					 (unsigned long long)module, (unsigned long long)len);
		const uint8_t *id = c->p;
		c->p += len;
		if (r->tree)
			module = map_get(r->parts[r->cur_part].smap, r->parts[r->cur_part].smap_cap, module);
		if (!module || !trace_reader_string(r, module) || u64map_get(&r->build_id_index, module) ||
		    r->nbuild_ids >= CPROF_MODULES_MAX)
			continue;
		if (r->nbuild_ids == r->build_ids_cap) {
			uint32_t cap = r->build_ids_cap ? r->build_ids_cap * 2 : 16;
			char **p = realloc(r->build_ids, (size_t)cap * sizeof *p);
			if (!p)
				return set_error(r, 0, at, "out of memory");
			r->build_ids = p;
			r->build_ids_cap = cap;
		}
		char *hex = malloc(2 * len + 1);
		if (!hex || u64map_put(&r->build_id_index, module, r->nbuild_ids + 1)) {
			free(hex);
			return set_error(r, 0, at, "out of memory");
		}
		for (uint64_t i = 0; i < len; i++)
			snprintf(hex + 2 * i, 3, "%02x", id[i]);
		r->build_ids[r->nbuild_ids++] = hex;
	}
	return 0;
}

static int read_lost(struct trace_reader *r, struct cursor *c)
{
	while (c->p < c->end) {
		uint64_t v[4];
		uint64_t at = c->base + (uint64_t)(c->p - c->start);
		for (int k = 0; k < 4; k++)
			if (cur_varint(r, c, &v[k], "lost record"))
				return -1;
		if (v[0] > UINT32_MAX)
			return set_error(r, 0, at, "lost record: tid %llu out of range", (unsigned long long)v[0]);
		if (r->nlost >= 1u << 20)
			return set_error(r, 0, at, "more than %u lost records", 1u << 20);
		if ((r->nlost & (r->nlost - 1)) == 0) { /* grow at powers of two */
			void *p = realloc(r->lost, (r->nlost ? r->nlost * 2 : 1) * sizeof *r->lost);
			if (!p)
				return set_error(r, 0, at, "out of memory");
			r->lost = p;
		}
		if (r->tree)
			v[0] = tree_tid(r, r->parts[r->cur_part].pid, (uint32_t)v[0]);
		r->lost[r->nlost++] = (struct cprof_lost){(uint32_t)v[0], v[1], v[2], v[3]};
	}
	return 0;
}

static void note_thread(struct trace_reader *r, uint32_t tid, uint32_t pid, const uint8_t *name, uint32_t len)
{
	int created;
	struct trace_thread *t = table_get((void **)&r->threads, &r->nthreads, &r->threads_cap, &r->thread_index,
					   tid, sizeof *r->threads, &created);
	if (!t)
		return; /* names are optional; events still flow */
	t->tid = tid;
	t->pid = pid;
	if (len || created) { /* an unnamed batch keeps the name seen before */
		memcpy(t->name, name, len);
		t->name[len] = 0;
	}
}

static int start_batch(struct trace_reader *r, struct cursor *c)
{
	/* Format 3 adds the timestamp stream's length (u32 at 24), and the
	 * stream itself after the name; before it, deltas are in the events. */
	int v3 = r->header.version >= 3;
	uint32_t fixed = v3 ? 29 : 25;
	if (c->end - c->p < (long)fixed)
		return set_error(r, 0, c->base, "events chunk shorter than its header");
	const uint8_t *p = c->p;
	uint32_t tid = le_get32(p), seq = le_get32(p + 4), nevents = le_get32(p + 16);
	uint64_t base = le_get64(p + 8);
	uint32_t raw_len = le_get32(p + 20);
	uint32_t time_len = v3 ? le_get32(p + 24) : 0;
	uint32_t name_len = p[fixed - 1];
	c->p += fixed;
	if (name_len > CPROF_THREAD_NAME_MAX || name_len > (size_t)(c->end - c->p))
		return set_error(r, 0, c->base + fixed - 1, "thread name length %u invalid", name_len);
	if (raw_len > CPROF_BATCH_MAX_RAW || time_len > CPROF_BATCH_MAX_RAW - raw_len)
		return set_error(r, 0, c->base + 20, "batch of %u + %u bytes exceeds %u", raw_len, time_len,
				 CPROF_BATCH_MAX_RAW);
	if (v3 ? nevents > raw_len || nevents > time_len : nevents > raw_len / 2)
		return set_error(r, 0, c->base + 16, "batch claims %u events in %u + %u bytes", nevents, raw_len,
				 time_len);
	uint32_t pid = r->parts ? r->parts[r->cur_part].pid : r->header.pid;
	if (r->tree)
		tid = tree_tid(r, pid, tid);
	note_thread(r, tid, pid, c->p, name_len);
	c->p += name_len;
	if (time_len > (size_t)(c->end - c->p))
		return set_error(r, 0, c->base + 24, "timestamp stream of %u bytes overruns the chunk", time_len);
	r->time_pos = (size_t)(c->p - r->chunk);
	r->time_len = r->time_pos + time_len;
	c->p += time_len;
	if (r->raw_cap < raw_len || !r->raw) { /* never NULL, even for 0 bytes */
		void *q = realloc(r->raw, raw_len ? raw_len : 1);
		if (!q)
			return set_error(r, 0, c->base, "out of memory");
		r->raw = q;
		r->raw_cap = raw_len;
	}
	int n = LZ4_decompress_safe((const char *)c->p, (char *)r->raw, (int)(c->end - c->p), (int)raw_len);
	if (n != (int)raw_len)
		return set_error(r, 0, c->base + (uint64_t)(c->p - c->start),
				 "corrupt compressed events of thread %u (batch %u)", tid, seq);
	r->raw_len = raw_len;
	r->raw_pos = 0;
	/* the whole chunk as stored (its header too) is shared among its events */
	uint64_t stored = (uint64_t)(c->end - c->start) + CPROF_CHUNK_HEADER;
	r->stats.events_raw += raw_len + time_len;
	r->stats.events_time += time_len;
	r->stats.events_lz4 += (uint64_t)(c->end - c->p);
	r->stats.batch_ratio = raw_len + time_len ? (double)stored / (raw_len + time_len) : 0;
	r->batch_tid = tid;
	r->batch_seq = seq;
	r->batch_left = nevents;
	r->batch_ts = base;
	r->batches++;
	return 0;
}

static int batch_error(struct trace_reader *r, uint64_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int batch_error(struct trace_reader *r, uint64_t at, const char *fmt, ...)
{
	char detail[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	return set_error(r, 0, r->chunk_offset, "thread %u batch %u, event byte %llu: %s", r->batch_tid,
			 r->batch_seq, (unsigned long long)at, detail);
}

/* Decodes one event of the current batch. */
static int decode_event(struct trace_reader *r, struct trace_event *ev)
{
	struct cursor c = {r->raw + r->raw_pos, r->raw + r->raw_len, r->raw, 0};
	uint64_t at = r->raw_pos;
#define BATCH_ERR(...) batch_error(r, at, __VA_ARGS__)
	if (c.p >= c.end)
		return BATCH_ERR("batch ends before its %u remaining events", r->batch_left);
	unsigned kind = *c.p++;
	const struct cprof_event_info *info = cprof_event_info(kind);
	if (!info || kind == CPROF_EV_PAD || kind == CPROF_EV_BLOCK_START)
		return BATCH_ERR("unknown event kind %u", kind);
	uint64_t delta;
	size_t n, time_used = 0;
	if (r->header.version >= 3) { /* the timestamp stream */
		if (!(time_used = varint_get(r->chunk + r->time_pos, r->chunk + r->time_len, &delta)))
			return BATCH_ERR("cut timestamp (timestamp stream byte %zu)", r->time_pos);
	} else {
		if (!(n = varint_get(c.p, c.end, &delta)))
			return BATCH_ERR("cut timestamp");
		c.p += n;
	}
	memset(ev, 0, sizeof *ev);
	ev->kind = (uint8_t)kind;
	ev->tid = r->batch_tid;
	ev->pid = r->parts ? r->parts[r->cur_part].pid : r->header.pid;
	ev->ts = r->batch_ts + (uint64_t)zigzag_decode(delta);
	for (unsigned i = 0; i < info->nargs; i++) {
		if (!(n = varint_get(c.p, c.end, &ev->args[i])))
			return BATCH_ERR("cut argument %u of %s", i, info->name);
		c.p += n;
	}
	if (info->bytes) {
		uint64_t len;
		if (!(n = varint_get(c.p, c.end, &len)))
			return BATCH_ERR("cut byte length of %s", info->name);
		c.p += n;
		if (len > CPROF_EVENT_MAX_BYTES || len > (uint64_t)(c.end - c.p))
			return BATCH_ERR("%s carries %llu bytes, more than the batch or %u", info->name,
					 (unsigned long long)len, CPROF_EVENT_MAX_BYTES);
		ev->bytes = c.p;
		ev->nbytes = (uint32_t)len;
		c.p += len;
	}
#undef BATCH_ERR
	if (r->tree)
		tree_map_event(r, ev);
	if (r->parts)
		r->parts[r->cur_part].events++;
	r->time_pos += time_used;
	if (!r->no_kind_stats) {
		size_t used = (size_t)(c.p - r->raw) - r->raw_pos + time_used;
		r->stats.kind_count[kind]++;
		r->stats.kind_raw[kind] += used;
		r->stats.kind_stored[kind] += (double)used * r->stats.batch_ratio;
	}
	r->raw_pos = (size_t)(c.p - r->raw);
	r->batch_ts = ev->ts;
	r->batch_left--;
	r->events++;
	/* a rename takes effect at once, not only from the next batch's header */
	const char *renamed = ev->kind == CPROF_EV_THREAD_NAME ? trace_reader_string(r, ev->args[0]) : NULL;
	if (renamed)
		note_thread(r, ev->tid, ev->pid, (const uint8_t *)renamed,
			    (uint32_t)strnlen(renamed, CPROF_THREAD_NAME_MAX));
	return 1;
}

/* A PART: finds or adds its stream's part and leaves c on the inner chunk's
 * payload, *type its type. */
static int start_part(struct trace_reader *r, struct cursor *c, unsigned *type)
{
	if (c->end - c->p < (long)(CPROF_PART_HEADER + CPROF_CHUNK_HEADER))
		return set_error(r, 0, c->base, "part chunk shorter than its headers");
	uint32_t pid = le_get32(c->p);
	uint64_t stream = le_get64(c->p + 8);
	const uint8_t *inner = c->p + CPROF_PART_HEADER;
	uint32_t len = le_get32(inner + 4);
	if (inner[0] == CPROF_CHUNK_PART || len != (uint64_t)(c->end - inner) - CPROF_CHUNK_HEADER)
		return set_error(r, 0, c->base, "part chunk: inner chunk type %u of %u bytes does not fit", inner[0],
				 len);
	uint32_t i = r->nparts;
	while (i-- > 0 && !(r->parts[i].pid == pid && r->parts[i].stream == stream))
		;
	if (i == UINT32_MAX) {
		if (r->nparts >= 1u << 20)
			return set_error(r, 0, c->base, "more than %u process parts", 1u << 20);
		if ((r->nparts & (r->nparts - 1)) == 0) {
			void *p = realloc(r->parts, (r->nparts ? r->nparts * 2 : 1) * sizeof *r->parts);
			if (!p)
				return set_error(r, 0, c->base, "out of memory");
			r->parts = p;
		}
		i = r->nparts++;
		r->parts[i] = (struct trace_part){.pid = pid, .stream = stream};
	}
	r->cur_part = i;
	*type = inner[0];
	c->base += (uint64_t)(inner + CPROF_CHUNK_HEADER - c->start);
	c->p = c->start = inner + CPROF_CHUNK_HEADER;
	return 0;
}

static int read_process(struct trace_reader *r, struct cursor *c)
{
	uint64_t v[7];
	for (int k = 0; k < 7; k++)
		if (cur_varint(r, c, &v[k], "process record"))
			return -1;
	if (v[0] > UINT32_MAX || v[1] > UINT32_MAX || v[6] > CPROF_CMDLINE_MAX || v[6] > (uint64_t)(c->end - c->p))
		return set_error(r, 0, c->base, "process record out of range");
	if (!r->tree)
		return 0; /* only meaningful inside a PART */
	struct trace_part *p = &r->parts[r->cur_part];
	char *cmd = malloc(v[6] + 1);
	if (!cmd)
		return set_error(r, 0, c->base, "out of memory");
	memcpy(cmd, c->p, v[6]);
	cmd[v[6]] = 0;
	free(p->cmdline);
	p->cmdline = cmd;
	p->cmdline_len = (uint32_t)v[6];
	p->ppid = (uint32_t)v[1];
	p->start_ticks = v[2];
	return 0;
}

/* The end of a tree file: complete when every part seen has ended. */
static int tree_eof(struct trace_reader *r, uint64_t at)
{
	for (uint32_t i = 0; i < r->nparts; i++)
		if (!r->parts[i].ended)
			return set_error(r, 1, at, "truncated: process %u (%s) has no end marker (still running, or killed)",
					 r->parts[i].pid, r->parts[i].cmdline ? r->parts[i].cmdline : "?");
	r->status = 1;
	return 0;
}

int trace_reader_next_slow(struct trace_reader *r, struct trace_event *ev)
{
	for (;;) {
		if (r->status)
			return r->status == 1 ? 0 : -1;
		if (r->batch_left)
			return decode_event(r, ev);

		uint8_t hdr[CPROF_CHUNK_HEADER];
		uint64_t at = r->offset;
		long n = source_read(r, hdr, sizeof hdr);
		if (n < 0)
			return -1;
		if (n == 0 && r->tree)
			return tree_eof(r, at);
		if (n == 0)
			return set_error(r, 1, at, "truncated: input ends without an end marker");
		if (n < (long)sizeof hdr)
			return set_error(r, 1, at, "truncated chunk header (%ld of %u bytes)", n,
					 CPROF_CHUNK_HEADER);
		uint32_t len = le_get32(hdr + 4);
		if (len > CPROF_CHUNK_MAX_PAYLOAD)
			return set_error(r, 0, at, "chunk type %u of %u bytes exceeds the %u limit", hdr[0], len,
					 CPROF_CHUNK_MAX_PAYLOAD);
		if (r->chunk_cap < len || !r->chunk) { /* never a NULL chunk, even for 0 bytes */
			void *p = realloc(r->chunk, len ? len : 1);
			if (!p)
				return set_error(r, 0, at, "out of memory");
			r->chunk = p;
			r->chunk_cap = len;
		}
		n = source_read(r, r->chunk, len);
		if (n < 0)
			return -1;
		if ((uint32_t)n < len)
			return set_error(r, 1, at, "truncated chunk (type %u, %ld of %u bytes)", hdr[0], n, len);
		r->chunk_offset = at;
		if (hdr[0] < TRACE_STATS_CHUNK_TYPES) {
			unsigned t = hdr[0];
			uint64_t inner = len;
			if (r->tree && t == CPROF_CHUNK_PART && len >= CPROF_PART_HEADER + CPROF_CHUNK_HEADER &&
			    r->chunk[CPROF_PART_HEADER] < TRACE_STATS_CHUNK_TYPES) {
				/* a PART: its wrapper counts as PART, the inner chunk as its type */
				t = r->chunk[CPROF_PART_HEADER];
				inner = len - CPROF_PART_HEADER - CPROF_CHUNK_HEADER;
				r->stats.chunks[CPROF_CHUNK_PART]++;
				r->stats.chunk_bytes[CPROF_CHUNK_PART] += CPROF_CHUNK_HEADER + CPROF_PART_HEADER;
			}
			r->stats.chunks[t]++;
			r->stats.chunk_bytes[t] += inner + CPROF_CHUNK_HEADER;
		}
		struct cursor c = {r->chunk, r->chunk + len, r->chunk, at + CPROF_CHUNK_HEADER};
		int rc = 0;
		unsigned type = hdr[0];
		if (r->tree && type == CPROF_CHUNK_PART) {
			if ((rc = start_part(r, &c, &type)))
				return -1;
		} else if (r->tree && type != CPROF_CHUNK_END) {
			type = 0; /* tree files carry process chunks only in PARTs */
		}
		if (type == CPROF_CHUNK_PROCESS) {
			if (read_process(r, &c))
				return -1;
			continue;
		}
		if (r->tree && type == CPROF_CHUNK_END && hdr[0] == CPROF_CHUNK_PART) {
			uint64_t ne, nl;
			if (cur_varint(r, &c, &ne, "end event count") || cur_varint(r, &c, &nl, "end lost count"))
				return -1;
			r->end_events += ne;
			r->end_lost += nl;
			r->parts[r->cur_part].ended = 1;
			continue;
		}
		switch (type) {
		case CPROF_CHUNK_EVENTS:
			if (r->tree)
				map_pending_stacks(r, &r->parts[r->cur_part]);
			rc = start_batch(r, &c);
			break;
		case CPROF_CHUNK_STRINGS:
			rc = read_strings(r, &c);
			if (!rc && r->tree)
				map_pending_stacks(r, &r->parts[r->cur_part]);
			break;
		case CPROF_CHUNK_STACKS: rc = read_stacks(r, &c); break;
		case CPROF_CHUNK_LOST: rc = read_lost(r, &c); break;
		case CPROF_CHUNK_MODULES: rc = read_modules(r, &c); break;
		case CPROF_CHUNK_SCHED: {
			uint64_t n = 0;
			if (cur_varint(r, &c, &n, "sched lost count"))
				return -1;
			r->sched_lost += n;
			break;
		}
		case CPROF_CHUNK_END:
			if (cur_varint(r, &c, &r->end_events, "end event count") ||
			    cur_varint(r, &c, &r->end_lost, "end lost count"))
				return -1;
			r->status = 1;
			break;
		default: r->skipped_chunks++; break; /* forward compatible */
		}
		if (rc)
			return -1;
	}
}
