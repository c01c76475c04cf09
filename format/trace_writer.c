/*
 * The one writer of cprof-trace files (layout in FORMAT.md).
 *
 * Workload: a drainer thread appends a few thousand events per batch and
 * writes a batch every few milliseconds to a second; chunk assembly buffers
 * are reused, so steady state allocates nothing.
 */
#include "trace_writer.h"

#include <errno.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "varint.h"

int trace_buf_reserve(struct trace_buf *b, size_t more)
{
	if (b->cap - b->len >= more)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < more) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int trace_buf_put(struct trace_buf *b, const void *src, size_t n)
{
	int rc = trace_buf_reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->p + b->len, src, n);
	b->len += n;
	return 0;
}

int trace_buf_put_varint(struct trace_buf *b, uint64_t v)
{
	int rc = trace_buf_reserve(b, CPROF_VARINT_MAX);
	if (rc)
		return rc;
	b->len += varint_put(b->p + b->len, v);
	return 0;
}

void trace_buf_free(struct trace_buf *b)
{
	free(b->p);
	*b = (struct trace_buf){0};
}

void trace_batch_reset(struct trace_batch *b, uint32_t tid, uint32_t seq, uint64_t base_ticks,
		       const char *name)
{
	b->tid = tid;
	b->seq = seq;
	b->base_ticks = base_ticks;
	b->last_ticks = base_ticks;
	b->nevents = 0;
	size_t n = name ? strnlen(name, CPROF_THREAD_NAME_MAX) : 0;
	memcpy(b->name, name ? name : "", n);
	b->name_len = (uint8_t)n;
	b->raw.len = 0;
	b->ts.len = 0;
}

int trace_batch_add(struct trace_batch *b, unsigned kind, uint64_t ts, const uint64_t *args,
		    const void *bytes, size_t nbytes)
{
	const struct cprof_event_info *info = cprof_event_info(kind);
	if (!info || kind == CPROF_EV_PAD || kind == CPROF_EV_BLOCK_START)
		return -EINVAL;
	if (!info->bytes)
		nbytes = 0;
	if (nbytes > CPROF_EVENT_MAX_BYTES)
		nbytes = CPROF_EVENT_MAX_BYTES;
	size_t need = 1 + CPROF_VARINT_MAX * (1u + info->nargs) + nbytes;
	if (b->raw.len + b->ts.len + need + CPROF_VARINT_MAX > CPROF_BATCH_MAX_RAW)
		return -ENOSPC;
	int rc = trace_buf_reserve(&b->raw, need);
	if (!rc)
		rc = trace_buf_reserve(&b->ts, CPROF_VARINT_MAX);
	if (rc)
		return rc;
	trace_batch_put(b, info, kind, ts, args, bytes, nbytes);
	return 0;
}

void trace_batch_free(struct trace_batch *b)
{
	trace_buf_free(&b->raw);
	trace_buf_free(&b->ts);
}

void trace_writer_init(struct trace_writer *w, cprof_sink_fn sink, void *ctx)
{
	*w = (struct trace_writer){.sink = sink, .sink_ctx = ctx};
}

void trace_writer_destroy(struct trace_writer *w)
{
	trace_buf_free(&w->chunk);
	trace_buf_free(&w->lz4);
}

static int emit(struct trace_writer *w, const void *buf, size_t len)
{
	if (w->error)
		return w->error;
	int rc = w->sink(w->sink_ctx, buf, len);
	if (rc) {
		w->error = rc;
		return rc;
	}
	w->bytes += len;
	return 0;
}

static int fail(struct trace_writer *w, int rc)
{
	if (!w->error)
		w->error = rc;
	return rc;
}

int trace_writer_header(struct trace_writer *w, const struct cprof_header *h)
{
	uint32_t cmdlen = h->cmdline_len > CPROF_CMDLINE_MAX ? CPROF_CMDLINE_MAX : h->cmdline_len;
	uint8_t fixed[CPROF_HEADER_FIXED] = {0};
	memcpy(fixed, CPROF_MAGIC, CPROF_MAGIC_LEN);
	le_put16(fixed + 8, CPROF_FORMAT_VERSION);
	le_put16(fixed + 10, h->flags);
	/* Extension entries (tag, len, value) after the cmdline; readers of
	 * version 1 that predate them skip them (header length). */
	uint8_t ext[16];
	size_t extlen = 0;
	if (h->sched_source) {
		ext[extlen++] = CPROF_HDR_SCHED_SOURCE;
		ext[extlen++] = 1;
		ext[extlen++] = h->sched_source;
	}
	if (h->has_cpu_hz) {
		ext[extlen++] = CPROF_HDR_CPU_HZ;
		ext[extlen++] = 4;
		le_put32(ext + extlen, h->cpu_hz);
		extlen += 4;
	}
	le_put32(fixed + 12, CPROF_HEADER_FIXED + cmdlen + (uint32_t)extlen);
	le_put64(fixed + 16, h->ticks_per_sec);
	le_put64(fixed + 24, h->anchor_ticks);
	le_put64(fixed + 32, h->anchor_realtime_ns);
	le_put64(fixed + 40, h->anchor_monotonic_ns);
	le_put64(fixed + 48, h->start_ticks);
	le_put32(fixed + 56, h->pid);
	le_put32(fixed + 60, cmdlen);
	int rc = emit(w, fixed, sizeof fixed);
	if (!rc)
		rc = emit(w, h->cmdline, cmdlen);
	return rc || !extlen ? rc : emit(w, ext, extlen);
}

