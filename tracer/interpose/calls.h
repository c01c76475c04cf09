/*
 * Every libc function the library interposes or calls through
 * dlsym(RTLD_NEXT), written once. Internal.
 *
 *   X(ret, name, params, version)
 *     ret, params: the function's type, exactly as libc declares it
 *     version:     the symbol version to bind (NULL: the default one)
 *
 * From this table come the real-function pointers (cprof_real_NAME,
 * interpose.h), their resolution at start-up (calls.c, from the
 * constructor, so no wrapper enters dlsym later, e.g. inside a signal
 * handler) and the lazy resolution of calls that arrive before it. A
 * wrapper whose function is missing here does not compile: REAL(name)
 * names cprof_real_NAME.
 */
#ifndef CPROF_INTERPOSE_CALLS_H
#define CPROF_INTERPOSE_CALLS_H

#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* glibc's current condition-variable ABI. */
#define CPROF_COND_VERSION "GLIBC_2.3.2"

#define CPROF_INTERPOSED(X)                                                                      \
	/* sync.c: locks, condition variables, semaphores, join, barrier, spin */               \
	X(int, pthread_mutex_lock, (pthread_mutex_t *), NULL)                                   \
	X(int, pthread_mutex_trylock, (pthread_mutex_t *), NULL)                                \
	X(int, pthread_mutex_timedlock, (pthread_mutex_t *, const struct timespec *), NULL)     \
	X(int, pthread_mutex_unlock, (pthread_mutex_t *), NULL)                                 \
	X(int, pthread_rwlock_rdlock, (pthread_rwlock_t *), NULL)                               \
	X(int, pthread_rwlock_wrlock, (pthread_rwlock_t *), NULL)                               \
	X(int, pthread_rwlock_tryrdlock, (pthread_rwlock_t *), NULL)                            \
	X(int, pthread_rwlock_trywrlock, (pthread_rwlock_t *), NULL)                            \
	X(int, pthread_rwlock_timedrdlock, (pthread_rwlock_t *, const struct timespec *), NULL) \
	X(int, pthread_rwlock_timedwrlock, (pthread_rwlock_t *, const struct timespec *), NULL) \
	X(int, pthread_rwlock_unlock, (pthread_rwlock_t *), NULL)                               \
	X(int, pthread_cond_wait, (pthread_cond_t *, pthread_mutex_t *), CPROF_COND_VERSION)    \
	X(int, pthread_cond_timedwait, (pthread_cond_t *, pthread_mutex_t *, const struct timespec *), \
	  CPROF_COND_VERSION)                                                                    \
	X(int, pthread_cond_signal, (pthread_cond_t *), CPROF_COND_VERSION)                     \
	X(int, pthread_cond_broadcast, (pthread_cond_t *), CPROF_COND_VERSION)                  \
	X(int, sem_wait, (sem_t *), NULL)                                                       \
	X(int, sem_timedwait, (sem_t *, const struct timespec *), NULL)                         \
	X(int, sem_trywait, (sem_t *), NULL)                                                    \
	X(int, sem_post, (sem_t *), NULL)                                                       \
	X(int, pthread_join, (pthread_t, void **), NULL)                                        \
	X(int, pthread_barrier_wait, (pthread_barrier_t *), NULL)                               \
	X(int, pthread_spin_lock, (pthread_spinlock_t *), NULL)                                 \
	X(int, pthread_spin_trylock, (pthread_spinlock_t *), NULL)                              \
	/* io.c: reads (may wait on a pipe peer), writes (may wake one) */                      \
	X(ssize_t, read, (int, void *, size_t), NULL)                                           \
	X(ssize_t, readv, (int, const struct iovec *, int), NULL)                               \
	X(ssize_t, recv, (int, void *, size_t, int), NULL)                                      \
	X(ssize_t, recvfrom, (int, void *, size_t, int, struct sockaddr *, socklen_t *), NULL)  \
	X(ssize_t, recvmsg, (int, struct msghdr *, int), NULL)                                  \
	X(ssize_t, write, (int, const void *, size_t), NULL)                                    \
	X(ssize_t, writev, (int, const struct iovec *, int), NULL)                              \
	X(ssize_t, send, (int, const void *, size_t, int), NULL)                                \
	X(ssize_t, sendto, (int, const void *, size_t, int, const struct sockaddr *, socklen_t), NULL) \
	X(ssize_t, sendmsg, (int, const struct msghdr *, int), NULL)                            \
	/* io.c: waits for the network, timers, children, the disk */                           \
	X(int, connect, (int, const struct sockaddr *, socklen_t), NULL)                        \
	X(int, poll, (struct pollfd *, nfds_t, int), NULL)                                      \
	X(int, ppoll, (struct pollfd *, nfds_t, const struct timespec *, const sigset_t *), NULL) \
	X(int, select, (int, fd_set *, fd_set *, fd_set *, struct timeval *), NULL)             \
	X(int, pselect, (int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *), NULL) \
	X(int, epoll_wait, (int, struct epoll_event *, int, int), NULL)                         \
	X(int, epoll_pwait, (int, struct epoll_event *, int, int, const sigset_t *), NULL)      \
	X(int, epoll_ctl, (int, int, int, struct epoll_event *), NULL)                          \
	X(int, nanosleep, (const struct timespec *, struct timespec *), NULL)                   \
	X(int, clock_nanosleep, (clockid_t, int, const struct timespec *, struct timespec *), NULL) \
	X(int, usleep, (useconds_t), NULL)                                                      \
	X(unsigned, sleep, (unsigned), NULL)                                                    \
	X(int, fsync, (int), NULL)                                                              \
	X(int, fdatasync, (int), NULL)                                                          \
	X(pid_t, wait, (int *), NULL)                                                           \
	X(pid_t, waitpid, (pid_t, int *, int), NULL)                                            \
	X(int, accept, (int, struct sockaddr *, socklen_t *), NULL)                             \
	X(int, accept4, (int, struct sockaddr *, socklen_t *, int), NULL)                       \
	X(int, open, (const char *, int, ...), NULL)                                            \
	X(int, open64, (const char *, int, ...), NULL)                                          \
	X(int, openat, (int, const char *, int, ...), NULL)                                     \
	X(int, openat64, (int, const char *, int, ...), NULL)                                   \
	/* io.c: calls that make or end fds (their kind is cached) */                           \
	X(int, socket, (int, int, int), NULL)                                                   \
	X(int, socketpair, (int, int, int, int *), NULL)                                        \
	X(int, pipe, (int *), NULL)                                                             \
	X(int, pipe2, (int *, int), NULL)                                                       \
	X(int, close, (int), NULL)                                                              \
	X(int, dup2, (int, int), NULL)                                                          \
	X(int, dup3, (int, int, int), NULL)                                                     \
	/* malloc.c: the allocator, sampled for the heap profile (never through REAL():   \
	 * the loader and dlsym allocate while these resolve; see malloc.c) */               \
	X(void *, malloc, (size_t), NULL)                                                       \
	X(void *, calloc, (size_t, size_t), NULL)                                               \
	X(void *, realloc, (void *, size_t), NULL)                                              \
	X(void *, reallocarray, (void *, size_t, size_t), NULL)                                 \
	X(void, free, (void *), NULL)                                                           \
	X(int, posix_memalign, (void **, size_t, size_t), NULL)                                 \
	X(void *, aligned_alloc, (size_t, size_t), NULL)                                        \
	X(void *, memalign, (size_t, size_t), NULL)                                             \
	X(void *, valloc, (size_t), NULL)                                                       \
	X(void *, pvalloc, (size_t), NULL)                                                      \
	/* thread.c */                                                                          \
	X(int, pthread_create, (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *), NULL) \
	X(int, pthread_setname_np, (pthread_t, const char *), NULL)                             \
	/* dl.c: code unmapped (the unwinders' per-PC caches must forget it) */                  \
	X(int, dlclose, (void *), NULL)                                                         \
	/* init.c: process exit without destructors */                                          \
	X(void, _exit, (int), NULL)                                                             \
	X(void, _Exit, (int), NULL)                                                             \
	/* exec.c: an image ends its part of a tree capture before exec */                      \
	X(int, execve, (const char *, char *const[], char *const[]), NULL)                      \
	X(int, execv, (const char *, char *const[]), NULL)                                      \
	X(int, execvp, (const char *, char *const[]), NULL)                                     \
	X(int, execvpe, (const char *, char *const[], char *const[]), NULL)                     \
	X(int, fexecve, (int, char *const[], char *const[]), NULL)

#endif
