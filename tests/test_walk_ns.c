/* walk_ns's multiply fast path against walk_ns_slow (the division the
 * viewer's outputs were made with): equal for every clock rate and tick
 * tried, rounding edges (ticks whose exact ns ends in .5) included. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "walk.h"

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(void)
{
	static struct walk w; /* large: not on the stack */
	const uint64_t rates[] = {1000000000u, 2994375000u, 2400000000u, 3000000000u, 1u, 3u, 7u, 1000u,
				  2000000000u, 999999999u, 1000000001u, 123456789u, 4000000000000u,
				  UINT64_MAX};
	uint64_t tried = 0, fast = 0;
	for (size_t k = 0; k < sizeof rates / sizeof *rates + 200; k++) {
		uint64_t tps = k < sizeof rates / sizeof *rates ? rates[k] : 1 + next() % 5000000000u;
		w.r.header.ticks_per_sec = tps;
		w.r.header.start_ticks = next() >> (next() % 64);
		walk_ns_prepare(&w);
		for (int i = 0; i < 20000; i++) {
			uint64_t d;
			switch (i % 4) {
			case 0: d = next() % 100000000000u; break;    /* typical: seconds */
			case 1: d = next() >> (next() % 64); break;    /* any size */
			case 2: d = (uint64_t)-(int64_t)(next() % 1000000); break; /* before the start */
			default: /* exact half ns: d * 1e9 / tps = n + 0.5 when d = (2n + 1) tps / 2e9 */
				d = tps % 2 == 0 && tps < (1ull << 40) ? (2 * (next() % 1000000) + 1) * (tps / 2) : next() % 1000;
				if (tps % 1000000000u == 0 && tps >= 2000000000u)
					d = (2 * (next() % 100000) + 1) * (tps / 2000000000u);
				break;
			}
			uint64_t t = w.r.header.start_ticks + d;
			int64_t a = walk_ns_slow(&w, t), b = walk_ns(&w, t);
			CHECKF(a == b, "tps %llu ticks %llu: slow %lld fast %lld", (unsigned long long)tps,
			       (unsigned long long)t, (long long)a, (long long)b);
			tried++;
			fast += w.ns_mul_tps != 0;
		}
	}
	CHECK(fast > tried / 4);
	return check_done("test_walk_ns");
}