void trace_writer_set_part(struct trace_writer *w, uint32_t pid, uint64_t stream)
{
	w->part_pid = pid;
	w->part_stream = stream;
}

/* Bytes before the inner chunk header in w->chunk: a PART's headers. */
static size_t chunk_base(const struct trace_writer *w)
{
	return w->part_stream ? CPROF_CHUNK_HEADER + CPROF_PART_HEADER : 0;
}

static int chunk_start(struct trace_writer *w, int type)
{
	if (w->error)
		return w->error;
	if (w->open_type)
		return fail(w, -EINVAL);
	w->chunk.len = 0;
	uint8_t hdr[CPROF_CHUNK_HEADER + CPROF_CHUNK_HEADER + CPROF_PART_HEADER] = {0};
	size_t base = chunk_base(w);
	hdr[base] = (uint8_t)type;
	int rc = trace_buf_put(&w->chunk, hdr, base + CPROF_CHUNK_HEADER);
	if (rc)
		return fail(w, rc);
	w->open_type = type;
	return 0;
}

static int chunk_finish(struct trace_writer *w)
{
	size_t base = chunk_base(w);
	size_t payload = w->chunk.len - base - CPROF_CHUNK_HEADER;
	w->open_type = 0;
	if (payload + base > CPROF_CHUNK_MAX_PAYLOAD)
		return fail(w, -E2BIG);
	le_put32(w->chunk.p + base + 4, (uint32_t)payload);
	if (base) { /* the PART around it */
		uint8_t *p = w->chunk.p;
		p[0] = CPROF_CHUNK_PART;
		p[1] = 0;
		le_put16(p + 2, 0);
		le_put32(p + 4, (uint32_t)(w->chunk.len - CPROF_CHUNK_HEADER));
		le_put32(p + 8, w->part_pid);
		le_put32(p + 12, 0);
		le_put64(p + 16, w->part_stream);
	}
	return emit(w, w->chunk.p, w->chunk.len);
}

int trace_writer_batch(struct trace_writer *w, const struct trace_batch *b)
{
	if (b->nevents == 0)
		return w->error;
	int rc = chunk_start(w, CPROF_CHUNK_EVENTS);
	if (rc)
		return rc;
	/* Format 3: the timestamp deltas stored as they are (they hardly
	 * compress), the rest (kinds, arguments, byte strings: repetitive)
	 * as one LZ4 block, which then compresses well and fast. */
	uint8_t fixed[29];
	le_put32(fixed, b->tid);
	le_put32(fixed + 4, b->seq);
	le_put64(fixed + 8, b->base_ticks);
	le_put32(fixed + 16, b->nevents);
	le_put32(fixed + 20, (uint32_t)b->raw.len);
	le_put32(fixed + 24, (uint32_t)b->ts.len);
	fixed[28] = b->name_len;
	int bound = LZ4_compressBound((int)b->raw.len);
	if ((rc = trace_buf_put(&w->chunk, fixed, sizeof fixed)) ||
	    (rc = trace_buf_put(&w->chunk, b->name, b->name_len)) ||
	    (rc = trace_buf_put(&w->chunk, b->ts.p, b->ts.len)) ||
	    (rc = trace_buf_reserve(&w->chunk, (size_t)bound)))
		return w->open_type = 0, fail(w, rc);
	int n = LZ4_compress_default((const char *)b->raw.p, (char *)w->chunk.p + w->chunk.len,
				     (int)b->raw.len, bound);
	if (n <= 0)
		return w->open_type = 0, fail(w, -EIO);
	w->chunk.len += (size_t)n;
	rc = chunk_finish(w);
	if (!rc)
		w->events += b->nevents;
	return rc;
}

int trace_writer_open(struct trace_writer *w, enum cprof_chunk_type type)
{
	if (type != CPROF_CHUNK_STRINGS && type != CPROF_CHUNK_STACKS && type != CPROF_CHUNK_LOST &&
	    type != CPROF_CHUNK_SCHED && type != CPROF_CHUNK_MODULES)
		return fail(w, -EINVAL);
	return chunk_start(w, type);
}

