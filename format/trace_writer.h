/*
 * The one writer of cprof-trace files, used by the tracer (captures) and by
 * tests and tools that synthesize traces.
 *
 * Chunks are assembled in memory and handed whole to a sink; a sink error
 * is sticky (every later call returns it). Not thread-safe: one writer per
 * output stream. Allocates (it runs on the drainer, never on a record path).
 */
#ifndef CPROF_TRACE_WRITER_H
#define CPROF_TRACE_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "trace_events.h"
#include "trace_format.h"
#include "varint.h"
#include <string.h>

/* Writes all of buf; returns 0 or a negative errno. */
typedef int (*cprof_sink_fn)(void *ctx, const void *buf, size_t len);

/* A growable byte buffer. */
struct trace_buf {
	uint8_t *p;
	size_t len; /* bytes used */
	size_t cap; /* bytes allocated */
};

int trace_buf_reserve(struct trace_buf *b, size_t more);
int trace_buf_put(struct trace_buf *b, const void *src, size_t n);
int trace_buf_put_varint(struct trace_buf *b, uint64_t v);
void trace_buf_free(struct trace_buf *b);

/* One thread's events, encoded (varint/delta) but not yet compressed. */
struct trace_batch {
	uint32_t tid;
	uint32_t seq;        /* per-thread batch sequence number in a capture */
	uint64_t base_ticks; /* the first event's delta is against this */
	uint64_t last_ticks; /* timestamp of the last event added */
	uint32_t nevents;
	uint8_t name_len;    /* bytes of name */
	char name[CPROF_THREAD_NAME_MAX];
	struct trace_buf raw; /* encoded events: kinds, arguments, byte strings */
	struct trace_buf ts;  /* their timestamp deltas (format 3: a stream of its own) */
};

void trace_batch_reset(struct trace_batch *b, uint32_t tid, uint32_t seq, uint64_t base_ticks,
		       const char *name);
/* Appends one event. args has cprof_event_info(kind)->nargs values; bytes
 * (when the kind has them) are cut to CPROF_EVENT_MAX_BYTES. Returns 0,
 * -EINVAL for an unknown kind, -ENOMEM. */
int trace_batch_add(struct trace_batch *b, unsigned kind, uint64_t ts, const uint64_t *args,
		    const void *bytes, size_t nbytes);
void trace_batch_free(struct trace_batch *b);

/* The most bytes one event's encoding takes. */
#define TRACE_BATCH_EVENT_MAX (1u + CPROF_VARINT_MAX * (2u + CPROF_EVENT_MAX_ARGS) + CPROF_EVENT_MAX_BYTES)

/* Nonzero when trace_batch_put may append one more event of any kind:
 * the buffer has room, and the batch stays within CPROF_BATCH_MAX_RAW. */
static inline int trace_batch_room(const struct trace_batch *b)
{
	return b->raw.cap - b->raw.len >= TRACE_BATCH_EVENT_MAX && b->ts.cap - b->ts.len >= CPROF_VARINT_MAX &&
	       b->raw.len + b->ts.len + TRACE_BATCH_EVENT_MAX + CPROF_VARINT_MAX <= CPROF_BATCH_MAX_RAW;
}

/* Bytes of the batch's two streams, decoded. */
static inline size_t trace_batch_bytes(const struct trace_batch *b)
{
	return b->raw.len + b->ts.len;
}

/* trace_batch_add's encoding for hot loops (the drainer): the caller has
 * checked trace_batch_room, kind is a real event kind (not PAD or
 * BLOCK_START), info is its table entry, and nbytes is 0 for a kind
 * without bytes and at most CPROF_EVENT_MAX_BYTES. */
static inline void trace_batch_put(struct trace_batch *b, const struct cprof_event_info *info, unsigned kind,
				   uint64_t ts, const uint64_t *args, const void *bytes, size_t nbytes)
{
	uint8_t *p = b->raw.p + b->raw.len, *start = p;
	*p++ = (uint8_t)kind;
	/* Signed delta: a thread that migrates between cores may read a TSC a
	 * few ticks behind its previous read. */
	b->ts.len += varint_put(b->ts.p + b->ts.len, zigzag_encode((int64_t)(ts - b->last_ticks)));
	for (unsigned i = 0; i < info->nargs; i++)
		p += varint_put(p, args[i]);
	if (info->bytes) {
		p += varint_put(p, nbytes);
		memcpy(p, bytes, nbytes);
		p += nbytes;
	}
	b->raw.len += (size_t)(p - start);
	b->last_ticks = ts;
	b->nevents++;
}

struct trace_writer {
	cprof_sink_fn sink;
	void *sink_ctx;
	int error;          /* first sink or allocation error, sticky */
	uint64_t bytes;     /* bytes handed to the sink */
	uint64_t events;    /* events in EVENTS chunks written */
	uint64_t lost;      /* dropped events reported in LOST chunks */
	struct trace_buf chunk; /* the chunk being assembled */
	struct trace_buf lz4;   /* compression scratch */
	int open_type;      /* type of the open chunk, 0 when none */
	/* Tree parts: when part_stream is not 0, every chunk is written
	 * wrapped in a PART chunk naming part_pid and part_stream, in one
	 * sink call (so processes appending to one O_APPEND file never
	 * interleave inside a chunk). */
	uint32_t part_pid;
	uint64_t part_stream;
};

void trace_writer_init(struct trace_writer *w, cprof_sink_fn sink, void *ctx);
void trace_writer_destroy(struct trace_writer *w);

int trace_writer_header(struct trace_writer *w, const struct cprof_header *h);
/* Makes every later chunk a PART of process pid's stream (stream != 0). */
void trace_writer_set_part(struct trace_writer *w, uint32_t pid, uint64_t stream);
/* A PROCESS chunk (tree parts: the first chunk of a stream). */
int trace_writer_process(struct trace_writer *w, const struct cprof_process *p);
/* Compresses and writes b as one EVENTS chunk (nothing when b is empty). */
int trace_writer_batch(struct trace_writer *w, const struct trace_batch *b);

/* STRINGS, STACKS and LOST chunks are lists of entries: open one, add
 * entries, close it. Adding to a chunk of another type is -EINVAL. */
int trace_writer_open(struct trace_writer *w, enum cprof_chunk_type type);
int trace_writer_string(struct trace_writer *w, uint32_t id, const char *s, size_t len);
/* In a MODULES chunk: module (a string id already written) has this
 * build id (1..CPROF_BUILD_ID_MAX bytes). */
int trace_writer_module(struct trace_writer *w, uint32_t module, const uint8_t *build_id, size_t len);
int trace_writer_stack(struct trace_writer *w, uint32_t id, const struct cprof_frame *frames,
		       uint32_t nframes);
int trace_writer_lost(struct trace_writer *w, const struct cprof_lost *lost);
int trace_writer_close(struct trace_writer *w);
/* A SCHED chunk: kernel scheduling records the kernel dropped. */
int trace_writer_sched_lost(struct trace_writer *w, uint64_t lost);

/* The END chunk; the file is complete after it. */
int trace_writer_end(struct trace_writer *w);

/* A sink writing to a file descriptor (ctx is an int * holding the fd). */
int trace_sink_fd(void *ctx, const void *buf, size_t len);
/* A sink appending to memory (ctx is a struct trace_buf *). */
int trace_sink_buf(void *ctx, const void *buf, size_t len);

#endif
