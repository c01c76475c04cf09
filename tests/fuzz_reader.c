/*
 * A deterministic mutation fuzzer for the trace reader. Seeds: a real
 * capture (hello, written by the tracer) or a synthetic one. Each round
 * mutates a copy (bit flips, byte runs, chunk-length lies, splices of
 * another part of the file, insertions, truncation) and reads it to the end:
 * the reader must return a complete result or an error with an offset, and
 * never crash, hang or read out of bounds (this test runs under ASan/UBSan).
 *   fuzz_reader [TRACE] [ROUNDS] [SEED]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "slurp.h"
#include "trace_reader.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static size_t mutate(uint8_t *p, size_t len, size_t cap, const uint8_t *orig, size_t olen)
{
	int rounds = 1 + (int)(rnd() % 4);
	for (int k = 0; k < rounds && len; k++) {
		size_t at = rnd() % len;
		switch (rnd() % 7) {
		case 0: p[at] ^= (uint8_t)(1u << (rnd() % 8)); break;             /* bit flip */
		case 1: p[at] = (uint8_t)rnd(); break;                               /* byte */
		case 2: { size_t n = 1 + rnd() % 16; /* a run of 0x00/0xff/0x80 */
			uint8_t v = (uint8_t[]){0x00, 0xff, 0x80}[rnd() % 3];
			for (size_t i = 0; i < n && at + i < len; i++) p[at + i] = v;
			break; }
		case 3: { /* a lie in a 4-byte little-endian length */
			uint32_t v = (uint32_t)(rnd() % 5 == 0 ? rnd() : (rnd() % 70000));
			for (int i = 0; i < 4 && at + (size_t)i < len; i++) p[at + (size_t)i] = (uint8_t)(v >> (8 * i));
			break; }
		case 4: { size_t from = rnd() % olen, n = 1 + rnd() % 64; /* splice from elsewhere */
			for (size_t i = 0; i < n && at + i < len && from + i < olen; i++) p[at + i] = orig[from + i];
			break; }
		case 5: { size_t n = 1 + rnd() % 8; /* insert */
			if (len + n > cap) break;
			memmove(p + at + n, p + at, len - at);
			for (size_t i = 0; i < n; i++) p[at + i] = (uint8_t)rnd();
			len += n;
			break; }
		case 6: len = at; break; /* truncate */
		}
	}
	return len;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : NULL;
	long rounds = argc > 2 ? atol(argv[2]) : 20000;
	rng_state = argc > 3 ? strtoull(argv[3], NULL, 10) : 0x9e3779b97f4a7c15ull;
	size_t olen = 0;
	uint8_t *orig = path ? (uint8_t *)slurp(path, &olen) : NULL;
	if (!orig) {
		fprintf(stderr, "fuzz_reader: need a seed trace file\n");
		return 2;
	}
	size_t cap = olen + 1024;
	uint8_t *buf = malloc(cap);
	long complete = 0, errors = 0, events = 0;
	for (long r = 0; r < rounds; r++) {
		memcpy(buf, orig, olen);
		size_t len = mutate(buf, olen, cap, orig, olen);
		struct trace_mem_source m = {buf, len, 0};
		struct trace_reader rd;
		struct trace_event ev;
		int rc = trace_reader_open(&rd, trace_source_mem, &m);
		long n = 0;
		if (rc == 0)
			while ((rc = trace_reader_next(&rd, &ev)) == 1) {
				/* every yielded event is well formed */
				if (!cprof_event_info(ev.kind) || ev.nbytes > CPROF_EVENT_MAX_BYTES)
					check_failed++, fprintf(stderr, "round %ld: bad event kind %u\n", r, ev.kind);
				n++;
			}
		if (rc == -1 && (!rd.error[0] || strncmp(rd.error, "offset ", 7) != 0))
			check_failed++, fprintf(stderr, "round %ld: error without an offset: %s\n", r, rd.error);
		complete += rc == 0;
		errors += rc == -1;
		events += n;
		trace_reader_close(&rd);
	}
	CHECK(complete + errors == rounds);
	CHECK(errors > rounds / 10); /* the mutations do bite */
	printf("fuzz_reader: %ld rounds on %zu bytes: %ld complete, %ld errors, %ld events read\n", rounds, olen,
	       complete, errors, events);
	free(buf);
	free(orig);
	return check_done("fuzz_reader");
}
