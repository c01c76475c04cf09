/*
 * Interposed blocking I/O and sleeps: network (sockets, polling) and
 * syscall (files, pipes, ttys, sleep, wait, fsync, open) categories.
 *
 * A call is timed with two clock reads and recorded only when it took at
 * least the threshold; its category comes from the fd's type, classified on
 * first need (fstat) and cached per fd (socket/accept/pipe/open set it,
 * close/dup2/dup3 clear it). A read on one end of a pipe or socketpair
 * registers as a waiter on the pair; a write on the other end records the
 * wake-up edge. Return values and errno are exactly the real call's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "interpose/interpose.h"

/* Times `expr` (the real call) and records it under `site`. */
#define TIMED(name, category, object, expr)                                         \
	uint64_t t0_ = cprof_call_begin(&site_##name, (category), (uint64_t)(object)); \
	do {                                                                        \
		rc = (expr);                                                        \
		cprof_block_end(&site_##name, (category), (uint64_t)(object), t0_); \
	} while (0)

/* ---- reads: may wait on a pipe/socketpair peer ---- */
#define READ_WRAP(ret, name, fd, call_args, ...)                                           \
	CALL_SITE(name);                                                                   \
	CPROF_API ret name(__VA_ARGS__)                                                    \
	{                                                                                  \
		PASS_UNLESS_OBSERVED(name, call_args);                                     \
		ret rc;                                                                    \
		int slot = cprof_waiter_enter(cprof_fd_pair_key(fd));                      \
		TIMED(name, CPROF_BLOCK_BY_FD, fd, REAL(name) call_args);                  \
		cprof_waiter_leave(slot);                                                  \
		return rc;                                                                 \
	}

/* ---- writes: may wake a reader of the peer ---- */
#define WRITE_WRAP(ret, name, fd, call_args, ...)                                          \
	CALL_SITE(name);                                                                   \
	CPROF_API ret name(__VA_ARGS__)                                                    \
	{                                                                                  \
		PASS_UNLESS_OBSERVED(name, call_args);                                     \
		ret rc;                                                                    \
		struct wake_plan plan;                                                     \
		cprof_wake_plan(cprof_fd_pair_key(fd), WAKE_ONE, &plan);                   \
		TIMED(name, CPROF_BLOCK_BY_FD, fd, REAL(name) call_args);                  \
		if (rc > 0)                                                                \
			cprof_wake_commit(cprof_fd_pair_key(fd), &plan);                   \
		return rc;                                                                 \
	}

/* ---- other timed calls ---- */
#define PLAIN_WRAP(ret, name, category, object, call_args, ...)                            \
	CALL_SITE(name);                                                                   \
	CPROF_API ret name(__VA_ARGS__)                                                    \
	{                                                                                  \
		PASS_UNLESS_OBSERVED(name, call_args);                                     \
		ret rc;                                                                    \
		TIMED(name, category, object, REAL(name) call_args);                       \
		return rc;                                                                 \
	}

READ_WRAP(ssize_t, read, fd, (fd, buf, n), int fd, void *buf, size_t n)
READ_WRAP(ssize_t, readv, fd, (fd, iov, cnt), int fd, const struct iovec *iov, int cnt)
READ_WRAP(ssize_t, recv, fd, (fd, buf, n, flags), int fd, void *buf, size_t n, int flags)
READ_WRAP(ssize_t, recvfrom, fd, (fd, buf, n, flags, addr, len), int fd, void *buf, size_t n, int flags,
	  struct sockaddr *addr, socklen_t *len)
READ_WRAP(ssize_t, recvmsg, fd, (fd, msg, flags), int fd, struct msghdr *msg, int flags)

WRITE_WRAP(ssize_t, write, fd, (fd, buf, n), int fd, const void *buf, size_t n)
WRITE_WRAP(ssize_t, writev, fd, (fd, iov, cnt), int fd, const struct iovec *iov, int cnt)
WRITE_WRAP(ssize_t, send, fd, (fd, buf, n, flags), int fd, const void *buf, size_t n, int flags)
WRITE_WRAP(ssize_t, sendto, fd, (fd, buf, n, flags, addr, len), int fd, const void *buf, size_t n, int flags,
	   const struct sockaddr *addr, socklen_t len)
WRITE_WRAP(ssize_t, sendmsg, fd, (fd, msg, flags), int fd, const struct msghdr *msg, int flags)

PLAIN_WRAP(int, connect, CPROF_BLOCK_NET, fd, (fd, addr, len), int fd, const struct sockaddr *addr,
	   socklen_t len)
/* ---- waits on many fds: network only when they watch a socket ---- */

/* Times `expr` and records it under name's site, classified by the fd that
 * `pick` returns: evaluated only when the call is recorded (it may look at
 * every watched fd); pick0, a cheap first guess, names the call meanwhile. */
#define TIMED_WATCH(name, pick0, pick, expr)                                                  \
	uint64_t t0_ = cprof_call_begin(&site_##name, CPROF_BLOCK_BY_FD, (uint64_t)(pick0)); \
	rc = (expr);                                                                          \
	do {                                                                                  \
		cprof_call_done();                                                            \
		uint64_t t1_ = cprof_clock_now();                                             \
		if (unlikely(t1_ - t0_ >= cprof_block_threshold()))                           \
			cprof_block_record(&site_##name, CPROF_BLOCK_BY_FD, (uint64_t)(pick), t0_, t1_, 0); \
	} while (0)

/* The first watched socket, else the first watched fd (-1: none). */
static int poll_pick(const struct pollfd *fds, nfds_t nfds)
{
	int first = -1;
	for (nfds_t i = 0; i < nfds; i++) {
		if (fds[i].fd < 0)
			continue;
		if (cprof_fd_category(fds[i].fd) == CPROF_BLOCK_NET)
			return fds[i].fd;
		if (first < 0)
			first = fds[i].fd;
	}
	return first;
}

static int select_pick(int nfds, const fd_set *r, const fd_set *w)
{
	int first = -1;
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++) {
		if (!((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w))))
			continue;
		if (cprof_fd_category(fd) == CPROF_BLOCK_NET)
			return fd;
		if (first < 0)
			first = fd;
	}
	return first;
}

CALL_SITE(poll);
CALL_SITE(ppoll);
CALL_SITE(select);
CALL_SITE(pselect);
CALL_SITE(epoll_wait);
CALL_SITE(epoll_pwait);

/* The sets are read after the call, whose results overwrote them: a
 * select that returned on a pipe still says which fds it watched when it
 * timed out or failed; when it returned ready fds, those are what woke it. */
CPROF_API int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	PASS_UNLESS_OBSERVED(poll, (fds, nfds, timeout));
	int rc;
	TIMED_WATCH(poll, -1, poll_pick(fds, nfds), REAL(poll)(fds, nfds, timeout));
	return rc;
}

CPROF_API int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *ts, const sigset_t *mask)
{
	PASS_UNLESS_OBSERVED(ppoll, (fds, nfds, ts, mask));
	int rc;
	TIMED_WATCH(ppoll, -1, poll_pick(fds, nfds), REAL(ppoll)(fds, nfds, ts, mask));
	return rc;
}

