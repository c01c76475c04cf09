/*
 * cprof_trace_version(): the release this library was built as, so that a
 * program can compare it with the header it was compiled against.
 */
#include "cprof/trace.h"

CPROF_API const char *cprof_trace_version(void)
{
	return CPROF_TRACE_VERSION_STRING;
}
