/*
 * libFuzzer target over the endpoint's parsers of hostile input
 * (tracer/http/query.c): durations, ports and the Authorization header.
 * Besides crashes it checks their contracts: an accepted duration is
 * decimal digits with at most one '.', within [CPROF_SECONDS_MIN, max] and
 * never 0 ns; an accepted port is 1-5 digits <= 65535; a Bearer token is a
 * suffix of the header after "bearer" (any case) and spaces.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[256];
	if (size >= sizeof s)
		size = sizeof s - 1;
	memcpy(s, data, size);
	s[size] = 0;

	uint64_t ns = 0;
	if (!cprof_parse_seconds(s, 86400, &ns)) {
		size_t len = strlen(s), dots = 0;
		for (size_t i = 0; i < len; i++) {
			if (s[i] == '.')
				dots++;
			else if (s[i] < '0' || s[i] > '9')
				abort();
		}
		if (dots > 1 || ns < 1000000 || ns > 86400ull * 1000000000ull || len > CPROF_QUERY_MAX_LEN)
			abort();
	}
	long port = cprof_parse_port(s);
	if (port >= 0) {
		size_t len = strlen(s);
		if (port > 65535 || len == 0 || len > 5 || strspn(s, "0123456789") != len || atol(s) != port)
			abort();
	}
	const char *tok = cprof_bearer_token(s);
	if (tok) {
		if (strncasecmp(s, "bearer ", 7) != 0 || tok < s + 7 || tok > s + strlen(s))
			abort();
		for (const char *p = s + 6; p < tok; p++)
			if (*p != ' ')
				abort();
	}
	return 0;
}
