/*
 * The one reader of cprof-trace files, used by the viewer, the tests and the
 * tracer's own self-checks.
 *
 * It pulls bytes from a source and yields events one at a time, keeping the
 * string table, stack table, thread names and lost-event records it has met.
 * Nothing in the input is trusted: every length and count is bounded (see
 * trace_format.h) before use. On a truncated or corrupt input it stops with
 * an error message naming the byte offset and the problem; every event
 * yielded before that is valid. Unknown chunk types are skipped.
 */
#ifndef CPROF_TRACE_READER_H
#define CPROF_TRACE_READER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "trace_events.h"
#include "trace_format.h"
#include "varint.h"
#include "u64map.h"

/* Reads up to len bytes; returns the count, 0 at end of input, or -errno. */
typedef long (*cprof_source_fn)(void *ctx, void *buf, size_t len);

struct trace_event {
	uint64_t ts;   /* ticks */
	uint32_t tid;
	uint32_t pid;  /* the process the thread belongs to */
	uint8_t kind;  /* enum cprof_event_kind */
	uint64_t args[CPROF_EVENT_MAX_ARGS];
	const uint8_t *bytes; /* valid until the next call; NULL if none */
	uint32_t nbytes;
};

struct trace_string {
	uint32_t id;
	uint32_t len; /* bytes, without the NUL */
	char *s;      /* NUL-terminated copy */
};

struct trace_stack {
	uint32_t id;
	uint32_t nframes;
	struct cprof_frame *frames; /* leaf first */
};

/* An index from a 32-bit key (string id, stack id, tid) to a table entry:
 * open addressing, load at most 1/2. Tables are sized by the entries a
 * file defines, never by the largest id it names. */

struct trace_thread {
	uint32_t tid;
	uint32_t pid;
	char name[CPROF_THREAD_NAME_MAX + 1];
};

/* One process image of the trace: the whole file for a one-process trace,
 * one PART stream of a tree file. Its string and stack ids are mapped into
 * the reader's tables (one namespace for the whole tree); ids are the
 * reader's, never the stream's, everywhere this API returns them. */
struct trace_part {
	uint32_t pid, ppid;
	uint64_t stream;       /* the PART stream id (0 for a one-process file) */
	char *cmdline;         /* NUL-separated, NUL-terminated copy; NULL until PROCESS */
	uint32_t cmdline_len;
	uint64_t start_ticks;
	int ended;             /* its END was read */
	uint64_t events;       /* events yielded from this part */
	uint32_t *smap, smap_cap; /* stream string id -> reader id */
	uint32_t *kmap, kmap_cap; /* stream stack id -> reader id */
	uint32_t *pending, npending, pending_cap; /* (stream id, reader id) pairs of stacks whose frames still name stream strings */
};

/* Where a file's bytes go (cprof-trace -dump -stats): every chunk by
 * type as stored (headers included; a tree's PART wrappers under
 * CPROF_CHUNK_PART), and the events by kind: count and bytes of their
 * decoded encoding; an EVENTS chunk's stored bytes are shared among its
 * events' kinds in proportion to their decoded bytes. */
#define TRACE_STATS_CHUNK_TYPES 10 /* chunk types 0..CPROF_CHUNK_MODULES */
struct trace_stats {
	uint64_t chunks[TRACE_STATS_CHUNK_TYPES], chunk_bytes[TRACE_STATS_CHUNK_TYPES];
	uint64_t header_bytes;
	uint64_t events_raw, events_lz4;   /* EVENTS: decoded bytes of the events, compressed bytes */
	uint64_t events_time;              /* of events_raw, the timestamp streams (format 3, stored as is) */
	uint64_t kind_count[CPROF_EV_COUNT];
	uint64_t kind_raw[CPROF_EV_COUNT];
	double kind_stored[CPROF_EV_COUNT];
	double batch_ratio;                /* the current batch's stored / decoded bytes */
};