CPROF_API int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	PASS_UNLESS_OBSERVED(select, (nfds, r, w, e, tv));
	int rc;
	TIMED_WATCH(select, -1, select_pick(nfds, r, w), REAL(select)(nfds, r, w, e, tv));
	return rc;
}

CPROF_API int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts, const sigset_t *mask)
{
	PASS_UNLESS_OBSERVED(pselect, (nfds, r, w, e, ts, mask));
	int rc;
	TIMED_WATCH(pselect, -1, select_pick(nfds, r, w), REAL(pselect)(nfds, r, w, e, ts, mask));
	return rc;
}

/* An epoll instance is a network wait once a socket was added to it. */
CPROF_API int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	int rc = REAL(epoll_ctl)(epfd, op, fd, ev);
	if (rc == 0 && op == EPOLL_CTL_ADD && cprof_interpose_on && cprof_fd_category(fd) == CPROF_BLOCK_NET)
		cprof_fd_set(epfd, FD_NET_WATCHER, -1);
	return rc;
}

CPROF_API int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	PASS_UNLESS_OBSERVED(epoll_wait, (epfd, ev, max, timeout));
	int rc;
	TIMED_WATCH(epoll_wait, epfd, epfd, REAL(epoll_wait)(epfd, ev, max, timeout));
	return rc;
}

CPROF_API int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
	PASS_UNLESS_OBSERVED(epoll_pwait, (epfd, ev, max, timeout, mask));
	int rc;
	TIMED_WATCH(epoll_pwait, epfd, epfd, REAL(epoll_pwait)(epfd, ev, max, timeout, mask));
	return rc;
}

PLAIN_WRAP(int, nanosleep, CPROF_BLOCK_SYSCALL, 0, (req, rem), const struct timespec *req,
	   struct timespec *rem)
PLAIN_WRAP(int, clock_nanosleep, CPROF_BLOCK_SYSCALL, clk, (clk, flags, req, rem), clockid_t clk, int flags,
	   const struct timespec *req, struct timespec *rem)
