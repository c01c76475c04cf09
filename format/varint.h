/*
 * LEB128 varints (unsigned) and zigzag for signed deltas.
 *
 * Encoders write at most CPROF_VARINT_MAX bytes and return the count.
 * Decoders never read past `end`: they return the number of bytes consumed,
 * or 0 when the input ends mid-varint or the value overflows 64 bits.
 */
#ifndef CPROF_VARINT_H
#define CPROF_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define CPROF_VARINT_MAX 10

static inline size_t varint_put(uint8_t *p, uint64_t v)
{
	/* one and two bytes first: timestamp deltas, kinds and ids mostly */
	if (v < 0x80) {
		p[0] = (uint8_t)v;
		return 1;
	}
	if (v < 0x4000) {
		p[0] = (uint8_t)(v | 0x80);
		p[1] = (uint8_t)(v >> 7);
		return 2;
	}
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static inline size_t varint_get(const uint8_t *p, const uint8_t *end, uint64_t *out)
{
	if (__builtin_expect(p < end && *p < 0x80, 1)) { /* one byte: most of them */
		*out = *p;
		return 1;
	}
	uint64_t v = 0;
	for (size_t n = 0; n < CPROF_VARINT_MAX && p + n < end; n++) {
		uint8_t b = p[n];
		if (n == 9 && b > 1)
			return 0; /* would overflow 64 bits */
		v |= (uint64_t)(b & 0x7f) << (7 * n);
		if (!(b & 0x80)) {
			*out = v;
			return n + 1;
		}
	}
	return 0;
}

static inline uint64_t zigzag_encode(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t zigzag_decode(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

#endif
