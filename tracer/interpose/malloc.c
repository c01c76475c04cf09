/*
 * The malloc family, interposed for the heap and allocs profiles
 * (heap.h): malloc, calloc, realloc, reallocarray, free, posix_memalign,
 * aligned_alloc, memalign, valloc, pvalloc.
 *
 * Workload: every allocation of the program passes here, so the common
 * case is the real call plus one thread-local subtract and compare
 * (malloc) or a range check, one relaxed load and one byte load (free).
 * Only a sampled allocation (one per CPROF_TRACE_MEM_RATE bytes on
 * average, exponential intervals like Go's) takes a stack and enters the
 * table of live sampled blocks; only a free whose address passes the
 * filter probes that table. No lock anywhere: the live table is open
 * addressing with CAS on the key (tombstones reused), per-stack counters
 * are relaxed atomic adds, so fork, signal handlers and 10,000 threads
 * need nothing special.
 *
 * Constraints:
 * - Safe from the process's first allocation: the real functions are
 *   resolved lazily with dlsym(RTLD_NEXT), and dlsym itself may allocate;
 *   a thread that allocates while it resolves is served from a small
 *   static arena (its blocks are never freed, realloc copies them out).
 * - Never recursive: the sampling path sets the thread's busy flag, so the
 *   tracer's allocations (stack capture, symbolization, HTTP threads, the
 *   drainer) pass straight to the real functions, uncounted.
 * - A signal handler that allocates while its thread samples passes
 *   through uncounted (busy); otherwise it is counted like any caller.
 * - Sanitizer builds (ASan, TSan) do not interpose the allocator: the
 *   sanitizer's own allocator owns malloc there, and our wrappers would sit
 *   between the program and its interceptors; the heap profile is empty
 *   (README).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "interpose/heap.h"
#include "interpose/interpose.h"
#include "stacks/stack.h"

uint64_t cprof_heap_rate = 512 * 1024;
int cprof_heap_ready;
_Atomic uint64_t cprof_heap_live;
static _Atomic uint64_t lost; /* samples not remembered: the live table was full near their slot */

static struct cprof_heap_stack heap_table[CPROF_STACK_IDS + 1]; /* 2 MiB of zero pages until used */

void cprof_heap_configure(uint64_t rate)
{
	cprof_heap_rate = rate;
}

const struct cprof_heap_stack *cprof_heap_table(void)
{
	return heap_table;
}

uint64_t cprof_heap_lost(void)
{
	return atomic_load_explicit(&lost, memory_order_relaxed);
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)

/* ---- the early arena ---- */

#define ARENA_BYTES (256 * 1024)
static _Alignas(64) unsigned char arena[ARENA_BYTES];
static _Atomic size_t arena_used;

static inline int in_arena(const void *p)
{
	return (const unsigned char *)p >= arena && (const unsigned char *)p < arena + ARENA_BYTES;
}

/* A block of n bytes aligned to align (a power of two, >= 16), with its
 * size in the 16 bytes before it; NULL with ENOMEM when the arena is full. */
static void *arena_alloc(size_t n, size_t align)
{
	if (align < 16)
		align = 16;
	if (n > ARENA_BYTES)
		goto full;
	size_t need = n + align + 16, at = atomic_fetch_add_explicit(&arena_used, need, memory_order_relaxed);
	if (at + need > ARENA_BYTES)
		goto full;
	uintptr_t p = ((uintptr_t)(arena + at) + 16 + align - 1) & ~(uintptr_t)(align - 1);
	((size_t *)p)[-1] = n;
	return (void *)p;
full:
	errno = ENOMEM;
	return NULL;
}

static size_t arena_size(const void *p)
{
	return ((const size_t *)p)[-1];
}

/* ---- the real functions ---- */

static __thread int resolving __attribute__((tls_model("initial-exec")));

/* The real function `name`, or NULL when this thread is resolving one
 * already (dlsym allocating): the caller serves the arena. */
static __attribute__((noinline)) void *resolve(const char *name)
{
	if (resolving)
		return NULL;
	resolving = 1;
	void *f = cprof_interpose_resolve_lazy(name);
	resolving = 0;
	return f;
}

#define REAL_ALLOC(name)                                                                           \
	__extension__({                                                                            \
		__typeof__(cprof_real_##name) f_ = __atomic_load_n(&cprof_real_##name, __ATOMIC_RELAXED); \
		if (unlikely(!f_))                                                                 \
			f_ = (__typeof__(f_))resolve(#name);                                       \
		f_;                                                                                \
	})

/* ---- sampling ---- */

/* Bytes this thread allocates before its next sample; <= 0: sample now. */
static __thread int64_t bytes_left __attribute__((tls_model("initial-exec")));
static __thread uint64_t rng __attribute__((tls_model("initial-exec")));

/* ln(x) for x in (0, 1], within 1e-5: exponent plus an atanh series of the
 * mantissa (no libm on the allocation path). */
static double ln_approx(double x)
{
	union {
		double d;
		uint64_t u;
	} v = {x};
	int e = (int)((v.u >> 52) & 0x7ff) - 1023;
	v.u = (v.u & ((1ull << 52) - 1)) | (1023ull << 52); /* mantissa in [1, 2) */
	double t = (v.d - 1) / (v.d + 1), t2 = t * t;
	return e * 0.6931471805599453 + 2 * t * (1 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 / 9))));
}

