/*
 * zlib, loaded on first use. The tracer compresses only the endpoint's
 * pprof responses (format/pprof_enc.c: gzip), which most traced processes
 * never serve; linking zlib outright made every process of a traced tree
 * map and relocate it. These hidden definitions of the three zlib calls
 * pprof_enc.c makes forward to the real library, opened on first use
 * (core/lazy_lib.h). The viewer links zlib
 * as usual.
 *
 * A missing library makes deflateInit2_
 * fail (Z_VERSION_ERROR): the response is an error, nothing else.
 */
#define _GNU_SOURCE
#include <zlib.h>

#include "core/lazy_lib.h"

static struct cprof_lazy_lib libz = {.soname = "libz.so.1", .without = "no gzip responses"};
#define REAL_Z(name) CPROF_LAZY(&libz, name, NULL)

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
