/*
 * libmicrohttpd, loaded on first use. The endpoint is off unless
 * CPROF_TRACE_ADDR is set or the program calls cprof_http_start() or
 * cprof_http_dispatch(); linking libmicrohttpd outright would make every
 * traced process load it and GnuTLS behind it (eleven libraries, whose
 * constructors cost a short-lived process ~5 ms: a tree of them pays that
 * per process). These hidden definitions of the libmicrohttpd calls the
 * tracer makes (http.c, stream.c, unchanged) forward to the real library,
 * opened on first use (core/lazy_lib.h).
 *
 * A missing library makes
 * starting the server fail (NULL daemon), nothing else.
 */
#define _GNU_SOURCE
#include <microhttpd.h>
#include <stdarg.h>

#include "core/lazy_lib.h"

static struct cprof_lazy_lib libmhd = {.soname = "libmicrohttpd.so.12", .without = "no endpoint"};
#define REAL_MHD(name) CPROF_LAZY(&libmhd, name, NULL)

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc, void *apc_cls,
				    MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
	__typeof__(&MHD_start_daemon_va) f = REAL_MHD(MHD_start_daemon_va);
	if (!f)
		return NULL;
	va_list ap;
	va_start(ap, dh_cls);
	struct MHD_Daemon *d = f(flags, port, apc, apc_cls, dh, dh_cls, ap);
	va_end(ap);
	return d;
}

void MHD_stop_daemon(struct MHD_Daemon *daemon)
{
	__typeof__(&MHD_stop_daemon) f = REAL_MHD(MHD_stop_daemon);
	if (f)
		f(daemon);
}

/* Both info calls are variadic; the tracer passes no extra argument. */
const union MHD_DaemonInfo *MHD_get_daemon_info(struct MHD_Daemon *daemon, enum MHD_DaemonInfoType info_type, ...)
{
	__typeof__(&MHD_get_daemon_info) f = REAL_MHD(MHD_get_daemon_info);
	return f ? f(daemon, info_type) : NULL;
}

const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *connection,
							 enum MHD_ConnectionInfoType info_type, ...)
{
	__typeof__(&MHD_get_connection_info) f = REAL_MHD(MHD_get_connection_info);
	return f ? f(connection, info_type) : NULL;
}

const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind, const char *key)
{
	__typeof__(&MHD_lookup_connection_value) f = REAL_MHD(MHD_lookup_connection_value);
	return f ? f(connection, kind, key) : NULL;
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer, enum MHD_ResponseMemoryMode mode)
{
	__typeof__(&MHD_create_response_from_buffer) f = REAL_MHD(MHD_create_response_from_buffer);
	return f ? f(size, buffer, mode) : NULL;
}

struct MHD_Response *MHD_create_response_from_callback(uint64_t size, size_t block_size, MHD_ContentReaderCallback crc,
						       void *crc_cls, MHD_ContentReaderFreeCallback crfc)
{
	__typeof__(&MHD_create_response_from_callback) f = REAL_MHD(MHD_create_response_from_callback);
	return f ? f(size, block_size, crc, crc_cls, crfc) : NULL;
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *response, const char *header, const char *content)
{
	__typeof__(&MHD_add_response_header) f = REAL_MHD(MHD_add_response_header);
	return f ? f(response, header, content) : MHD_NO;
}

void MHD_destroy_response(struct MHD_Response *response)
{
	__typeof__(&MHD_destroy_response) f = REAL_MHD(MHD_destroy_response);
	if (f)
		f(response);
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *connection, unsigned int status_code,
				   struct MHD_Response *response)
{
	__typeof__(&MHD_queue_response) f = REAL_MHD(MHD_queue_response);
	return f ? f(connection, status_code, response) : MHD_NO;
}

struct MHD_Response *MHD_create_response_from_fd(size_t size, int fd)
{
	__typeof__(&MHD_create_response_from_fd) f = REAL_MHD(MHD_create_response_from_fd);
	return f ? f(size, fd) : NULL;
}
