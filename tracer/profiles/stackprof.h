/* Profiles by stack id in pprof form: block, mutex, goroutine,
 * threadcreate, heap and allocs (stackprof.c). Internal. */
#ifndef CPROF_STACKPROF_H
#define CPROF_STACKPROF_H

#include <stdint.h>
#include "core/visibility.h"

#include "trace_writer.h"

struct cprof_value_type {
	const char *type, *unit; /* e.g. "delay", "nanoseconds" */
};

/* Builds a gzip pprof profile of n samples: sample i has stack ids[i]
 * (0: unknown) and the ntypes values vals[i * ntypes ...]. Mappings come
 * from /proc/self/maps with their build ids (the program's first, so
 * `go tool pprof` names it), locations are symbolized (one per pc and
 * leafness). default_type and period_type may be NULL. Appends to out;
 * returns 0 or -ENOMEM. Tracer threads only (symbolizes). */
int cprof_stackprof_build(const struct cprof_value_type *types, uint32_t ntypes, const char *default_type,
			  const struct cprof_value_type *period_type, int64_t period, const uint32_t *ids,
			  const int64_t *vals, uint32_t n, struct trace_buf *out) CPROF_INTERNAL;

/* The same for a profile of a window: its wall-clock start and length
 * (ns) instead of "now, 0". */
int cprof_stackprof_build_window(const struct cprof_value_type *types, uint32_t ntypes, const char *default_type,
				 const struct cprof_value_type *period_type, int64_t period, const uint32_t *ids,
				 const int64_t *vals, uint32_t n, int64_t start_realtime_ns, int64_t duration_ns,
				 struct trace_buf *out) CPROF_INTERNAL;

#endif
