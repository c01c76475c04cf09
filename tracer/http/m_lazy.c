/*
 * libm's exp, loaded on first use: the tracer's only libm call is the heap
 * profiles' unsampling scale (pprof_family.c), which most traced processes
 * never serve; linking libm outright made every process of a traced tree
 * that does not link it itself (make, cc, as) map and relocate it (~0.1 ms
 * of CPU each). dlopen gives the program's copy when it has one.
 *
 * Thread-safe: every thread resolves the same pointer (a benign race on a
 * pointer-sized atomic store). Never called from a signal handler.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>

#include "http/m_lazy.h"

double cprof_exp(double x)
{
	static double (*f)(double);
	static int failed;
	double (*g)(double) = __atomic_load_n(&f, __ATOMIC_ACQUIRE);
	if (!g && !__atomic_load_n(&failed, __ATOMIC_RELAXED)) {
		void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
		g = h ? (double (*)(double))dlsym(h, "exp") : NULL;
		if (!g) {
			fprintf(stderr, "cprof-trace: cannot load libm (heap profiles unscaled): %s\n", dlerror());
			__atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
		}
		__atomic_store_n(&f, g, __ATOMIC_RELEASE);
	}
	return g ? g(x) : 0; /* 0: a scale of 1, the sampled values as they are */
}
