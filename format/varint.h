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
#include <string.h>

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
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (end - p >= 8) { /* 2..8 bytes, with 8 readable: no loop */
		uint64_t x;
		memcpy(&x, p, 8);
		uint64_t stop = ~x & 0x8080808080808080u; /* bit 8k+7: byte k ends it */
		if (stop) {
			unsigned bits = (unsigned)__builtin_ctzll(stop) + 1; /* 8 * length */
			if (bits < 64)
				x &= ((uint64_t)1 << bits) - 1;
			x &= 0x7f7f7f7f7f7f7f7fu;
			/* pack the 7-bit groups: pairs, then fours, then eights */
			x = ((x & 0x7f007f007f007f00u) >> 1) | (x & 0x007f007f007f007fu);
			x = ((x & 0x3fff00003fff0000u) >> 2) | (x & 0x00003fff00003fffu);
			x = ((x & 0x0fffffff00000000u) >> 4) | (x & 0x000000000fffffffu);
			*out = x;
			return bits / 8;
		}
	}
#endif
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
