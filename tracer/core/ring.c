/*
 * Per-thread rings: the registry, attaching a thread, the record path's slow
 * side (block crossing, dropping), thread exit and the fork reset. The ring
 * protocol itself is described in internal.h.
 *
 * Workload: a thread attaches once, crosses a block every few hundred
 * events, and exits once. Rings are never unmapped: an exited thread's ring
 * keeps its unread events until a reader has them, then serves a new thread.
 * Everything here is async-signal-safe (no malloc, no locks): the registry is
 * a push-only lock-free list and ownership moves by CAS on `state`.
 */
#include <assert.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/internal.h"

__thread struct cprof_thread cprof_self __attribute__((tls_model("initial-exec")));
_Atomic int cprof_ring_mode = RING_MODE_FLIGHT;
_Atomic int cprof_enabled = 1;

static _Atomic(struct ring *) registry;
static _Atomic uint32_t registry_count;
static uint64_t ring_bytes = 1u << 20;
static uint64_t capture_ring_bytes = 1u << 20;
/* A capture's larger ring is faulted in as far as RING_POPULATE_FIRST when
 * made (its first block: a 16 MiB ring's blocks are 64 KiB); the drainer
 * faults the rest of its first lap in ahead of the writer, in steps
 * (cprof_ring_populate_ahead). A short process's capture then does not pay
 * ~5 ms of CPU to zero 16 MiB it never writes, nor ~0.3 ms for a first MiB
 * that most processes of a tree (git --version: 4 events) never reach. */
#define RING_POPULATE_FIRST (64u << 10)
#define RING_POPULATE_STEP (1u << 20)
/* Rings made larger than ring_bytes for a capture (never unmapped) take at
 * most this much memory in all; later rings get ring_bytes. */
#define RING_LARGE_BUDGET (128ull << 20)
static _Atomic uint64_t large_bytes;
_Atomic uint32_t cprof_drain_kick;
_Atomic uint32_t cprof_drain_sleepers;
/* Below this many rings, a new thread in FLIGHT mode gets a new ring rather
 * than taking over an exited thread's (whose events the flight recorder
 * still holds). */
#define RING_SOFT_CAP 64u

static uint64_t ring_size_of(uint64_t bytes)
{
	uint64_t size = 64u << 10;
	while (size < bytes && size < (1ull << 30))
		size <<= 1;
	return size;
}

static uint64_t block_of(uint64_t size)
{
	uint64_t block = size / 64;
	if (block < 4096)
		block = 4096;
	if (block > (64u << 10))
		block = 64u << 10;
	return block;
}

void cprof_rings_configure(uint64_t bytes, uint64_t capture_bytes)
{
	ring_bytes = ring_size_of(bytes);
	capture_ring_bytes = ring_size_of(capture_bytes);
}

/* Faults [from, to) of r in without writing it (the writer may be writing
 * there); returns 0, or -1 where the kernel cannot (before 5.14). */
static int populate(struct ring *r, uint64_t from, uint64_t to)
{
	return madvise(r->base + from, to - from, MADV_POPULATE_WRITE) == 0 ? 0 : -1;
}

void cprof_ring_populate_ahead(struct ring *r)
{
	uint64_t done = atomic_load_explicit(&r->populated, memory_order_relaxed);
	if (done >= r->size)
		return;
	/* Ahead of the writer on its first lap by as much as it has written
	 * (RING_POPULATE_FIRST at least, four steps at most; faulted in whole
	 * units: RING_POPULATE_FIRST within the first step, whole steps
	 * beyond): a burst finds its pages faulted in, a thread that writes
	 * little (most of a short process's) costs no more than the part made
	 * at creation. A writer that outruns this faults its pages itself. */
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t ahead = head < RING_POPULATE_FIRST ? RING_POPULATE_FIRST : head;
	if (ahead > 4 * RING_POPULATE_STEP)
		ahead = 4 * RING_POPULATE_STEP;
	uint64_t want = head + ahead;
	if (want > r->size)
		want = r->size;
	if (done >= want)
		return;
	uint64_t unit = want <= RING_POPULATE_STEP ? RING_POPULATE_FIRST : RING_POPULATE_STEP;
	want = (want + unit - 1) & ~(unit - 1);
	if (want > r->size)
		want = r->size;
	if (populate(r, done, want))
		want = r->size; /* cannot: the writer faults its pages itself */
	atomic_store_explicit(&r->populated, want, memory_order_relaxed);
}

