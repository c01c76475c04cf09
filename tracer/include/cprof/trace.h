/*
 * cprof-trace: Go's execution tracer for C programs on Linux.
 *
 * Instrument with the TRACE_* macros below; capture with CPROF_TRACE_FILE=path
 * (the whole run of the process and every process it starts, one file) or
 * cprof_trace_start_file()/cprof_trace_stop() (this process only).
 * Read the file with `cprof-trace FILE` (format: format/FORMAT.md).
 *
 * Cost: a region begin+end pair is two timestamp reads and a few stores into
 * a thread-local ring (bench/bench_record prints the figure); nothing locks,
 * allocates or enters the kernel on that path except a thread's first event
 * and a name's first use.
 *
 * Names given to the macros must be string literals: a call site registers
 * its name once and then records a 32-bit id.
 *
 * Safety: TRACE_REGION*, TRACE_TASK_* are async-signal-safe (an event
 * recorded by a signal handler that interrupted another event on the same
 * thread is dropped and counted). TRACE_LOG formats with vsnprintf and is
 * async-signal-safe only for integer and string conversions.
 *
 * Compile with -DCPROF_TRACE_DISABLE to turn every macro into nothing.
 * This header needs only <stdint.h>.
 */
#ifndef CPROF_TRACE_H
#define CPROF_TRACE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CPROF_API __attribute__((visibility("default")))

/*
 * Versions. The release is MAJOR.MINOR.PATCH (CMake and the Debian package
 * read it from these lines). CPROF_TRACE_ABI is the number in the library's
 * soname, libcproftrace.so.ABI: it changes when a function or struct of this
 * header is removed or changes meaning or layout, never for additions, so a
 * program built against this header runs with any later library of the same
 * ABI. The trace file format has its own version (cprof-trace -version).
 */
#define CPROF_TRACE_VERSION_MAJOR 0
#define CPROF_TRACE_VERSION_MINOR 1
#define CPROF_TRACE_VERSION_PATCH 0
#define CPROF_TRACE_ABI 0
/* One comparable number: MAJOR * 10000 + MINOR * 100 + PATCH. */
#define CPROF_TRACE_VERSION \
	(CPROF_TRACE_VERSION_MAJOR * 10000 + CPROF_TRACE_VERSION_MINOR * 100 + CPROF_TRACE_VERSION_PATCH)
#define CPROF_STR_(x) #x
#define CPROF_STR(x) CPROF_STR_(x)
/* "0.1.0" */
#define CPROF_TRACE_VERSION_STRING \
	CPROF_STR(CPROF_TRACE_VERSION_MAJOR) "." CPROF_STR(CPROF_TRACE_VERSION_MINOR) "." CPROF_STR(CPROF_TRACE_VERSION_PATCH)

/* The version of the library loaded at run time ("0.1.0"), which may be
 * later than the header's CPROF_TRACE_VERSION_STRING the program was built
 * with. Static storage; never NULL. Async-signal-safe. */
CPROF_API const char *cprof_trace_version(void);

/* One per call site, static storage. `id` is 0 until the library interns
 * `name` on first use; the library writes it, callers never do. */
struct cprof_site {
	const char *name;
	uint32_t id;
};

/* Longest TRACE_LOG message, in bytes; longer messages are cut. */
#define CPROF_LOG_MAX 512

CPROF_API void cprof_region_begin(struct cprof_site *site);
/* site NULL: ends the innermost open region of this thread. */
CPROF_API void cprof_region_end(struct cprof_site *site);
/* Returns the new task's id (never 0) and makes it this thread's current
 * task; its parent is the task current before. */
CPROF_API uint64_t cprof_task_begin(struct cprof_site *site);
/* Ends task (possibly on another thread than it began on); a thread whose
 * current task it was works for no task afterwards. */
CPROF_API void cprof_task_end(uint64_t task);
/* This thread now works for task (0: none): regions recorded from now on
 * belong to it. Use it when a request is handed to a worker thread. */
