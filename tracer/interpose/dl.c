/*
 * dlclose: once a library's code is unmapped, another may be mapped at
 * the same addresses, and every cache keyed by PC (the CFI rules, the
 * whole-stack cache, libunwind's, the symbolizer's) would answer for the
 * old code: a frame skipped, a wrong name. A successful dlclose starts a
 * new code generation, which those caches check (stacks/cfi.h).
 */
#define _GNU_SOURCE
#include "interpose/interpose.h"
#include "stacks/cfi.h"

CPROF_API int dlclose(void *handle)
{
	int rc = REAL(dlclose)(handle);
	if (rc == 0)
		cprof_cfi_code_unmapped();
	return rc;
}
