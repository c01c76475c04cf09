/* The event table against its own rules (format/trace_events.h). */
#include <string.h>

#include "check.h"
#include "trace_events.h"

int main(void)
{
	for (unsigned k = 0; k < CPROF_EV_COUNT; k++) {
		const struct cprof_event_info *e = cprof_event_info(k);
		CHECKF(e && e->name && *e->name, "kind %u has no entry (values must be dense)", k);
		if (!e || !e->name)
			continue;
		CHECKF(e->nargs <= CPROF_EVENT_MAX_ARGS, "%s", e->name);
		CHECKF(!e->head32 || e->nargs >= 1, "%s: head32 without an argument", e->name);
		/* argnames lists exactly nargs names */
		unsigned words = 0;
		for (const char *p = e->argnames; *p;) {
			while (*p == ' ')
				p++;
			if (!*p)
				break;
			words++;
			p += strcspn(p, " ");
		}
		CHECKF(words == e->nargs, "%s: %u arg names for %u args", e->name, words, e->nargs);
		for (unsigned j = 0; j < k; j++)
			CHECKF(strcmp(cprof_event_info(j)->name, e->name) != 0, "duplicate name %s", e->name);
		/* a ring record of this kind fits the header's 8-bit word count */
		CHECK(2u + e->nargs + (e->bytes ? CPROF_EVENT_MAX_BYTES / 8 : 0) < 256);
	}
	CHECK(cprof_event_info(CPROF_EV_COUNT) == NULL);
	CHECK(cprof_event_info(255) == NULL);
	/* wire values the spec (format/FORMAT.md) fixes */
	CHECK(CPROF_EV_REGION_BEGIN == 2 && CPROF_EV_REGION_END == 3 && CPROF_EV_LOST == 16);
	CHECK(CPROF_EV_SCHED_SWITCH_OUT == 17 && CPROF_EV_SCHED_SWITCH_IN == 18 && CPROF_EV_SCHED_STAT == 19);
	return check_done("test_events");
}