void cprof_drain_kick_now(void)
{
	atomic_fetch_add(&cprof_drain_kick, 1);
	if (atomic_load(&cprof_drain_sleepers))
		syscall(SYS_futex, &cprof_drain_kick, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* The writer's ring passed half full: wake the drainer, once per pass. */
__attribute__((noinline, cold)) static void nudge_drainer(struct ring *r)
{
	if (atomic_load_explicit(&r->wake_armed, memory_order_relaxed) &&
	    atomic_exchange_explicit(&r->wake_armed, 0, memory_order_relaxed))
		cprof_drain_kick_now();
}

void *cprof_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void *cprof_map_once(void *_Atomic *slot, size_t bytes)
{
	void *t = atomic_load_explicit(slot, memory_order_acquire);
	if (likely(t))
		return t;
	void *fresh = cprof_map(bytes);
	if (!fresh)
		return NULL;
	if (!atomic_compare_exchange_strong_explicit(slot, &t, fresh, memory_order_acq_rel, memory_order_acquire)) {
		munmap(fresh, bytes);
		return t; /* another thread won */
	}
	return fresh;
}

struct ring *cprof_rings_first(void)
{
	return atomic_load_explicit(&registry, memory_order_acquire);
}

uint32_t cprof_rings_count(void)
{
	return atomic_load_explicit(&registry_count, memory_order_relaxed);
}

static struct ring *ring_create(void)
{
	struct ring *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return NULL;
	/* A capture drains: room for a burst while the drainer catches up,
	 * for the first rings made larger, up to RING_LARGE_BUDGET in all. */
	uint64_t size = ring_bytes;
	if (capture_ring_bytes > ring_bytes &&
	    atomic_load_explicit(&cprof_ring_mode, memory_order_relaxed) == RING_MODE_DRAIN) {
		if (atomic_fetch_add(&large_bytes, capture_ring_bytes) + capture_ring_bytes <= RING_LARGE_BUDGET)
			size = capture_ring_bytes;
		else
			atomic_fetch_sub(&large_bytes, capture_ring_bytes);
	}
	void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			  -1, 0);
	if (base == MAP_FAILED && size > ring_bytes) { /* near ulimit -v: the usual size */
		atomic_fetch_sub(&large_bytes, size);
		size = ring_bytes;
		base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	}
	if (base == MAP_FAILED) {
		munmap(r, sizeof *r);
		return NULL;
	}
	/* Pre-faulted here, off the record path: a thread's ring is made in
	 * the pthread_create trampoline before its routine runs (or at its
	 * first event, once), so no record waits for the kernel to zero a
	 * page (or, on a ring that transparent huge pages back, 2 MiB: ~100
	 * us). MADV_POPULATE_WRITE is Linux 5.14+; before, a write a page.
	 * A capture's larger ring (not CPROF_TRACE_BUFFER's size) is faulted
	 * in as far as RING_POPULATE_FIRST here, the rest by the drainer ahead of the
	 * writer (cprof_ring_populate_ahead): its memory is spent as far as it
	 * is written, and a new thread does not wait ~5 ms for 16 MiB. */
	uint64_t now_bytes = size > ring_bytes ? RING_POPULATE_FIRST : size;
	if (madvise(base, now_bytes, MADV_POPULATE_WRITE) != 0) {
		for (uint64_t off = 0; off < now_bytes; off += 4096)
			((volatile uint8_t *)base)[off] = 0;
		now_bytes = size; /* no MADV_POPULATE_WRITE: the writer faults the rest */
	}
	/* mmap returned zeroed memory: head = tail = 0, state FREE. */
	r->base = base;
	r->size = size;
	r->block = block_of(size);
	atomic_store_explicit(&r->populated, now_bytes, memory_order_relaxed);
	atomic_store_explicit(&r->state, RING_LIVE, memory_order_relaxed);
	r->index = atomic_fetch_add_explicit(&registry_count, 1, memory_order_relaxed);
	struct ring *first = atomic_load_explicit(&registry, memory_order_relaxed);
	do
		r->next = first;
	while (!atomic_compare_exchange_weak_explicit(&registry, &first, r, memory_order_release,
						      memory_order_relaxed));
	return r;
}

static int ring_take(struct ring *r, uint32_t from)
{
	uint32_t expect = from;
	return atomic_load_explicit(&r->state, memory_order_relaxed) == from &&
	       atomic_compare_exchange_strong_explicit(&r->state, &expect, RING_LIVE, memory_order_acquire,
						       memory_order_relaxed);
}

/* A FREE ring; in FLIGHT mode past the soft cap, an EXITED one; else new. */
static struct ring *ring_claim(void)
{
	for (struct ring *r = cprof_rings_first(); r; r = r->next)
		if (ring_take(r, RING_FREE))
			return r;
	if (atomic_load_explicit(&cprof_ring_mode, memory_order_acquire) == RING_MODE_FLIGHT &&
	    cprof_rings_count() >= RING_SOFT_CAP)
		for (struct ring *r = cprof_rings_first(); r; r = r->next)
			if (ring_take(r, RING_EXITED)) {
				/* The old owner padded its last block, so head is a block
				 * start; nobody drains in FLIGHT mode, so drop the
				 * unread bytes. */
				atomic_store_explicit(&r->tail, atomic_load(&r->head), memory_order_relaxed);
				return r;
			}
	return ring_create();
}

static pthread_key_t exit_key;
static int exit_key_ready;

static void on_thread_exit(void *arg)
{
	cprof_thread_exit(arg);
}

void cprof_rings_init_key(void)
{
	if (pthread_key_create(&exit_key, on_thread_exit) == 0)
		exit_key_ready = 1;
}

static int thread_attach(struct cprof_thread *self)
{
	if (!atomic_load_explicit(&cprof_enabled, memory_order_relaxed))
		return -1;
	struct ring *r = ring_claim();
	if (!r) {
		self->status = THREAD_DEAD; /* no memory: this thread goes untraced */
		return -1;
	}
	atomic_fetch_add_explicit(&r->generation, 1, memory_order_relaxed);
	r->tid = cprof_gettid();
	char comm[17] = {0};
	prctl(PR_GET_NAME, comm); /* 16 bytes, NUL-terminated */
	cprof_ring_set_name(r, comm);
	atomic_store_explicit(&r->task, self->task, memory_order_relaxed);
	atomic_store_explicit(&r->dropped, 0, memory_order_relaxed);
	self->ring = r;
	self->base = r->base;
	self->mask = r->size - 1;
	self->pos = atomic_load_explicit(&r->head, memory_order_relaxed); /* a block start */
	self->limit = self->pos; /* the next reservation claims a block */
	self->lost_pending = 0;
	self->start_pending = 1;
	self->status = THREAD_ACTIVE;
	if (exit_key_ready)
		pthread_setspecific(exit_key, self);
	return 0;
}

static void count_drop(struct cprof_thread *self)
{
	if (!self->lost_pending++)
		self->lost_since = cprof_clock_now();
	struct ring *r = self->ring;
	/* Not a load+store: a signal handler on this thread may count its own
	 * drop (record_enter) between them, and one count would be lost. An
	 * atomic add costs a locked instruction, on the drop path only. */
	atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
}

/* Writes PAD at self->pos when mid-block and publishes head at the block end. */
static void pad_block(struct cprof_thread *self)
{
	uint64_t bmask = self->ring->block - 1;
	if (!(self->pos & bmask))
		return;
	*(uint64_t *)(self->base + (self->pos & self->mask)) = ring_header(CPROF_EV_PAD, 1, 0, 0);
	self->pos = (self->pos | bmask) + 1;
	self->limit = self->pos;
	atomic_store_explicit(&self->ring->head, self->pos, memory_order_release);
}

static int power_of_two(uint64_t x)
{
	return x && !(x & (x - 1));
}

int cprof_ring_sanity(const struct ring *r)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t state = atomic_load_explicit(&r->state, memory_order_relaxed);
	return power_of_two(r->size) && power_of_two(r->block) && r->block <= r->size && r->base &&
	       head % 8 == 0 && state <= RING_EXITED &&
	       /* DRAIN readers stay behind the writer; FLIGHT leaves tail behind */
	       (tail <= head || state == RING_FREE);
}

