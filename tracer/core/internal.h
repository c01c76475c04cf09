/*
 * Internal interfaces of libcproftrace: rings, threads, strings, clock,
 * capture. Nothing here is exported (the library builds with
 * -fvisibility=hidden; only CPROF_API symbols are visible).
 *
 * Ring protocol (one writer thread, one reader at a time):
 *
 *   A ring is `size` bytes of mmap'ed memory cut into blocks of `block`
 *   bytes. Positions are absolute byte counts (u64, never wrap); the byte at
 *   position p lives at base[p & (size-1)]. A record is whole 8-byte words:
 *     word 0: kind (8 bits) | words (8) | nbytes (16) | arg0 (32)
 *     word 1: timestamp, ticks
 *     then the remaining arguments, one word each, then the byte string
 *     padded to a word. A PAD record is word 0 alone and ends its block.
 *   Records never straddle blocks; every block opens with BLOCK_START
 *   (generation, task), so a reader may start at any block start.
 *
 *   Writer: reserves inside its current block without looking at anyone
 *   (fast path: pos + len <= limit, limit = end of the current block),
 *   writes, then publishes `head` = new pos (store-release). Crossing into a
 *   new block is the slow path: in DRAIN mode the whole new block must be
 *   free (block_end <= tail + size), else the event is dropped and counted;
 *   in FLIGHT mode the oldest block is overwritten.
 *
 *   Drain reader: loads head (acquire), decodes [tail, head), stores tail
 *   (release), which hands those bytes back to the writer.
 *   Flight reader: loads head h1 (acquire), copies blocks, then fence
 *   (acquire) and loads head h2: blocks with index <= h2/block + 1 - nblocks
 *   may have been overwritten during the copy and are discarded. This needs
 *   the writer's data stores to follow its previous head store, which the
 *   release fence at the start of every reservation guarantees (a compiler
 *   barrier on x86).
 */
#ifndef CPROF_INTERNAL_H
#define CPROF_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/visibility.h"
#include "cprof/trace.h"
#include "trace_events.h"
#include "trace_format.h"
#include "trace_writer.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ---- clock (clock.c) ---- */
/* Nonzero when timestamps come from an invariant TSC; else CLOCK_MONOTONIC ns. */
extern int cprof_clock_tsc CPROF_INTERNAL;
uint64_t cprof_clock_slow(void) CPROF_INTERNAL;
static inline uint64_t cprof_clock_now(void)
{
#if defined(__x86_64__) || defined(__i386__)
	if (likely(cprof_clock_tsc)) {
		uint32_t lo, hi;
		__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
		return (uint64_t)hi << 32 | lo;
	}
#endif
	return cprof_clock_slow();
}
void cprof_clock_init(void) CPROF_INTERNAL;
/* Fills ticks_per_sec and the anchors of h; may sleep up to ~20 ms the first
 * time to calibrate the TSC. Not async-signal-safe. */
void cprof_clock_header(struct cprof_header *h) CPROF_INTERNAL;
uint64_t cprof_clock_ticks_per_sec(void) CPROF_INTERNAL;
/* Nonzero once cprof_clock_ticks_per_sec() would not sleep (20 ms after load). */
int cprof_clock_calibrated(void) CPROF_INTERNAL;
/* The rate measured over the history since load, sleeping only until
 * min_ns of history exist (tree captures: a short-lived process must not
 * wait 20 ms; over 1 ms the pair reads' jitter of ~40 ns is 4e-5). Returns
 * 0 under 50 us of history (under 1 ms when min_ns is 0). */
uint64_t cprof_clock_rate_now(uint64_t min_ns) CPROF_INTERNAL;
/* cprof_clock_header with cprof_clock_rate_now(min_ns) as the rate. */
void cprof_clock_header_now(struct cprof_header *h, uint64_t min_ns) CPROF_INTERNAL;
/* A fresh (ticks, CLOCK_MONOTONIC) pair and cprof_clock_rate_now(0). */
void cprof_clock_anchor(uint64_t *ticks, uint64_t *mono_ns, uint64_t *ticks_per_sec) CPROF_INTERNAL;

/* ---- rings (ring.c) ---- */
enum ring_state { RING_FREE = 0, RING_LIVE = 1, RING_EXITED = 2 };
enum ring_mode { RING_MODE_FLIGHT = 0, RING_MODE_DRAIN = 1 };


