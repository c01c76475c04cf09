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
		/* string and stack arguments exist, differ, and are at most one each */
		CHECKF((e->string_args >> e->nargs) == 0, "%s: string flag past its arguments", e->name);
		CHECKF((e->stack_args >> e->nargs) == 0, "%s: stack flag past its arguments", e->name);
		CHECKF((e->string_args & e->stack_args) == 0, "%s: an argument both string and stack", e->name);
		CHECKF(__builtin_popcount(e->string_args) <= 1, "%s: more than one string argument", e->name);
		CHECKF(__builtin_popcount(e->stack_args) <= 1, "%s: more than one stack argument", e->name);
		for (unsigned i = 0; i < e->nargs; i++) {
			CHECK(cprof_event_arg_is_string(k, i) == (cprof_event_string_arg(k) == (int)i));
			CHECK(cprof_event_arg_is_stack(k, i) == (cprof_event_stack_arg(k) == (int)i));
		}
		/* a ring record of this kind fits the header's 8-bit word count */
		CHECK(2u + e->nargs + (e->bytes ? CPROF_EVENT_MAX_BYTES / 8 : 0) < 256);
	}
	CHECK(cprof_event_info(CPROF_EV_COUNT) == NULL);
	CHECK(cprof_event_string_arg(CPROF_EV_COUNT) == -1 && cprof_event_stack_arg(255) == -1);
	/* positions the tracer's writers and the spec fix */
	CHECK(cprof_event_string_arg(CPROF_EV_BLOCK_BEGIN) == 2 && cprof_event_stack_arg(CPROF_EV_BLOCK_BEGIN) == 3);
	CHECK(cprof_event_string_arg(CPROF_EV_THREAD_START) == 1 && cprof_event_stack_arg(CPROF_EV_THREAD_START) == 2);
	CHECK(cprof_event_stack_arg(CPROF_EV_WAKEUP) == 2 && cprof_event_string_arg(CPROF_EV_WAKEUP) == -1);
	/* block categories: dense from 1, named, coloured, distinct */
	for (unsigned c = 1; c <= CPROF_BLOCK_COUNT; c++) {
		const struct cprof_block_info *b = cprof_block_info(c);
		CHECKF(b && b->name && *b->name && b->colour && b->colour[0] == '#' && b->title, "category %u", c);
		for (unsigned d = 1; b && d < c; d++)
			CHECKF(strcmp(cprof_block_info(d)->name, b->name) != 0, "duplicate category %s", b->name);
	}
	CHECK(cprof_block_info(0) == NULL && cprof_block_info(CPROF_BLOCK_COUNT + 1) == NULL);
	CHECK(CPROF_BLOCK_SYNC == 1 && CPROF_BLOCK_NET == 2 && CPROF_BLOCK_SYSCALL == 3);
	CHECK(cprof_event_info(255) == NULL);
	/* wire values the spec (format/FORMAT.md) fixes */
	CHECK(CPROF_EV_REGION_BEGIN == 2 && CPROF_EV_REGION_END == 3 && CPROF_EV_LOST == 16);
	return check_done("test_events");
}
