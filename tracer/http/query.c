/*
 * Strict parsers of hostile input (query.h). No strtod/strtol: they accept
 * leading spaces, signs, hex, hex floats, exponents, inf and nan, and round
 * 1e-300 to 0.
 */
#include "http/query.h"

#include <stddef.h>
#include <strings.h>

const char *cprof_parse_seconds(const char *s, double max, uint64_t *ns)
{
	if (!s || !*s)
		return "empty";
	size_t len = 0, digits = 0, dots = 0;
	double whole = 0, frac = 0, scale = 1;
	for (; s[len]; len++) {
		char c = s[len];
		if (len >= CPROF_QUERY_MAX_LEN)
			return "too long";
		if (c == '.') {
			if (dots++)
				return "not a number";
		} else if (c >= '0' && c <= '9') {
			digits++;
			if (dots) {
				scale /= 10;
				frac += (c - '0') * scale;
			} else {
				whole = whole * 10 + (c - '0');
			}
		} else {
			return "not a number";
		}
	}
	if (!digits)
		return "not a number";
	double v = whole + frac;
	if (v > max)
		return "over the limit";
	if (v < CPROF_SECONDS_MIN)
		return v == 0 ? "must be greater than 0" : "below the minimum of 0.001";
	*ns = (uint64_t)(v * 1e9 + 0.5);
	return NULL;
}

long cprof_parse_port(const char *s)
{
	long v = 0;
	size_t n = 0;
	if (!s)
		return -1;
	for (; s[n]; n++) {
		if (n >= 5 || s[n] < '0' || s[n] > '9')
			return -1;
		v = v * 10 + (s[n] - '0');
	}
	return n && v <= 65535 ? v : -1;
}

const char *cprof_bearer_token(const char *auth)
{
	if (!auth || strncasecmp(auth, "Bearer", 6) != 0 || auth[6] != ' ')
		return NULL;
	auth += 6;
	while (*auth == ' ')
		auth++;
	return auth;
}