/* An exponential interval of mean rate bytes (Go's nextSample). */
static int64_t next_interval(uint64_t rate)
{
	if (!rng)
		rng = (cprof_clock_now() ^ (uintptr_t)&rng) | 1;
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17; /* xorshift64 */
	double u = ((double)(rng >> 11) + 1) / 9007199254740992.0; /* (0, 1] */
	double d = -ln_approx(u) * (double)rate;
	return d < 1 ? 1 : d > 4e18 ? INT64_MAX : (int64_t)d;
}

/* ---- the live table: sampled blocks by address ---- */

#define LIVE_BITS 18
#define LIVE_CAP (1u << LIVE_BITS) /* 256 Ki blocks: 128 GiB live at the default rate */
#define LIVE_PROBES 64             /* an entry lives within this many slots of its home */
#define TOMB ((uintptr_t)1)
#define FILTER_BITS 18

struct live {
	_Atomic uintptr_t addr; /* 0: empty, TOMB: freed, else the block */
	uint64_t size;          /* bytes requested */
	uint32_t stack;         /* stack id */
};
static struct live live[LIVE_CAP];
/* Counting filter of live sampled addresses (saturating at 255): free
 * probes the table only when its byte is nonzero. */
static _Atomic uint8_t filter[1u << FILTER_BITS];

static inline uint64_t mix(uintptr_t p)
{
	return (uint64_t)p * 0x9e3779b97f4a7c15ull;
}

static inline uint32_t filter_slot(uintptr_t p)
{
	return (uint32_t)(mix(p >> 4) >> (64 - FILTER_BITS));
}

static void filter_add(uintptr_t p, int d)
{
	_Atomic uint8_t *f = &filter[filter_slot(p)];
	uint8_t v = atomic_load_explicit(f, memory_order_relaxed);
	for (;;) {
		if (v == 255 || (d < 0 && v == 0))
			return; /* saturated: stays set for good */
		if (atomic_compare_exchange_weak_explicit(f, &v, (uint8_t)(v + d), memory_order_relaxed,
							  memory_order_relaxed))
			return;
	}
}

static int live_insert(uintptr_t p, uint64_t size, uint32_t stack)
{
	uint32_t h = (uint32_t)(mix(p) >> (64 - LIVE_BITS));
	for (uint32_t i = 0; i < LIVE_PROBES; i++) {
		struct live *e = &live[(h + i) & (LIVE_CAP - 1)];
		uintptr_t k = atomic_load_explicit(&e->addr, memory_order_relaxed);
		if (k != 0 && k != TOMB)
			continue;
		/* Acquire: a previous owner's size/stack reads are done (it
		 * read them before its TOMB store, release). */
		if (!atomic_compare_exchange_strong_explicit(&e->addr, &k, p, memory_order_acquire, memory_order_relaxed))
			continue;
		e->size = size;
		e->stack = stack;
		/* The free of p happens after p's malloc returned (the program
		 * orders them), so these plain stores are visible to it. */
		filter_add(p, 1);
		atomic_fetch_add_explicit(&cprof_heap_live, 1, memory_order_relaxed);
		return 1;
	}
	return 0;
}

static __attribute__((noinline)) void live_remove(uintptr_t p)
{
	uint32_t h = (uint32_t)(mix(p) >> (64 - LIVE_BITS));
	for (uint32_t i = 0; i < LIVE_PROBES; i++) {
		struct live *e = &live[(h + i) & (LIVE_CAP - 1)];
		uintptr_t k = atomic_load_explicit(&e->addr, memory_order_relaxed);
		if (k == 0)
			return;
		if (k != p)
			continue;
		uint64_t size = e->size;
		uint32_t stack = e->stack;
		/* Release: our reads of size/stack precede a reuse of the slot. */
		if (!atomic_compare_exchange_strong_explicit(&e->addr, &k, TOMB, memory_order_release, memory_order_relaxed))
			return;
		filter_add(p, -1);
		atomic_fetch_sub_explicit(&cprof_heap_live, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&heap_table[stack].frees, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&heap_table[stack].free_bytes, size, memory_order_relaxed);
		return;
	}
}

/* The allocation of n bytes at p crossed this thread's sampling point.
 * skip 1: this function; the leaf frame is the wrapper (malloc, ...). */