CPROF_API void cprof_task_set(uint64_t task);
CPROF_API uint64_t cprof_task_current(void);
CPROF_API void cprof_log(struct cprof_site *category, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Whole-run capture without a server. Starts draining every thread's ring
 * into `path` ("%p" in it is replaced by the pid) until cprof_trace_stop().
 * The file is always new: created mode 0600 beside `path` and renamed onto
 * it (a symlink at `path` is replaced, not followed); a FIFO or character
 * device at `path` (a pipe to a reader, /dev/null) is written in place,
 * never replaced. Returns 0, -EBUSY when a capture is already running (a
 * file capture, or an HTTP one; nothing is created or truncated then),
 * -EPERM when `path` belongs to another user, -EISDIR, -ENOTSUP for another
 * kind of special file (a socket, a block device), or a negative errno from
 * creating the file. Not async-signal-safe.
 */
CPROF_API int cprof_trace_start_file(const char *path);
/* Ends the capture cprof_trace_start_file() started (or this process's part
 * of a CPROF_TRACE_FILE tree), writing the end marker. Returns 0, -ENOENT when no file capture runs (a capture started
 * by the HTTP endpoint is never ended here), or the first write error
 * (negative errno). */
CPROF_API int cprof_trace_stop(void);

/*
 * The /debug/pprof endpoints (Go's net/http/pprof names): index, trace
 * (?seconds=N streams a capture; ?last=N returns the flight recorder's last
 * N seconds), cmdline, threadcreate, goroutine (?debug=1|2).
 *
 * cprof_http_start("127.0.0.1:6060") serves them on a daemon of their own
 * ("host:port", "[::1]:port", port 0 for a free one, or "unix:/path",
 * created mode 0600); so does CPROF_TRACE_ADDR=ADDR at load. The chosen
 * address is printed once to stderr and returned by cprof_http_address().
 * A non-loopback address is refused (-EPERM, with a message) unless
 * CPROF_TRACE_ALLOW_REMOTE=1 and CPROF_TRACE_TOKEN=<secret> are set; then
 * every request needs "Authorization: Bearer <secret>" (else 401). Without
 * a token, only loopback and unix-socket clients are answered (else 403).
 * One trace at a time (409 for a second). CPROF_TRACE_MAX_SECONDS bounds
 * seconds and last (default 60; decimal seconds, at least 0.001). A
 * CPROF_TRACE_TOKEN longer than 255 bytes is refused (nothing is served);
 * the token is removed from the environment when read, at load.
 *
 * Returns 0, -EALREADY (already serving), -EPERM (refused address),
 * -EINVAL (bad address or token), or a negative errno from binding. cprof_http_stop() returns 0 or -ENOENT.
 */
CPROF_API int cprof_http_start(const char *addr);
CPROF_API int cprof_http_stop(void);
/* "127.0.0.1:6060", "[::1]:6060" or "unix:/path" while serving, else NULL.
 * The string stays valid for the life of the process (a later stop or start
 * does not rewrite it). */
CPROF_API const char *cprof_http_address(void);

/*
 * Mounting the endpoints on the program's own libmicrohttpd daemon, the way
 * a Go program gets them on DefaultServeMux by importing net/http/pprof:
 * call this first in the access handler. It returns 1 when the URL is under
 * /debug/pprof (then return *result), 0 when it is the program's.
 *
 *     static enum MHD_Result
 *     on_request(void *cls, struct MHD_Connection *conn, const char *url,
 *                const char *method, const char *version, const char *body,
 *                size_t *body_size, void **state)
 *     {
 *         int result;
 *         if (cprof_http_dispatch(conn, url, method, &result))
 *             return (enum MHD_Result)result;
 *         ... the program's own routes ...
 *     }
 *
 *     MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
 *                      6060, NULL, NULL, on_request, NULL, MHD_OPTION_END);
 *
 * A trace response streams for its whole duration from the connection's
 * thread: use a thread-per-connection daemon (as above), or a thread pool
 * large enough that one busy thread does not matter.
 */
struct MHD_Connection;
CPROF_API int cprof_http_dispatch(struct MHD_Connection *conn, const char *url, const char *method, int *result);

/* Events this process has dropped because a ring was full, all threads. */
CPROF_API uint64_t cprof_trace_dropped(void);

/* Internal helpers of the macros; not API. */
#define CPROF_CAT_(a, b) a##b
#define CPROF_CAT(a, b) CPROF_CAT_(a, b)
static inline void cprof_region_cleanup_(struct cprof_site **site) { cprof_region_end(*site); }

#ifndef CPROF_TRACE_DISABLE

#define CPROF_SITE_(n, nm) static struct cprof_site CPROF_CAT(cprof_site_, n) = {nm, 0}

/* A region from this statement to the end of the enclosing block. It is a
 * declaration: put it inside braces, e.g. `for (...) { TRACE_REGION("x"); ... }`. */
#define TRACE_REGION(name) CPROF_REGION_(__COUNTER__, name)
#define CPROF_REGION_(n, name) CPROF_REGION__(n, name)
#define CPROF_REGION__(n, name)                                                               \
	CPROF_SITE_(n, name);                                                                 \
	struct cprof_site *CPROF_CAT(cprof_region_, n) __attribute__((cleanup(cprof_region_cleanup_), unused)) = \
		(cprof_region_begin(&CPROF_CAT(cprof_site_, n)), &CPROF_CAT(cprof_site_, n))

#define TRACE_REGION_BEGIN(name)                                                              \
	do {                                                                                  \
		static struct cprof_site cprof_site_ = {name, 0};                             \
		cprof_region_begin(&cprof_site_);                                             \
	} while (0)
#define TRACE_REGION_END() cprof_region_end((struct cprof_site *)0)

#define TRACE_TASK_BEGIN(name)                                                                \
	__extension__({                                                                       \
		static struct cprof_site cprof_site_ = {name, 0};                             \
		cprof_task_begin(&cprof_site_);                                               \
	})
#define TRACE_TASK_END(task) cprof_task_end(task)
#define TRACE_TASK_SET(task) cprof_task_set(task)

#define TRACE_LOG(category, ...)                                                              \
	do {                                                                                  \
		static struct cprof_site cprof_site_ = {category, 0};                         \
		cprof_log(&cprof_site_, __VA_ARGS__);                                         \
	} while (0)

#else /* CPROF_TRACE_DISABLE */

#define TRACE_REGION(name) do { } while (0)
#define TRACE_REGION_BEGIN(name) do { } while (0)
#define TRACE_REGION_END() do { } while (0)
#define TRACE_TASK_BEGIN(name) ((uint64_t)0)
#define TRACE_TASK_END(task) ((void)(task))
#define TRACE_TASK_SET(task) ((void)(task))
#define TRACE_LOG(category, ...) do { } while (0)

#endif

#ifdef __cplusplus
}
#endif
#endif