int cprof_thread_sanity(const struct cprof_thread *self)
{
	if (self->status != THREAD_ACTIVE || !self->ring)
		return 1;
	uint64_t block = self->ring->block;
	return self->pos % 8 == 0 && self->pos <= self->limit && self->limit - self->pos <= block &&
	       self->limit % block == 0 && self->base == self->ring->base && self->mask == self->ring->size - 1;
}

uint64_t *cprof_ring_reserve_slow(struct cprof_thread *self, uint32_t words)
{
	assert(cprof_thread_sanity(self));
	if (self->status != THREAD_ACTIVE) {
		if (self->status != THREAD_NEW || thread_attach(self))
			return NULL;
	}
	struct ring *r = self->ring;
	/* A fresh block holds its opening records and any one record. */
	if (unlikely((words + 12u) * 8u > r->block))
		return NULL;
	/* The record does not fit the rest of this block (or no block is held). */
	pad_block(self);
	uint64_t pos = self->pos;
	if (atomic_load_explicit(&cprof_ring_mode, memory_order_acquire) == RING_MODE_DRAIN) {
		/* Acquire: the reader's loads of the bytes it released happen
		 * before we overwrite them. */
		uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (pos + r->block - tail > r->size / 2)
			nudge_drainer(r);
		if (pos + r->block > tail + r->size) {
			count_drop(self);
			return NULL;
		}
	}
	atomic_thread_fence(memory_order_release); /* see ring_reserve */
	uint64_t *p = (uint64_t *)(self->base + (pos & self->mask));
	uint64_t now = cprof_clock_now();
	uint32_t gen = atomic_load_explicit(&r->generation, memory_order_relaxed);
	p[0] = ring_header(CPROF_EV_BLOCK_START, 3, 0, gen);
	p[1] = now;
	p[2] = self->task;
	p += 3;
	if (self->start_pending) { /* the thread's first block */
		p[0] = ring_header(CPROF_EV_THREAD_START, 5, 0, 0);
		/* A thread known to exist since `born` (a tree part's main
		 * thread, which attaches at its first event) starts then. */
		p[1] = self->born && self->born < now ? self->born : now;
		memcpy(&p[2], self->start_args, sizeof self->start_args);
		p += 5;
		self->start_pending = 0;
	}
	if (self->lost_pending) {
		uint64_t n = self->lost_pending > UINT32_MAX ? UINT32_MAX : self->lost_pending;
		p[0] = ring_header(CPROF_EV_LOST, 3, 0, (uint32_t)n);
		p[1] = now;
		p[2] = self->lost_since;
		p += 3;
		self->lost_pending -= n;
	}
	self->pos = pos + (uint64_t)((uint8_t *)p - (self->base + (pos & self->mask)));
	self->limit = pos + r->block;
	assert(cprof_thread_sanity(self) && cprof_ring_sanity(r));
	return p;
}

