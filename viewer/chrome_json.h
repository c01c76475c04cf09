/*
 * Chrome trace-event JSON (Perfetto UI, chrome://tracing, speedscope) as a
 * consumer of the walk: what it writes is what the analyses count.
 */
#ifndef CPROF_CHROME_JSON_H
#define CPROF_CHROME_JSON_H

#include <stdio.h>

#include "async_out.h"
#include "walk.h"

/* Task lanes are pseudo-threads with tids from here on (above Linux's
 * PID_MAX_LIMIT, 2^22, so no real thread has one). */
#define CHROME_TASK_TID0 (1u << 30)
/* At most this many task lanes; a task no lane can take is not drawn there
 * (it still has its async span). */
#define CHROME_MAX_TASK_LANES 1024

/* Bytes in each of the two buffers of the writer thread (-json): 2 x 256
 * KiB more memory, ~4,000 hand-overs a GB. */
#define CHROME_ASYNC_BUF (256u << 10)
/* -json uses the writer thread for trace files of at least this many bytes. */
#define CHROME_ASYNC_MIN_FILE (16 << 20)

/* A stack's "stack" argument, as written (not NUL-terminated). */
struct chrome_stack_text {
	char *s;
	size_t len; /* bytes */
	const struct cprof_frame *frames; /* the reader's frames it was made from */
	uint32_t nframes;
};

struct chrome_json {
	FILE *out;
	struct u64map stack_index;  /* stack id -> index + 1 into stack_text */
	struct chrome_stack_text *stack_text;
	uint32_t nstacks, stacks_cap;
	int started;        /* an event was written: the next needs a comma */
	uint64_t flows;     /* flow ids given */
	int64_t *lane_end;  /* per task lane: the latest end of its slices (ns) */
	uint32_t nlanes, lanes_cap;
	uint64_t unlaned;   /* tasks no lane could take */
	int finished;       /* the document is closed (the finish hook ran) */
	size_t len;         /* bytes in buf, not yet written to out */
	char *buf;          /* the buffer being filled: own, or one of async's */
	size_t cap;         /* its bytes (>= 4 KiB: an event's head fits) */
	int async_on;       /* buf is async's: full ones go to its thread, not to out */
	struct async_out async;
	char own[1 << 16];
};

/* Writes the document's head to out; the consumer writes the events and,
 * in its finish hook, the names and the document's end. */
struct walk_consumer chrome_json_consumer(struct chrome_json *j, FILE *out);
void chrome_json_free(struct chrome_json *j);
/* Writes what the consumer has buffered to its FILE (the finish hook does). */
void chrome_json_flush(struct chrome_json *j);
/* From now on full buffers are written to out's descriptor by a second
 * thread (out is flushed first); chrome_json_end_async waits for them and
 * returns 0 or the write error (errno). Without memory or a thread it stays
 * synchronous. */
void chrome_json_start_async(struct chrome_json *j);
int chrome_json_end_async(struct chrome_json *j);

#endif