struct ring {
	/* Immutable after creation. */
	uint8_t *base;
	uint64_t size;     /* bytes, a power of two */
	uint64_t block;    /* bytes, a power of two dividing size */
	struct ring *next; /* registry list, immutable once pushed */
	uint32_t index;    /* position in the registry, 0-based */

	/* Owner identity: written by the claiming thread before its first
	 * head store; read by readers after an acquire of head. */
	_Atomic uint32_t state;      /* enum ring_state */
	_Atomic uint32_t generation; /* bumped on every claim */
	uint32_t tid;
	char name[CPROF_THREAD_NAME_MAX];
	_Atomic uint64_t task;    /* the owner's current task, for readers */
	_Atomic uint64_t dropped; /* events dropped since the claim */

	/* The owner's blocking call in progress (interpose/), so that a
	 * capture ending while it waits can say where it waits: its site
	 * (struct cprof_site *, NULL when in none), when it began (ticks), its
	 * category (CPROF_BLOCK_BY_FD: by the fd in object) and object. The
	 * owner writes them (relaxed; the site last, release), readers take
	 * the site with acquire; a torn read misnames one block at worst. */
	_Atomic(void *) call_site;
	_Atomic uint64_t call_t0;
	_Atomic uint64_t call_object;
	_Atomic uint32_t call_category;

	_Alignas(64) _Atomic uint64_t head; /* bytes published by the writer */
	_Alignas(64) _Atomic uint64_t tail; /* bytes released by the drain reader */
	/* Set by the drainer on each pass; the writer that crosses into a
	 * block past half the ring clears it and wakes a sleeping drainer:
	 * at most one wake per ring per pass, from the slow path only. */
	_Atomic uint32_t wake_armed;
	/* Bytes from base faulted in (ring_create, then the drainer ahead of
	 * the writer's first lap: cprof_ring_populate_ahead). */
	_Atomic uint64_t populated;
};

/* Per-thread writer state, in initial-exec TLS. */
enum thread_status { THREAD_NEW = 0, THREAD_ACTIVE = 1, THREAD_DEAD = 2, THREAD_INTERNAL = 3 };
struct cprof_thread {
	uint8_t *base;   /* ring->base */
	uint64_t mask;   /* ring->size - 1 */
	uint64_t pos;    /* next byte to write */
	uint64_t limit;  /* end of the current block; 0 when not attached */
	struct ring *ring;
	uint64_t task;   /* current task */
	uint64_t lost_pending; /* dropped, not yet reported in-band */
	uint64_t lost_since;   /* tick of the first of those */
	uint64_t start_args[3]; /* THREAD_START's creator, routine, stack */
	uint64_t born;          /* ticks: THREAD_START's time if the thread attaches later (0: when it attaches) */
	uint64_t runq_last_ticks; /* when run-queue delay was last sampled */
	uint64_t runq_last_ns;    /* schedstat wait time then, ns */
	uintptr_t stack_lo, stack_hi; /* this thread's stack, as far as its own unwinds read it (stacks/stack.c) */
	uintptr_t walk_lo, walk_hi;   /* this thread's whole stack, where CFI walks may read (stacks/cfi.c); 0: unknown */
	uint64_t stack_cache_hits;    /* stacks answered by the whole-stack cache (tests, benchmarks) */
	uint64_t task_next, task_end; /* task ids [next, end) this thread took from the shared counter (record.c) */
	uint32_t task_block;          /* ids taken at the last refill; doubles up to a cap */
	uint32_t busy;   /* nonzero while recording: re-entry (signal) drops */
	uint8_t status;  /* enum thread_status */
	uint8_t start_pending; /* THREAD_START not yet recorded */
};

extern __thread struct cprof_thread cprof_self
	__attribute__((tls_model("initial-exec"))) CPROF_INTERNAL;
/* This thread's writer state. In sanitizer builds, the empty asm hands the
 * compiler the real address (thread pointer + offset) instead of a
 * %fs-relative operand, which UBSan's pointer checks misread as the offset
 * alone; release builds keep the cheaper %fs-relative access. */
static inline struct cprof_thread *cprof_me(void)
{
	struct cprof_thread *p = &cprof_self;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	__asm__("" : "+r"(p));
#endif
	return p;
}

extern _Atomic int cprof_ring_mode CPROF_INTERNAL;
extern _Atomic int cprof_enabled CPROF_INTERNAL;

/* ring_bytes: rings made while no capture drains; capture_bytes: rings made
 * while one does (a burst must fit while the drainer catches up). */
void cprof_rings_configure(uint64_t ring_bytes, uint64_t capture_bytes) CPROF_INTERNAL;
/* Faults in the part of r's first lap the writer reaches next (at most a
 * few MiB ahead of head), off the record path. Drainer only. */
