/*
 * The cprof-trace file layout (format/FORMAT.md is the normative text):
 * a fixed header, then self-delimiting chunks, the last one CHUNK_END.
 * All fixed-width integers are little-endian.
 */
#ifndef CPROF_TRACE_FORMAT_H
#define CPROF_TRACE_FORMAT_H

#include <stdint.h>

#define CPROF_MAGIC "CPROFTRC"
#define CPROF_MAGIC_LEN 8
#define CPROF_FORMAT_VERSION 3     /* written; readers also read versions 1 and 2 */
#define CPROF_FORMAT_VERSION_MIN 1
/* Header flags. */
#define CPROF_FLAG_TREE 1u /* a process tree: per-process chunks come in PART chunks */

/* Header: 64 fixed bytes, then cmdline_len bytes of argv (NUL-separated). */
#define CPROF_HEADER_FIXED 64u
#define CPROF_CMDLINE_MAX 32768u

/* Chunk header: type u8, flags u8, reserved u16, payload length u32. */
#define CPROF_CHUNK_HEADER 8u
/* Bounds a reader enforces (a writer never exceeds them). */
#define CPROF_CHUNK_MAX_PAYLOAD (16u << 20)  /* bytes */
#define CPROF_BATCH_MAX_RAW (8u << 20)       /* bytes of decoded events (v3: both streams together) */
#define CPROF_THREAD_NAME_MAX 64u            /* bytes */
#define CPROF_STRING_MAX 4096u               /* bytes per interned string */
#define CPROF_STRING_ID_MAX (1u << 24)
#define CPROF_STACK_ID_MAX (1u << 24)
#define CPROF_STACK_MAX_FRAMES 128u
#define CPROF_BUILD_ID_MAX 64u               /* bytes of a module's build id */
#define CPROF_MODULES_MAX 65536u             /* build ids a reader keeps */

enum cprof_chunk_type {
	CPROF_CHUNK_EVENTS = 1,  /* one thread's batch of events */
	CPROF_CHUNK_STRINGS = 2, /* id -> string */
	CPROF_CHUNK_STACKS = 3,  /* id -> symbolized frames */
	CPROF_CHUNK_LOST = 4,    /* per thread: events dropped in the capture */
	CPROF_CHUNK_END = 5,     /* last chunk of a complete file (in a PART: of that process) */
	CPROF_CHUNK_SCHED = 6,   /* kernel scheduling records lost (sched-cpu) */
	CPROF_CHUNK_PROCESS = 7, /* in a PART: the process image the part's chunks come from */
	CPROF_CHUNK_PART = 8,    /* one process's chunk, wrapped: pid, stream, inner chunk */
	CPROF_CHUNK_MODULES = 9, /* module (string id) -> its build id */
};

/* Where a capture's kernel scheduling records come from (header extension
 * tag 1). UNKNOWN: the file predates the field. */
enum cprof_sched_source {
	CPROF_SCHED_SOURCE_UNKNOWN = 0,
	CPROF_SCHED_SOURCE_OFF = 1,       /* none recorded */
	CPROF_SCHED_SOURCE_PERF = 2,      /* sched_switch_in/out from perf_event_open */
	CPROF_SCHED_SOURCE_SCHEDSTAT = 3, /* sched_stat samples of /proc/self/task/TID/schedstat */
};
/* Header extension entries, after the cmdline: tag:u8 len:u8 value[len]. */
enum cprof_header_tag {
	CPROF_HDR_SCHED_SOURCE = 1, /* u8: enum cprof_sched_source */
	CPROF_HDR_CPU_HZ = 2,       /* u32: CPU samples per second of CPU time, 0 off */
};

/* A PART chunk's payload starts with pid u32, reserved u32, stream u64. */
#define CPROF_PART_HEADER 16u

/* The clock and process facts of a capture. */
struct cprof_header {
	uint16_t version;
	uint16_t flags;                /* CPROF_FLAG_*                          */
	uint64_t ticks_per_sec;        /* ticks of every timestamp, per second */
	uint64_t anchor_ticks;         /* a tick value ...                      */
	uint64_t anchor_realtime_ns;   /* ... and CLOCK_REALTIME at that tick   */
	uint64_t anchor_monotonic_ns;  /* ... and CLOCK_MONOTONIC at that tick  */
	uint64_t start_ticks;          /* capture start                         */
	uint32_t pid;
	uint32_t cmdline_len;          /* bytes in cmdline                       */
	const char *cmdline;           /* argv, NUL-separated, not terminated    */
	uint8_t sched_source;          /* enum cprof_sched_source (extension)    */
	uint8_t has_cpu_hz;            /* the file states cpu_hz                  */
	uint32_t cpu_hz;               /* CPU sampling rate, per CPU-second; 0 off */
};

/* One process image of a tree (a PROCESS chunk; FORMAT.md). */
struct cprof_process {
	uint32_t pid, ppid;
	uint64_t start_ticks;          /* when this image's capture began       */
	uint64_t ticks_per_sec;        /* this image's own estimate, 0 unknown  */
	uint64_t anchor_ticks;         /* a tick value and CLOCK_MONOTONIC ns   */
	uint64_t anchor_monotonic_ns;  /* at that tick, in this image           */
	uint32_t cmdline_len;          /* bytes in cmdline                       */
	const char *cmdline;           /* argv, NUL-separated, not terminated    */
};

/* One symbolized frame of a stack (strings are string-table ids). */
struct cprof_frame {
	uint64_t pc;
	uint32_t function; /* string id, 0 if unknown */
	uint32_t file;     /* string id, 0 if unknown */
	uint32_t line;     /* 0 if unknown */
	uint32_t module;   /* string id of the object file, 0 if unknown */
	uint64_t module_offset; /* pc minus the module's load address */
};

/* One thread's lost-event total in a capture. */
struct cprof_lost {
	uint32_t tid;
	uint64_t dropped;     /* events */
	uint64_t first_ticks; /* first drop seen, 0 if unknown */
	uint64_t last_ticks;  /* last drop seen, 0 if unknown */
};

static inline void le_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void le_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void le_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t le_get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t le_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t le_get64(const uint8_t *p) { return le_get32(p) | (uint64_t)le_get32(p + 4) << 32; }

#endif
