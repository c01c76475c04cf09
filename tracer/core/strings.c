/*
 * The process's string table: names of regions, tasks, log categories,
 * threads and (later) symbols, interned to dense ids 1, 2, 3, ...
 *
 * Workload: a few hundred to a few hundred thousand strings, each interned
 * once per call site (the site caches its id), looked up by id only by the
 * capture's drainer. Writers serialise on one mutex (the slow path of a
 * site's first use); readers are lock-free: an entry is complete before
 * `count` is stored with release, and entries never move or change.
 * Memory comes from mmap, never malloc, so interning is safe in a signal
 * handler that did not interrupt this thread inside the tracer (record
 * re-entry is refused earlier, in record.c).
 */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "core/internal.h"

#define SEG_BITS 12
#define SEG_SIZE (1u << SEG_BITS)
#define NSEGS (CPROF_STRING_ID_MAX >> SEG_BITS)
#define ARENA_CHUNK (1u << 20)

struct str_entry {
	const char *s; /* NUL-terminated, in the arena */
	uint32_t len;  /* bytes, without the NUL */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct str_entry *segs[NSEGS];
static _Atomic uint32_t count = 1; /* next id; ids below are complete */
static uint32_t *slots;            /* open addressing: id or 0 */
static uint32_t nslots;            /* power of two */
static char *arena;
static size_t arena_left;

static uint64_t hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return h;
}

static struct str_entry *entry(uint32_t id)
{
	struct str_entry *seg = __atomic_load_n(&segs[id >> SEG_BITS], __ATOMIC_ACQUIRE);
	return seg ? &seg[id & (SEG_SIZE - 1)] : NULL;
}

/* Doubles the slot table (lock held). Returns -1 when out of memory. */
static int grow_slots(void)
{
	uint32_t n = nslots ? nslots * 2 : 4096;
	uint32_t *t = cprof_map((size_t)n * sizeof *t);
	if (!t)
		return -1;
	for (uint32_t i = 0; i < nslots; i++) {
		uint32_t id = slots[i];
		if (!id)
			continue;
		struct str_entry *e = entry(id);
		uint64_t h = hash(e->s, e->len);
		for (uint32_t k = 0;; k++) {
			uint32_t j = (uint32_t)(h + k) & (n - 1);
			if (!t[j]) {
				t[j] = id;
				break;
			}
		}
	}
	if (slots)
		munmap(slots, (size_t)nslots * sizeof *slots);
	slots = t;
	nslots = n;
	return 0;
}

uint32_t cprof_string_intern(const char *s, size_t len)
{
	if (!s)
		s = "", len = 0;
	if (len > CPROF_STRING_MAX)
		len = CPROF_STRING_MAX;
	uint64_t h = hash(s, len);
	uint32_t id = 0;
	pthread_mutex_lock(&lock);
	uint32_t n = atomic_load_explicit(&count, memory_order_relaxed);
	if ((n + 1) * 2 > nslots && grow_slots())
		goto out;
	uint32_t j;
	for (uint32_t k = 0;; k++) {
		j = (uint32_t)(h + k) & (nslots - 1);
		uint32_t have = slots[j];
		if (!have)
			break;
		struct str_entry *e = entry(have);
		if (e->len == len && memcmp(e->s, s, len) == 0) {
			id = have;
			goto out;
		}
	}
	if (n >= CPROF_STRING_ID_MAX)
		goto out;
	if (!segs[n >> SEG_BITS]) {
		struct str_entry *seg = cprof_map(SEG_SIZE * sizeof *seg);
		if (!seg)
			goto out;
		__atomic_store_n(&segs[n >> SEG_BITS], seg, __ATOMIC_RELEASE);
	}
	if (arena_left < len + 1) {
		size_t want = len + 1 > ARENA_CHUNK ? len + 1 : ARENA_CHUNK;
		char *a = cprof_map(want);
		if (!a)
			goto out;
		arena = a;
		arena_left = want;
	}
	char *copy = arena;
	memcpy(copy, s, len);
	copy[len] = 0;
	arena += len + 1;
	arena_left -= len + 1;
	*entry(n) = (struct str_entry){copy, (uint32_t)len};
	slots[j] = n;
	id = n;
	/* Release: the entry is complete before any reader sees the id. */
	atomic_store_explicit(&count, n + 1, memory_order_release);
out:
	pthread_mutex_unlock(&lock);
	return id;
}

uint32_t cprof_site_id_slow(struct cprof_site *site)
{
	const char *name = site->name ? site->name : "(null)";
	uint32_t id = cprof_string_intern(name, strlen(name));
	__atomic_store_n(&site->id, id, __ATOMIC_RELEASE);
	return id;
}

uint32_t cprof_strings_count(void)
{
	return atomic_load_explicit(&count, memory_order_acquire);
}

const char *cprof_string_get(uint32_t id, uint32_t *len)
{
	if (id == 0 || id >= cprof_strings_count())
		return NULL;
	struct str_entry *e = entry(id);
	*len = e->len;
	return e->s;
}

void cprof_strings_lock(void)
{
	pthread_mutex_lock(&lock);
}

void cprof_strings_unlock(void)
{
	pthread_mutex_unlock(&lock);
}

void cprof_strings_after_fork(void)
{
	/* The child's only thread may find the lock held by the prepare
	 * handler; the table itself is consistent. */
	pthread_mutex_init(&lock, NULL);
}