void cprof_ring_populate_ahead(struct ring *r) CPROF_INTERNAL;
/* The drainer's wake-up word (a futex): bumped by a writer whose ring
 * passed half full (see wake_armed) and by drain_wake; the drainer waits on
 * it between passes, counted in cprof_drain_sleepers meanwhile. */
extern _Atomic uint32_t cprof_drain_kick CPROF_INTERNAL;
extern _Atomic uint32_t cprof_drain_sleepers CPROF_INTERNAL;
/* Bumps cprof_drain_kick and wakes the drainer if it sleeps. */
void cprof_drain_kick_now(void) CPROF_INTERNAL;
/* Registers the thread-exit destructor key (the constructor calls it once). */
void cprof_rings_init_key(void) CPROF_INTERNAL;
/* Slow path of ring_reserve: attaches the thread, crosses a block, or drops.
 * Returns where to write `words` words, or NULL (event dropped or tracing
 * off). Called with self->busy set. */
uint64_t *cprof_ring_reserve_slow(struct cprof_thread *self, uint32_t words) CPROF_INTERNAL;
void cprof_thread_exit(struct cprof_thread *self) CPROF_INTERNAL;
/* Registers fn to run on every traced thread's exit, before its
 * THREAD_EXIT is recorded (with busy clear: fn may record; it sets busy
 * around its own calls). The layers above say there what an exit means
 * (joiners woken, the kernel's last figures); the ring never calls upward
 * by name. At most 4; returns 0, or -1 when full. Call at start-up. */
int cprof_on_thread_exit(void (*fn)(void)) CPROF_INTERNAL;
/* Attaches the calling thread now (records THREAD_START). */
void cprof_thread_attach_now(struct cprof_thread *self) CPROF_INTERNAL;
/* Renames a ring (its owner only). */
void cprof_ring_set_name(struct ring *r, const char *name) CPROF_INTERNAL;
struct ring *cprof_rings_first(void) CPROF_INTERNAL;
uint32_t cprof_rings_count(void) CPROF_INTERNAL;
void cprof_rings_after_fork(void) CPROF_INTERNAL;
uint64_t cprof_rings_dropped(void) CPROF_INTERNAL;

/* The header word's fields must hold every value they carry. */
_Static_assert(CPROF_EV_COUNT <= 0xff, "kind is 8 bits");
_Static_assert(2 + CPROF_EVENT_MAX_ARGS + (CPROF_EVENT_MAX_BYTES + 7) / 8 <= 0xff, "words is 8 bits");
_Static_assert(CPROF_EVENT_MAX_BYTES <= 0xffff, "nbytes is 16 bits");
/* The smallest record (header word + timestamp) is 16 bytes: a reader
 * looks 16 bytes ahead for a BLOCK_END after a BLOCK_BEGIN. */
#define RING_MIN_RECORD_BYTES 16u
_Static_assert(sizeof(uint64_t) * 2 == RING_MIN_RECORD_BYTES, "minimal record");

/* Invariants of a ring (any thread, relaxed reads): sizes are powers of
 * two, blocks divide the ring, the reader never passes the writer. Returns
 * 1 when they hold; for assert(). */
int cprof_ring_sanity(const struct ring *r) CPROF_INTERNAL;
/* Invariants of the calling thread's writer state: an attached writer's
 * position is word-aligned, inside its current block, and never past the
 * block's end. */
int cprof_thread_sanity(const struct cprof_thread *self) CPROF_INTERNAL;

static inline uint64_t ring_header(unsigned kind, uint32_t words, uint32_t nbytes, uint32_t arg0)
{
	return (uint64_t)kind | (uint64_t)words << 8 | (uint64_t)nbytes << 16 | (uint64_t)arg0 << 32;
}
static inline unsigned ring_kind(uint64_t h) { return h & 0xff; }
static inline uint32_t ring_words(uint64_t h) { return (h >> 8) & 0xff; }
static inline uint32_t ring_nbytes(uint64_t h) { return (h >> 16) & 0xffff; }
static inline uint32_t ring_arg0(uint64_t h) { return (uint32_t)(h >> 32); }

/* Reserves `words` words on the calling thread's ring. Must be paired with
 * ring_commit. Requires self->busy set. Never blocks, never allocates on the
 * fast path. */
