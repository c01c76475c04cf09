/*
 * zlib, loaded on first use. The tracer compresses only the endpoint's
 * pprof responses (format/pprof_enc.c: gzip), which most traced processes
 * never serve; linking zlib outright made every process of a traced tree
 * map and relocate it. These hidden definitions of the three zlib calls
 * pprof_enc.c makes forward to the real library, opened with dlopen the
 * first time one is called (the same copy when the program links zlib
 * itself), like mhd_lazy.c does for libmicrohttpd. The viewer links zlib
 * as usual.
 *
 * Thread-safe: every thread resolves the same pointers (benign races on
 * pointer-sized atomic stores). A missing library makes deflateInit2_
 * fail (Z_VERSION_ERROR): the response is an error, nothing else.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <zlib.h>

static void *lib(void)
{
	static void *h;
	static int failed;
	void *p = __atomic_load_n(&h, __ATOMIC_ACQUIRE);
	if (!p && !__atomic_load_n(&failed, __ATOMIC_RELAXED)) {
		p = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
		if (!p) {
			fprintf(stderr, "cprof-trace: cannot load zlib (no gzip responses): %s\n", dlerror());
			__atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
		}
		__atomic_store_n(&h, p, __ATOMIC_RELEASE);
	}
	return p;
}

/* The real `name`, or NULL when the library is missing. */
#define REAL_Z(name)                                                                  \
	__extension__({                                                               \
		static __typeof__(&name) f_;                                          \
		__typeof__(&name) g_ = __atomic_load_n(&f_, __ATOMIC_ACQUIRE);       \
		if (!g_ && lib()) {                                                   \
			g_ = (__typeof__(&name))dlsym(lib(), #name);                  \
			__atomic_store_n(&f_, g_, __ATOMIC_RELEASE);                  \
		}                                                                     \
		g_;                                                                   \
	})

int deflateInit2_(z_streamp strm, int level, int method, int window_bits, int mem_level, int strategy,
		  const char *version, int stream_size)
{
	__typeof__(&deflateInit2_) f = REAL_Z(deflateInit2_);
	return f ? f(strm, level, method, window_bits, mem_level, strategy, version, stream_size) : Z_VERSION_ERROR;
}

int deflate(z_streamp strm, int flush)
{
	__typeof__(&deflate) f = REAL_Z(deflate);
	return f ? f(strm, flush) : Z_STREAM_ERROR;
}

int deflateEnd(z_streamp strm)
{
	__typeof__(&deflateEnd) f = REAL_Z(deflateEnd);
	return f ? f(strm) : Z_STREAM_ERROR;
}