void cprof_thread_attach_now(struct cprof_thread *self)
{
	if (self->status != THREAD_NEW || self->busy)
		return;
	self->busy = 1;
	if (cprof_ring_reserve_slow(self, 0))
		ring_commit(self, 0); /* publishes BLOCK_START and THREAD_START */
	self->busy = 0;
}

void cprof_ring_set_name(struct ring *r, const char *name)
{
	/* The drainer may copy the name meanwhile: byte stores, a torn name at
	 * worst for one batch (names are also read from /proc per batch). */
	size_t i = 0;
	for (; i < CPROF_THREAD_NAME_MAX - 1 && name[i]; i++)
		__atomic_store_n(&r->name[i], name[i], __ATOMIC_RELAXED);
	for (; i < CPROF_THREAD_NAME_MAX; i++)
		__atomic_store_n(&r->name[i], 0, __ATOMIC_RELAXED);
}

#define EXIT_HOOKS 4
static void (*_Atomic exit_hooks[EXIT_HOOKS])(void);

int cprof_on_thread_exit(void (*fn)(void))
{
	for (int i = 0; i < EXIT_HOOKS; i++) {
		void (*expect)(void) = NULL;
		/* Release: a thread that finds the hook sees what fn needs. */
		if (atomic_compare_exchange_strong_explicit(&exit_hooks[i], &expect, fn, memory_order_release,
							    memory_order_relaxed) ||
		    expect == fn)
			return 0;
	}
	return -1;
}

void cprof_thread_exit(struct cprof_thread *self)
{
	if (self->status != THREAD_ACTIVE)
		return;
	for (int i = 0; i < EXIT_HOOKS; i++) { /* what the layers above record at an exit */
		void (*hook)(void) = atomic_load_explicit(&exit_hooks[i], memory_order_acquire);
		if (hook)
			hook();
	}
	self->busy++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	uint64_t *p = ring_reserve(self, 2);
	if (p) {
		p[0] = ring_header(CPROF_EV_THREAD_EXIT, 2, 0, 0);
		p[1] = cprof_clock_now();
		ring_commit(self, 2);
	}
	struct ring *r = self->ring;
	if (self->status == THREAD_ACTIVE)
		pad_block(self);
	self->status = THREAD_DEAD;
	self->ring = NULL;
	self->limit = 0;
	/* Release: the last head store is visible to whoever sees EXITED. */
	atomic_store_explicit(&r->state, RING_EXITED, memory_order_release);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	self->busy--;
}

uint64_t cprof_rings_dropped(void)
{
	uint64_t n = 0;
	for (struct ring *r = cprof_rings_first(); r; r = r->next)
		n += atomic_load_explicit(&r->dropped, memory_order_relaxed);
	return n;
}

void cprof_rings_after_fork(void)
{
	/* Only the forking thread exists in the child: every ring is free and
	 * empty, and this thread attaches afresh on its next event. */
	for (struct ring *r = cprof_rings_first(); r; r = r->next) {
		atomic_store(&r->head, 0);
		atomic_store(&r->tail, 0);
		atomic_store(&r->dropped, 0);
		atomic_fetch_add(&r->generation, 1);
		atomic_store(&r->state, RING_FREE);
	}
	atomic_store(&cprof_ring_mode, RING_MODE_FLIGHT);
	struct cprof_thread *self = cprof_me();
	uint32_t busy = self->busy;
	memset(self, 0, sizeof *self);
	self->busy = busy;
}
