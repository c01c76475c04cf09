/*
 * Growable arrays, the one way the viewer grows them: room for the element
 * at index n of an array of elem-byte elements with *cap allocated, the
 * capacity doubling from `first`. Returns 0, or -1 out of memory (the array
 * and *cap unchanged, so what was there stays valid).
 */
#ifndef CPROF_GROW_H
#define CPROF_GROW_H

#include <stdint.h>
#include <stdlib.h>

static inline int grow_array(void **p, uint32_t n, uint32_t *cap, size_t elem, uint32_t first)
{
	if (n < *cap)
		return 0;
	uint32_t c = *cap ? *cap * 2 : first;
	if (c <= *cap) /* the count would overflow 32 bits */
		return -1;
	void *q = realloc(*p, (size_t)c * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

/* grow_array for an array named by its pointer field, count and capacity. */
#define GROW(ptr, n, cap, first) grow_array((void **)&(ptr), (n), &(cap), sizeof *(ptr), (first))

#endif
