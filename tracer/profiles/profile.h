/* CPU profiles in pprof form (profile.c). Internal. */
#ifndef CPROF_PROFILE_H
#define CPROF_PROFILE_H

#include <stdint.h>
#include "core/visibility.h"

#include "trace_writer.h"

/* Builds the gzip pprof CPU profile of the samples counted between two
 * cprof_cpu_counts() snapshots (CPROF_STACK_IDS + 1 entries each): sample
 * types (samples, count) and (cpu, nanoseconds), period 1e9/hz ns, with
 * mappings (/proc/self/maps, build ids) and symbolized locations. Appends
 * to out; returns 0 or -ENOMEM. Tracer threads only (symbolizes). */
int cprof_cpu_profile_build(const uint64_t *before, const uint64_t *after, uint32_t hz, uint64_t start_realtime_ns,
			    uint64_t duration_ns, struct trace_buf *out) CPROF_INTERNAL;

#endif
