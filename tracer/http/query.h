/*
 * Strict parsers for what the /debug/pprof endpoints read from hostile
 * clients and the environment: durations, ports, the Authorization header.
 * Pure functions (no allocation, no globals), so tests/fuzz_query.c runs
 * them under libFuzzer without the HTTP server. Internal.
 */
#ifndef CPROF_HTTP_QUERY_H
#define CPROF_HTTP_QUERY_H

#include <stdint.h>

#include "core/visibility.h"

/* The shortest duration a trace may ask for: 1 ms. Anything shorter is
 * refused rather than rounded (1e-300 once rounded to 0 ns, "no deadline"). */
#define CPROF_SECONDS_MIN 0.001
#define CPROF_QUERY_MAX_LEN 32 /* bytes of a number */

/* Parses a duration in decimal seconds: digits, optionally one '.' and
 * more digits ("2", "0.5", ".25", "3."), nothing else: no sign, space,
 * exponent, hex, inf or nan. Accepts [CPROF_SECONDS_MIN, max]; stores ns
 * in *ns. Returns NULL, or the reason it refused s. */
const char *cprof_parse_seconds(const char *s, double max, uint64_t *ns) CPROF_INTERNAL;

/* Parses a TCP port: 1 to 5 decimal digits, 0..65535, nothing else.
 * Returns the port or -1. */
long cprof_parse_port(const char *s) CPROF_INTERNAL;

/* The credentials of an "Authorization: Bearer <token>" value, or NULL:
 * the scheme is case-insensitive (RFC 7235), followed by one or more
 * spaces. */
const char *cprof_bearer_token(const char *auth) CPROF_INTERNAL;

#endif