struct trace_reader {
	cprof_source_fn source;
	void *source_ctx;
	FILE *file; /* owned when opened by trace_reader_open_file */

	struct cprof_header header;
	char *cmdline; /* owned copy of header.cmdline */

	uint64_t offset;        /* bytes consumed from the source */
	int status;             /* 0 reading, 1 complete (END seen), -1 error */
	int truncated;          /* the error is that the input ended early */
	char error[256];        /* "offset N: problem", when status is -1 */

	struct trace_string *strings; /* defined strings, in the order first defined */
	uint32_t nstrings, strings_cap;
	struct u64map string_index;
	struct trace_stack *stacks;   /* defined stacks, in the order first defined */
	uint32_t nstacks, stacks_cap;
	struct u64map stack_index;
	char **build_ids;             /* hex build ids (MODULES), at most CPROF_MODULES_MAX */
	uint32_t nbuild_ids, build_ids_cap;
	struct u64map build_id_index; /* module string id -> index + 1 */
	struct cprof_lost *lost;      /* one entry per LOST record */
	uint32_t nlost;
	struct trace_thread *threads; /* last name seen per tid */
	uint32_t nthreads, threads_cap;
	struct u64map thread_index;

	/* Process trees (header flag CPROF_FLAG_TREE): every PART stream. */
	int tree;
	struct trace_part *parts;
	uint32_t nparts;
	uint32_t cur_part;        /* part whose chunk is being read */
	uint32_t next_string, next_stack; /* reader ids handed out (tree) */
	uint32_t *string_hash, string_hash_cap; /* reader ids by text (tree) */
	uint32_t *stack_hash, stack_hash_cap, stack_hash_used; /* reader stack ids by frames (tree) */
	uint64_t *tid_keys, *tid_vals; /* (pid << 32 | tid) -> tid in the output (tree) */
	uint32_t tid_cap, tid_used, next_synthetic_tid;

	uint64_t events;          /* events yielded */
	uint64_t batches;         /* EVENTS chunks decoded */
	uint64_t skipped_chunks;  /* unknown chunk types */
	uint64_t end_events;      /* counts from the END chunk */
	uint64_t end_lost;
	uint64_t sched_lost;      /* kernel scheduling records lost (SCHED chunk) */

	/* the batch being decoded */
	uint8_t *chunk;
	size_t chunk_cap;
	uint8_t *raw;
	size_t raw_cap, raw_len, raw_pos;
	/* format 3: the batch's timestamp stream, [time_pos, time_len) of chunk */
	size_t time_pos, time_len;
	uint64_t chunk_offset;
	uint32_t batch_tid, batch_seq, batch_left;
	uint64_t batch_ts;

	struct trace_stats stats;
	/* set by the caller after opening: stats.kind_* stay 0 (a double
	 * multiply-add per event that only -dump -stats reads) */
	int no_kind_stats;
};

/* Opens a reader on a source and reads the header. Returns 0, or -1 with
 * r->error set (trace_reader_close is still to be called). */
int trace_reader_open(struct trace_reader *r, cprof_source_fn source, void *ctx);
int trace_reader_open_file(struct trace_reader *r, const char *path);
/* A source over a memory buffer; ctx is a struct trace_mem_source. */
struct trace_mem_source {
	const uint8_t *p;
	size_t len, pos;
};
long trace_source_mem(void *ctx, void *buf, size_t len);

/* Yields the next event: 1, or 0 at a complete end, or -1 on error. */
static inline int trace_reader_next(struct trace_reader *r, struct trace_event *ev);
/* trace_reader_next out of line: every case (chunks, errors, trees, older
 * formats, renames, stats); the inline path below only the plain event. */
int trace_reader_next_slow(struct trace_reader *r, struct trace_event *ev);
void trace_reader_close(struct trace_reader *r);