static int put_varints(struct trace_writer *w, const uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = trace_buf_put_varint(&w->chunk, v[i]);
		if (rc)
			return fail(w, rc);
	}
	return 0;
}

int trace_writer_string(struct trace_writer *w, uint32_t id, const char *s, size_t len)
{
	if (w->error)
		return w->error;
	if (w->open_type != CPROF_CHUNK_STRINGS || id == 0 || id >= CPROF_STRING_ID_MAX)
		return fail(w, -EINVAL);
	if (len > CPROF_STRING_MAX)
		len = CPROF_STRING_MAX;
	uint64_t v[2] = {id, len};
	int rc = put_varints(w, v, 2);
	if (!rc && (rc = trace_buf_put(&w->chunk, s, len)))
		fail(w, rc);
	return rc;
}

int trace_writer_module(struct trace_writer *w, uint32_t module, const uint8_t *build_id, size_t len)
{
	if (w->error)
		return w->error;
	if (w->open_type != CPROF_CHUNK_MODULES || module == 0 || module >= CPROF_STRING_ID_MAX || !len ||
	    len > CPROF_BUILD_ID_MAX)
		return fail(w, -EINVAL);
	uint64_t v[2] = {module, len};
	int rc = put_varints(w, v, 2);
	if (!rc && (rc = trace_buf_put(&w->chunk, build_id, len)))
		fail(w, rc);
	return rc;
}

int trace_writer_stack(struct trace_writer *w, uint32_t id, const struct cprof_frame *frames,
		       uint32_t nframes)
{
	if (w->error)
		return w->error;
	if (w->open_type != CPROF_CHUNK_STACKS || id == 0 || id >= CPROF_STACK_ID_MAX)
		return fail(w, -EINVAL);
	if (nframes > CPROF_STACK_MAX_FRAMES)
		nframes = CPROF_STACK_MAX_FRAMES;
	uint64_t head[2] = {id, nframes};
	int rc = put_varints(w, head, 2);
	for (uint32_t i = 0; !rc && i < nframes; i++) {
		const struct cprof_frame *f = &frames[i];
		uint64_t v[6] = {f->pc, f->function, f->file, f->line, f->module, f->module_offset};
		rc = put_varints(w, v, 6);
	}
	return rc;
}

int trace_writer_sched_lost(struct trace_writer *w, uint64_t lost)
{
	int rc = trace_writer_open(w, CPROF_CHUNK_SCHED);
	if (!rc)
		rc = put_varints(w, &lost, 1);
	return rc ? rc : trace_writer_close(w);
}

int trace_writer_lost(struct trace_writer *w, const struct cprof_lost *l)
{
	if (w->error)
		return w->error;
	if (w->open_type != CPROF_CHUNK_LOST)
		return fail(w, -EINVAL);
	uint64_t v[4] = {l->tid, l->dropped, l->first_ticks, l->last_ticks};
	int rc = put_varints(w, v, 4);
	if (!rc)
		w->lost += l->dropped;
	return rc;
}

int trace_writer_close(struct trace_writer *w)
{
	if (w->error)
		return w->error;
	if (!w->open_type)
		return fail(w, -EINVAL);
	if (w->chunk.len == chunk_base(w) + CPROF_CHUNK_HEADER) { /* empty list: write nothing */
		w->open_type = 0;
		return 0;
	}
	return chunk_finish(w);
}

int trace_writer_process(struct trace_writer *w, const struct cprof_process *p)
{
	int rc = chunk_start(w, CPROF_CHUNK_PROCESS);
	if (rc)
		return rc;
	uint32_t cmdlen = p->cmdline_len > CPROF_CMDLINE_MAX ? CPROF_CMDLINE_MAX : p->cmdline_len;
	uint64_t v[7] = {p->pid, p->ppid, p->start_ticks, p->ticks_per_sec, p->anchor_ticks,
			 p->anchor_monotonic_ns, cmdlen};
	if ((rc = put_varints(w, v, 7)) || (rc = trace_buf_put(&w->chunk, p->cmdline, cmdlen)))
		return w->open_type = 0, fail(w, rc);
	return chunk_finish(w);
}

int trace_writer_end(struct trace_writer *w)
{
	int rc = chunk_start(w, CPROF_CHUNK_END);
	if (rc)
		return rc;
	uint64_t v[2] = {w->events, w->lost};
	if ((rc = put_varints(w, v, 2)))
		return w->open_type = 0, rc;
	return chunk_finish(w);
}

int trace_sink_buf(void *ctx, const void *buf, size_t len)
{
	return trace_buf_put(ctx, buf, len);
}

int trace_sink_fd(void *ctx, const void *buf, size_t len)
{
	int fd = *(int *)ctx;
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
