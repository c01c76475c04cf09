/*
 * The CPU profile as pprof (profile.proto), like Go's
 * /debug/pprof/profile: sample types (samples, count) and (cpu,
 * nanoseconds), period type (cpu, nanoseconds); one sample per stack with
 * samples in the window; one location per (pc, leaf) with its mapping,
 * function, file and line, and the process's mappings with build ids:
 * built by the same code as the other stack profiles (stackprof.c).
 *
 * Runs on an HTTP thread after the profile's window, once per request.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/internal.h"
#include "profiles/profile.h"
#include "profiles/stackprof.h"
#include "stacks/stack.h"

int cprof_cpu_profile_build(const uint64_t *before, const uint64_t *after, uint32_t hz, uint64_t start_realtime_ns,
			    uint64_t duration_ns, struct trace_buf *out)
{
	static const struct cprof_value_type types[2] = {{"samples", "count"}, {"cpu", "nanoseconds"}};
	int64_t period = 1000000000 / (int64_t)(hz ? hz : 100);
	uint32_t *ids = malloc((CPROF_STACK_IDS + 1) * sizeof *ids);
	int64_t *vals = malloc((CPROF_STACK_IDS + 1) * 2 * sizeof *vals);
	uint32_t n = 0;
	for (uint32_t id = 0; ids && vals && id <= CPROF_STACK_IDS; id++) {
		uint64_t c = after[id] - before[id];
		if (!c)
			continue;
		ids[n] = id;
		vals[2 * n] = (int64_t)c;
		vals[2 * n + 1] = (int64_t)c * period;
		n++;
	}
	int rc = ids && vals ? cprof_stackprof_build_window(types, 2, NULL, &types[1], period, ids, vals, n,
							    (int64_t)start_realtime_ns, (int64_t)duration_ns, out)
			     : -ENOMEM;
	free(ids);
	free(vals);
	return rc;
}
