/* The event and block-category tables, expanded from CPROF_EVENTS and
 * CPROF_BLOCK_CATEGORIES (see trace_events.h). */
#include "trace_events.h"

const struct cprof_event_info cprof_event_table[CPROF_EV_COUNT] = {
#define CPROF_X_INFO(e, nm, val, h32, na, by, strs, stacks, argn)                                  \
	[val] = {.name = nm, .argnames = argn, .head32 = h32, .nargs = na, .bytes = by,            \
		 .string_args = strs, .stack_args = stacks},
	CPROF_EVENTS(CPROF_X_INFO)
#undef CPROF_X_INFO
};

const struct cprof_block_info cprof_block_table[CPROF_BLOCK_COUNT] = {
#define CPROF_X_CAT(e, val, nm, col, ttl) [val - 1] = {.name = nm, .colour = col, .title = ttl},
	CPROF_BLOCK_CATEGORIES(CPROF_X_CAT)
#undef CPROF_X_CAT
};
