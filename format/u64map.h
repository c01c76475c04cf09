/*
 * u64map: an open-addressing hash map from a 64-bit key to a nonzero
 * 32-bit value (callers store index + 1 into their own arrays). Linear
 * probing; deletion shifts the cluster back, so there are no tombstones.
 * Load factor at most 1/2.
 */
#ifndef CPROF_U64MAP_H
#define CPROF_U64MAP_H

#include <stdint.h>
#include <stdlib.h>

struct u64map {
	uint64_t *keys;
	uint32_t *vals; /* 0: empty slot */
	uint32_t cap;   /* power of two, or 0 */
	uint32_t n;
};

static inline uint32_t u64map_slot(uint64_t key, uint32_t cap)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return (uint32_t)key & (cap - 1);
}

/* The value for key, or 0. */
static inline uint32_t u64map_get(const struct u64map *m, uint64_t key)
{
	if (!m->cap)
		return 0;
	for (uint32_t i = u64map_slot(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (!m->vals[i])
			return 0;
		if (m->keys[i] == key)
			return m->vals[i];
	}
}

static inline int u64map_grow(struct u64map *m)
{
	uint32_t cap = m->cap ? m->cap * 2 : 64;
	uint64_t *keys = malloc(cap * sizeof *keys);
	uint32_t *vals = calloc(cap, sizeof *vals);
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -1;
	}
	for (uint32_t i = 0; i < m->cap; i++) {
		if (!m->vals[i])
			continue;
		uint32_t j = u64map_slot(m->keys[i], cap);
		while (vals[j])
			j = (j + 1) & (cap - 1);
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return 0;
}

/* Sets key to val (nonzero). Returns 0, or -1 out of memory. */
static inline int u64map_put(struct u64map *m, uint64_t key, uint32_t val)
{
	if ((m->n + 1) * 2 > m->cap && u64map_grow(m))
		return -1;
	uint32_t i = u64map_slot(key, m->cap);
	while (m->vals[i] && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	if (!m->vals[i])
		m->n++;
	m->keys[i] = key;
	m->vals[i] = val;
	return 0;
}

static inline void u64map_del(struct u64map *m, uint64_t key)
{
	if (!m->cap)
		return;
	uint32_t mask = m->cap - 1, i = u64map_slot(key, m->cap);
	while (m->vals[i] && m->keys[i] != key)
		i = (i + 1) & mask;
	if (!m->vals[i])
		return;
	m->vals[i] = 0;
	m->n--;
	/* shift later members of the cluster back into the hole */
	for (uint32_t j = (i + 1) & mask; m->vals[j]; j = (j + 1) & mask) {
		uint32_t home = u64map_slot(m->keys[j], m->cap);
		/* j's entry may move to i when home is not in (i, j] cyclically */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			m->vals[j] = 0;
			i = j;
		}
	}
}

static inline void u64map_free(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	*m = (struct u64map){0};
}

#endif