static __attribute__((noinline)) void sample_slow(void *p, size_t n)
{
	uint64_t rate = cprof_heap_rate;
	struct cprof_thread *self = cprof_me();
	if (cprof_heap_ready <= 0 || !rate) {
		/* not configured yet (before the constructor): look again next
		 * time; off (rate 0, interposition off): never again */
		bytes_left = cprof_heap_ready == 0 ? 0 : INT64_MAX;
		return;
	}
	int first = rng == 0; /* the thread's first allocation only starts its interval */
	bytes_left = next_interval(rate);
	if (first || self->busy || self->status == THREAD_INTERNAL || self->status >= THREAD_DEAD || !cprof_interpose_on)
		return; /* the tracer's own */
	int saved = errno;
	self->busy++;
	uint32_t stack = cprof_stack_here(1);
	if (live_insert((uintptr_t)p, n, stack)) {
		atomic_fetch_add_explicit(&heap_table[stack].allocs, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&heap_table[stack].alloc_bytes, n, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&lost, 1, memory_order_relaxed);
	}
	self->busy--;
	errno = saved;
}

static inline __attribute__((always_inline)) void note_alloc(void *p, size_t n)
{
	if (likely((bytes_left -= (int64_t)n) > 0))
		return;
	sample_slow(p, n);
}

static inline __attribute__((always_inline)) void note_free(void *p)
{
	if (unlikely(atomic_load_explicit(&cprof_heap_live, memory_order_relaxed) != 0) &&
	    atomic_load_explicit(&filter[filter_slot((uintptr_t)p)], memory_order_relaxed))
		live_remove((uintptr_t)p);
}

/* ---- the wrappers ---- */

CPROF_API void *malloc(size_t n)
{
	void *(*f)(size_t) = REAL_ALLOC(malloc);
	if (unlikely(!f))
		return arena_alloc(n, 16);
	void *p = f(n);
	if (likely(p != NULL))
		note_alloc(p, n);
	return p;
}

CPROF_API void *calloc(size_t k, size_t n)
{
	size_t total;
	void *(*f)(size_t, size_t) = REAL_ALLOC(calloc);
	if (unlikely(!f)) {
		if (__builtin_mul_overflow(k, n, &total)) {
			errno = ENOMEM;
			return NULL;
		}
		return arena_alloc(total, 16); /* static: zeroed */
	}
	void *p = f(k, n);
	if (likely(p != NULL))
		note_alloc(p, k * n);
	return p;
}

CPROF_API void free(void *p)
{
	if (!p || unlikely(in_arena(p)))
		return;
	note_free(p);
	void (*f)(void *) = REAL_ALLOC(free);
	if (likely(f != NULL))
		f(p);
}

/* realloc of an arena block: a real block with its bytes. */
static void *from_arena(void *p, size_t n)
{
	void *q = malloc(n);
	if (q) {
		size_t old = arena_size(p);
		memcpy(q, p, old < n ? old : n);
	}
	return q;
}

CPROF_API void *realloc(void *p, size_t n)
{
	if (p && unlikely(in_arena(p)))
		return from_arena(p, n);
	void *(*f)(void *, size_t) = REAL_ALLOC(realloc);
	if (unlikely(!f))
		return p ? NULL : arena_alloc(n, 16);
	if (p)
		note_free(p); /* before the call: p may be reissued to another thread at once */
	void *q = f(p, n);
	if (q && n)
		note_alloc(q, n);
	return q;
}

CPROF_API void *reallocarray(void *p, size_t k, size_t n)
{
	size_t total;
	if (__builtin_mul_overflow(k, n, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	if (p && unlikely(in_arena(p)))
		return from_arena(p, total);
	void *(*f)(void *, size_t, size_t) = REAL_ALLOC(reallocarray);
	if (unlikely(!f))
		return p ? NULL : arena_alloc(total, 16);
	if (p)
		note_free(p);
	void *q = f(p, k, n);
	if (q && total)
		note_alloc(q, total);
	return q;
}

CPROF_API int posix_memalign(void **out, size_t align, size_t n)
{
	int (*f)(void **, size_t, size_t) = REAL_ALLOC(posix_memalign);
	if (unlikely(!f)) {
		if (!align || (align & (align - 1)) || align % sizeof(void *))
			return EINVAL;
		void *p = arena_alloc(n, align);
		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	int rc = f(out, align, n);
	if (rc == 0 && *out)
		note_alloc(*out, n);
	return rc;
}

#define ALIGNED_WRAP(name, align_expr, params, args, n_expr)                \
	CPROF_API void *name params                                         \
	{                                                                   \
		void *(*f) params = REAL_ALLOC(name);                       \
		if (unlikely(!f))                                           \
			return arena_alloc(n_expr, align_expr);             \
		void *p = f args;                                           \
		if (likely(p != NULL))                                      \
			note_alloc(p, n_expr);                              \
		return p;                                                   \
	}

ALIGNED_WRAP(aligned_alloc, a, (size_t a, size_t n), (a, n), n)
ALIGNED_WRAP(memalign, a, (size_t a, size_t n), (a, n), n)
ALIGNED_WRAP(valloc, 4096, (size_t n), (n), n)
ALIGNED_WRAP(pvalloc, 4096, (size_t n), (n), n)

#endif /* not a sanitizer build */
