/* Varint and zigzag coding: round trips at the edges, cut and overlong input. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "varint.h"

/* The plain loop varint_get's fast paths must agree with. */
static size_t ref_get(const uint8_t *p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	for (size_t n = 0; n < CPROF_VARINT_MAX && p + n < end; n++) {
		uint8_t b = p[n];
		if (n == 9 && b > 1)
			return 0;
		v |= (uint64_t)(b & 0x7f) << (7 * n);
		if (!(b & 0x80)) {
			*out = v;
			return n + 1;
		}
	}
	return 0;
}

int main(void)
{
	const uint64_t values[] = {0, 1, 127, 128, 255, 16383, 16384, 1u << 21, (1ull << 35) - 1,
				   1ull << 56, UINT64_MAX - 1, UINT64_MAX};
	for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
		uint8_t buf[CPROF_VARINT_MAX];
		size_t n = varint_put(buf, values[i]);
		CHECK(n >= 1 && n <= CPROF_VARINT_MAX);
		uint64_t v = 0;
		CHECK(varint_get(buf, buf + n, &v) == n && v == values[i]);
		/* every cut of the encoding is rejected, never over-read */
		for (size_t cut = 0; cut < n; cut++)
			CHECK(varint_get(buf, buf + cut, &v) == 0);
	}
	/* sizes: 7 bits per byte */
	uint8_t buf[16];
	CHECK(varint_put(buf, 127) == 1);
	CHECK(varint_put(buf, 128) == 2);
	CHECK(varint_put(buf, UINT64_MAX) == 10);

	/* an 11-byte run of continuation bits is invalid */
	memset(buf, 0x80, sizeof buf);
	uint64_t v;
	CHECK(varint_get(buf, buf + sizeof buf, &v) == 0);
	/* the 10th byte may only carry one bit */
	memset(buf, 0xff, 9);
	buf[9] = 0x02;
	CHECK(varint_get(buf, buf + 10, &v) == 0);
	buf[9] = 0x01;
	CHECK(varint_get(buf, buf + 10, &v) == 10 && v == UINT64_MAX);

	/* random bytes (continuation bits dense or sparse), every start and
	 * end: the same length and value as the loop, overlong forms too */
	uint64_t rng = 88172645463325252u;
	for (int round = 0; round < 20000; round++) {
		uint8_t r[24];
		for (size_t k = 0; k < sizeof r; k++) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			unsigned dense = (unsigned)(round % 4); /* 0..3: how often the high bit is set */
			r[k] = (uint8_t)((rng & 0x7f) | ((rng >> 8) % 4 < dense ? 0x80 : 0));
		}
		for (size_t a = 0; a < 12; a++)
			for (size_t e = a; e <= sizeof r; e += 1 + (e % 3)) {
				uint64_t x = 7, y = 9;
				size_t n1 = varint_get(r + a, r + e, &x), n2 = ref_get(r + a, r + e, &y);
				CHECK(n1 == n2 && (!n1 || x == y));
			}
	}

	const int64_t signeds[] = {0, 1, -1, 2, -2, INT64_MAX, INT64_MIN, 123456789, -987654321};
	for (size_t i = 0; i < sizeof signeds / sizeof *signeds; i++)
		CHECK(zigzag_decode(zigzag_encode(signeds[i])) == signeds[i]);
	CHECK(zigzag_encode(0) == 0 && zigzag_encode(-1) == 1 && zigzag_encode(1) == 2);
	return check_done("test_varint");
}
