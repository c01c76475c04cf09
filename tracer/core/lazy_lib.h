/*
 * Libraries opened on first use (dlopen, RTLD_LOCAL: the program's copy when
 * it has one). The tracer calls libmicrohttpd, elfutils, zlib and libm only
 * in some processes (an endpoint, a symbolizing capture, a pprof response);
 * linking them made every process of a traced tree map and relocate them.
 * Each user defines hidden stand-ins for the calls it makes that forward to
 * CPROF_LAZY(lib, name, version). Internal.
 */
#ifndef CPROF_LAZY_LIB_H
#define CPROF_LAZY_LIB_H

#include "core/visibility.h"

struct cprof_lazy_lib {
	const char *soname;  /* "libz.so.1" */
	const char *without; /* what is lost when it is missing, for the one message */
	void *handle;        /* atomic: NULL until opened */
	int failed;          /* atomic: dlopen failed once (said once, not retried) */
};

/* The library's handle, opened on the first call; NULL when missing.
 * Thread-safe (benign races: every thread stores the same handle); never
 * from a signal handler. */
void *cprof_lazy_open(struct cprof_lazy_lib *lib) CPROF_INTERNAL;
/* name in lib at version (NULL: the default), else its default version
 * (another build of the library); NULL when missing. */
void *cprof_lazy_sym(struct cprof_lazy_lib *lib, const char *name, const char *version) CPROF_INTERNAL;

/* The real `name` (typed like it), resolved once; NULL when missing. */
#define CPROF_LAZY(lib, name, version)                                                      \
	__extension__({                                                                     \
		static __typeof__(&name) f_;                                                \
		__typeof__(&name) g_ = __atomic_load_n(&f_, __ATOMIC_ACQUIRE);             \
		if (!g_) {                                                                  \
			g_ = (__typeof__(&name))cprof_lazy_sym((lib), #name, (version));    \
			__atomic_store_n(&f_, g_, __ATOMIC_RELEASE);                        \
		}                                                                           \
		g_;                                                                         \
	})

#endif
