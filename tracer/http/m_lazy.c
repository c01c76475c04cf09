/*
 * libm's exp, loaded on first use: the tracer's only libm call is the heap
 * profiles' unsampling scale (pprof_family.c), which most traced processes
 * never serve; linking libm outright made every process of a traced tree
 * that does not link it itself (make, cc, as) map and relocate it (~0.1 ms
 * of CPU each). dlopen gives the program's copy when it has one.
 * Never called from a signal handler.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stddef.h>

#include "core/lazy_lib.h"
#include "http/m_lazy.h"

static struct cprof_lazy_lib libm = {.soname = "libm.so.6", .without = "heap profiles unscaled"};

double cprof_exp(double x)
{
	__typeof__(&exp) f = CPROF_LAZY(&libm, exp, NULL);
	return f ? f(x) : 0; /* 0: a scale of 1, the sampled values as they are */
}