static inline uint64_t *ring_reserve(struct cprof_thread *self, uint32_t words)
{
	/* Orders the previous head store before this record's data stores,
	 * for flight readers (see the protocol above). */
	atomic_thread_fence(memory_order_release);
	uint64_t end = self->pos + words * 8u;
	if (unlikely(end > self->limit))
		return cprof_ring_reserve_slow(self, words);
	return (uint64_t *)(self->base + (self->pos & self->mask));
}

static inline void ring_commit(struct cprof_thread *self, uint32_t words)
{
	self->pos += words * 8u;
	/* Publishes the record's bytes to the reader that acquires head. */
	atomic_store_explicit(&self->ring->head, self->pos, memory_order_release);
}

/* Records one event from raw parts on the calling thread (not the hot
 * path's specialised versions). Drops silently on re-entry. */
void cprof_record(unsigned kind, const uint64_t *args, const void *bytes, uint32_t nbytes) CPROF_INTERNAL;
/* The same with an explicit timestamp (0: now). The caller guarantees the
 * thread recorded nothing later than ts in between. */
void cprof_record_at(uint64_t ts, unsigned kind, const uint64_t *args, const void *bytes,
		     uint32_t nbytes) CPROF_INTERNAL;

/* BLOCK_BEGIN (args: category, object, what, stack) at t0 and BLOCK_END at
 * t1 in one reservation: both or neither, adjacent in the thread's stream. */
void cprof_record_block(uint64_t t0, const uint64_t args[4], uint64_t t1) CPROF_INTERNAL;

/* Zeroed anonymous memory, or NULL. Async-signal-safe (mmap). */
void *cprof_map(size_t bytes) CPROF_INTERNAL;
/* The table at *slot, mapping `bytes` of zeroed memory on first use; when
 * threads race, the first CAS wins and the others unmap theirs. Returns
 * NULL when out of memory. Async-signal-safe, lock-free. */
void *cprof_map_once(void *_Atomic *slot, size_t bytes) CPROF_INTERNAL;

/* ---- strings (strings.c) ---- */
/* Interns s (cut to CPROF_STRING_MAX bytes); returns its id, or 0 when the
 * table is full. Takes a lock; never allocates with malloc. */
uint32_t cprof_string_intern(const char *s, size_t len) CPROF_INTERNAL;
uint32_t cprof_site_id_slow(struct cprof_site *site) CPROF_INTERNAL;
static inline uint32_t cprof_site_id(struct cprof_site *site)
{
	uint32_t id = __atomic_load_n(&site->id, __ATOMIC_ACQUIRE);
	return likely(id) ? id : cprof_site_id_slow(site);
}
/* Ids are 1..cprof_strings_count()-1. Returns NULL for an id not yet ready. */
const char *cprof_string_get(uint32_t id, uint32_t *len) CPROF_INTERNAL;
uint32_t cprof_strings_count(void) CPROF_INTERNAL;
void cprof_strings_lock(void) CPROF_INTERNAL;
void cprof_strings_unlock(void) CPROF_INTERNAL;
void cprof_strings_after_fork(void) CPROF_INTERNAL;

/* ---- process facts (init.c) ---- */
struct cprof_config {
	uint64_t ring_bytes;   /* CPROF_TRACE_BUFFER */
	uint64_t capture_ring_bytes; /* rings made during a capture: CPROF_TRACE_BUFFER if set, else larger */
	uint32_t drain_ms;     /* CPROF_TRACE_DRAIN_MS */
};
extern struct cprof_config cprof_config CPROF_INTERNAL;
uint32_t cprof_gettid(void) CPROF_INTERNAL;
/* argv NUL-separated from /proc/self/cmdline; returns bytes. */
uint32_t cprof_read_cmdline(char *buf, uint32_t cap) CPROF_INTERNAL;
/* Reads a small file (/proc) into buf, at most cap - 1 bytes, and
 * NUL-terminates it; returns the bytes read (0 when unreadable). Uses raw
 * open/read/close: callers on program threads must hold busy. */
size_t cprof_read_small(const char *path, char *buf, size_t cap) CPROF_INTERNAL;
/* Whether the calling thread is the process's only one (/proc/self/stat's
 * num_threads; 0 when unknown): then there is no other thread to find in
 * /proc/self/task, and scanning it is avoided (every /proc/PID/task/TID
 * entry a scan instantiates is walked again when the process is reaped:
 * the parent's wait4 spent ~0.3 ms per traced cc -c in
 * shrink_dcache_parent, several ms under make -j2). Callers on program
 * threads must hold busy. */
int cprof_only_thread(void) CPROF_INTERNAL;

#endif
