/* The event table, expanded from CPROF_EVENTS (see trace_events.h). */
#include "trace_events.h"

const struct cprof_event_info cprof_event_table[CPROF_EV_COUNT] = {
#define CPROF_X_INFO(e, nm, val, h32, na, by, argn)                            \
	[val] = {.name = nm, .argnames = argn, .head32 = h32, .nargs = na, .bytes = by},
	CPROF_EVENTS(CPROF_X_INFO)
#undef CPROF_X_INFO
};
