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

/* The tables' rules at compile time (tests/test_events.c checks them again,
 * and those that need the expanded table): a kind byte, at most
 * CPROF_EVENT_MAX_ARGS arguments, string and stack flags only on existing
 * arguments and never on the same one; categories dense from 1. */
#define CPROF_X_CHECK(e, nm, val, h32, na, by, strs, stacks, argn)                                 \
	_Static_assert((val) < 256 && (na) <= CPROF_EVENT_MAX_ARGS && ((strs) >> (na)) == 0 &&       \
			       ((stacks) >> (na)) == 0 && ((strs) & (stacks)) == 0 && (h32) <= (na),   \
		       "event " nm ": table rule broken");
CPROF_EVENTS(CPROF_X_CHECK)
#undef CPROF_X_CHECK
#define CPROF_X_CAT_CHECK(e, val, nm, col, ttl)                                                    \
	_Static_assert((val) >= 1 && (val) <= CPROF_BLOCK_COUNT, "category " nm ": values dense from 1");
CPROF_BLOCK_CATEGORIES(CPROF_X_CAT_CHECK)
#undef CPROF_X_CAT_CHECK