PLAIN_WRAP(int, usleep, CPROF_BLOCK_SYSCALL, 0, (usec), useconds_t usec)
PLAIN_WRAP(unsigned, sleep, CPROF_BLOCK_SYSCALL, 0, (sec), unsigned sec)
PLAIN_WRAP(int, fsync, CPROF_BLOCK_SYSCALL, fd, (fd), int fd)
PLAIN_WRAP(int, fdatasync, CPROF_BLOCK_SYSCALL, fd, (fd), int fd)
PLAIN_WRAP(pid_t, wait, CPROF_BLOCK_SYSCALL, 0, (status), int *status)
PLAIN_WRAP(pid_t, waitpid, CPROF_BLOCK_SYSCALL, pid, (pid, status, options), pid_t pid, int *status,
	   int options)

/* ---- calls that make fds: accept (timed) and the classifiers ---- */
CALL_SITE(accept);
CALL_SITE(accept4);

CPROF_API int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	PASS_UNLESS_OBSERVED(accept, (fd, addr, len));
	int rc;
	TIMED(accept, CPROF_BLOCK_NET, fd, REAL(accept)(fd, addr, len));
	if (rc >= 0)
		cprof_fd_set(rc, FD_SOCKET, -1);
	return rc;
}

CPROF_API int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	PASS_UNLESS_OBSERVED(accept4, (fd, addr, len, flags));
	int rc;
	TIMED(accept4, CPROF_BLOCK_NET, fd, REAL(accept4)(fd, addr, len, flags));
	if (rc >= 0)
		cprof_fd_set(rc, FD_SOCKET, -1);
	return rc;
}

CALL_SITE(open);
CALL_SITE(open64);
CALL_SITE(openat);
CALL_SITE(openat64);

static mode_t open_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_WRAP(name, dirfd_param, dirfd_arg)                                            \
	CPROF_API int name(dirfd_param const char *path, int flags, ...)                   \
	{                                                                                  \
		va_list ap;                                                                \
		va_start(ap, flags);                                                       \
		mode_t mode = open_mode(flags, ap);                                        \
		va_end(ap);                                                                \
		PASS_UNLESS_OBSERVED(name, (dirfd_arg path, flags, mode));                 \
		int rc;                                                                    \
		TIMED(name, CPROF_BLOCK_SYSCALL, 0, REAL(name)(dirfd_arg path, flags, mode)); \
		if (rc >= 0)                                                               \
			cprof_fd_set(rc, FD_OTHER, -1);                                    \
		return rc;                                                                 \
	}
#define NOTHING
#define COMMA_ ,
OPEN_WRAP(open, NOTHING, NOTHING)
OPEN_WRAP(open64, NOTHING, NOTHING)
OPEN_WRAP(openat, int dirfd COMMA_, dirfd COMMA_)
OPEN_WRAP(openat64, int dirfd COMMA_, dirfd COMMA_)


CPROF_API int socket(int domain, int type, int protocol)
{
	int rc = REAL(socket)(domain, type, protocol);
	if (rc >= 0)
		cprof_fd_set(rc, FD_SOCKET, -1);
	return rc;
}

CPROF_API int socketpair(int domain, int type, int protocol, int sv[2])
{
	int rc = REAL(socketpair)(domain, type, protocol, sv);
	if (rc == 0) {
		cprof_fd_set(sv[0], FD_SOCKET, sv[1]);
		cprof_fd_set(sv[1], FD_SOCKET, sv[0]);
	}
	return rc;
}

CPROF_API int pipe(int fds[2])
{
	int rc = REAL(pipe)(fds);
	if (rc == 0) {
		cprof_fd_set(fds[0], FD_OTHER, fds[1]);
		cprof_fd_set(fds[1], FD_OTHER, fds[0]);
	}
	return rc;
}

CPROF_API int pipe2(int fds[2], int flags)
{
	int rc = REAL(pipe2)(fds, flags);
	if (rc == 0) {
		cprof_fd_set(fds[0], FD_OTHER, fds[1]);
		cprof_fd_set(fds[1], FD_OTHER, fds[0]);
	}
	return rc;
}

CPROF_API int close(int fd)
{
	cprof_fd_forget(fd);
	return REAL(close)(fd);
}

CPROF_API int dup2(int old, int fd)
{
	int rc = REAL(dup2)(old, fd);
	if (rc >= 0)
		cprof_fd_forget(fd);
	return rc;
}

CPROF_API int dup3(int old, int fd, int flags)
{
	int rc = REAL(dup3)(old, fd, flags);
	if (rc >= 0)
		cprof_fd_forget(fd);
	return rc;
}
