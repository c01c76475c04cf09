/* Libraries opened on first use: see lazy_lib.h. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>

#include "core/lazy_lib.h"

void *cprof_lazy_open(struct cprof_lazy_lib *lib)
{
	void *h = __atomic_load_n(&lib->handle, __ATOMIC_ACQUIRE);
	if (!h && !__atomic_load_n(&lib->failed, __ATOMIC_RELAXED)) {
		h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			fprintf(stderr, "cprof-trace: cannot load %s (%s): %s\n", lib->soname, lib->without, dlerror());
			__atomic_store_n(&lib->failed, 1, __ATOMIC_RELAXED);
		}
		__atomic_store_n(&lib->handle, h, __ATOMIC_RELEASE);
	}
	return h;
}

void *cprof_lazy_sym(struct cprof_lazy_lib *lib, const char *name, const char *version)
{
	void *h = cprof_lazy_open(lib);
	if (!h)
		return NULL;
	void *f = version ? dlvsym(h, name, version) : NULL;
	return f ? f : dlsym(h, name);
}