/* Lookups of what has been read so far; NULL when unknown. */
const char *trace_reader_string(const struct trace_reader *r, uint64_t id);
const struct trace_stack *trace_reader_stack(const struct trace_reader *r, uint64_t id);
/* The build id of module (a string id, as frames name it) in hex, or NULL
 * when the file does not say (files before MODULES chunks, or unknown). */
const char *trace_reader_build_id(const struct trace_reader *r, uint32_t module);
const char *trace_reader_thread_name(const struct trace_reader *r, uint32_t tid);
/* The pid of thread tid (as yielded), 0 if unknown. */
uint32_t trace_reader_thread_pid(const struct trace_reader *r, uint32_t tid);
/* The last image (PART) of process pid read so far, or NULL. */
const struct trace_part *trace_reader_process(const struct trace_reader *r, uint32_t pid);

/* The header's kernel scheduling source, for reports: "perf",
 * "schedstat", "off", or "not recorded" (files from before the field). */
const char *trace_sched_source_name(const struct trace_reader *r);

/* Ticks since the header's start_ticks, in ns. */
double trace_ticks_to_ns(const struct trace_reader *r, uint64_t ticks);
/* CLOCK_REALTIME of the capture's start, ns since the Unix epoch. */
uint64_t trace_start_realtime_ns(const struct trace_reader *r);

/* The common event inline (the walk reads every event twice): a format 3
 * one-process file whose caller turned the per-kind stats off, an event of
 * the current batch whose kind, timestamp and arguments are all in bounds
 * and that is not a rename. It yields what the slow path would (the same
 * fields, the same reader state after it); anything else, including every
 * malformed byte, goes to the slow path, which decodes the same event
 * again from the unchanged state and reports the error. */
static inline int trace_reader_next(struct trace_reader *r, struct trace_event *ev)
{
	if (r->no_kind_stats && r->batch_left && !r->status && !r->tree && r->header.version >= 3 &&
	    r->raw_pos < r->raw_len) {
		const uint8_t *p = r->raw + r->raw_pos, *end = r->raw + r->raw_len;
		unsigned kind = *p++;
		uint64_t delta;
		size_t n, m;
		if (kind < CPROF_EV_COUNT && kind != CPROF_EV_PAD && kind != CPROF_EV_BLOCK_START &&
		    kind != CPROF_EV_THREAD_NAME &&
		    (n = varint_get(r->chunk + r->time_pos, r->chunk + r->time_len, &delta))) {
			const struct cprof_event_info *info = &cprof_event_table[kind];
			ev->ts = r->batch_ts + (uint64_t)zigzag_decode(delta);
			ev->tid = r->batch_tid;
			ev->pid = r->parts ? r->parts[r->cur_part].pid : r->header.pid;
			ev->kind = (uint8_t)kind;
			for (unsigned i = 0; i < CPROF_EVENT_MAX_ARGS; i++)
				ev->args[i] = 0;
			ev->bytes = NULL;
			ev->nbytes = 0;
			for (unsigned i = 0; i < info->nargs; i++) {
				if (!(m = varint_get(p, end, &ev->args[i])))
					return trace_reader_next_slow(r, ev);
				p += m;
			}
			if (info->bytes) {
				uint64_t len;
				if (!(m = varint_get(p, end, &len)))
					return trace_reader_next_slow(r, ev);
				p += m;
				if (len > CPROF_EVENT_MAX_BYTES || len > (uint64_t)(end - p))
					return trace_reader_next_slow(r, ev);
				ev->bytes = p;
				ev->nbytes = (uint32_t)len;
				p += len;
			}
			r->time_pos += n;
			r->raw_pos = (size_t)(p - r->raw);
			r->batch_ts = ev->ts;
			r->batch_left--;
			r->events++;
			if (r->parts)
				r->parts[r->cur_part].events++;
			return 1;
		}
	}
	return trace_reader_next_slow(r, ev);
}

#endif
