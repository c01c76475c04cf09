/*
 * The real functions behind the wrappers: one pointer per entry of
 * calls.h, resolved with dlsym(RTLD_NEXT) (dlvsym for versioned entries).
 * RTLD_NEXT also keeps a sanitizer runtime in the chain: it loads first,
 * its interceptor calls us, we call the next (libc).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interpose/interpose.h"

#define CPROF_X_REAL_DEF(ret, name, params, version) ret(*cprof_real_##name) params;
CPROF_INTERPOSED(CPROF_X_REAL_DEF)
#undef CPROF_X_REAL_DEF

static const struct call {
	const char *name;
	const char *version; /* NULL: the default version */
	void **slot;         /* &cprof_real_NAME */
} calls[] = {
#define CPROF_X_ENTRY(ret, name, params, version) {#name, version, (void **)&cprof_real_##name},
	CPROF_INTERPOSED(CPROF_X_ENTRY)
#undef CPROF_X_ENTRY
};

static void *resolve(const struct call *c)
{
	void *p = c->version ? dlvsym(RTLD_NEXT, c->name, c->version) : NULL;
	if (!p)
		p = dlsym(RTLD_NEXT, c->name);
	if (!p) {
		/* Nothing to fall back on: say which, and fail loudly. */
		static const char msg[] = "cprof-trace: cannot resolve an interposed function: ";
		if (write(2, msg, sizeof msg - 1) < 0 || write(2, c->name, strlen(c->name)) < 0 ||
		    write(2, "\n", 1) < 0) {
		}
		abort();
	}
	__atomic_store_n(c->slot, p, __ATOMIC_RELAXED);
	return p;
}

void cprof_interpose_resolve_all(void)
{
	for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
		if (!__atomic_load_n(calls[i].slot, __ATOMIC_RELAXED))
			resolve(&calls[i]);
}

void *cprof_interpose_resolve_lazy(const char *name)
{
	for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
		if (!strcmp(calls[i].name, name))
			return resolve(&calls[i]);
	abort(); /* REAL() only names table entries: unreachable */
}
