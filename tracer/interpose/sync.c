/*
 * Interposed synchronisation: mutexes, rwlocks, condition variables,
 * semaphores, joins, barriers, spinlocks.
 *
 * Lock-like calls first try the lock: an uncontended acquire costs that one
 * attempt and records nothing (like Go, we record contention, not every
 * acquire). Only a contended acquire registers as a waiter on the object,
 * blocks in the real call, and is recorded when it took at least the
 * threshold. Release calls (unlock, signal, broadcast, post) record a
 * wake-up edge when a registered waiter exists: one load otherwise.
 * Return values and errno are exactly the real call's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "interpose/interpose.h"

#define KEY(p) ((uint64_t)(uintptr_t)(p))

/* ---- mutex ----
 * glibc's trylock costs 3x its lock (8.6 vs 2.5 ns a lock/unlock pair here),
 * so the uncontended path peeks at the lock word (glibc's __data.__lock: 0
 * when free, for every mutex type) and calls the real lock directly. A lock
 * taken by another thread between the peek and the call blocks unrecorded:
 * a window of a few ns, against a recorded contention's microseconds. */
static inline int mutex_looks_free(pthread_mutex_t *m)
{
	return __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) == 0;
}

CALL_SITE(pthread_mutex_lock);
CALL_SITE(pthread_mutex_timedlock);

CPROF_API int pthread_mutex_lock(pthread_mutex_t *m)
{
	if (likely(mutex_looks_free(m)) || !cprof_observed())
		return REAL(pthread_mutex_lock)(m);
	int rc = REAL(pthread_mutex_trylock)(m);
	if (rc != EBUSY)
		return rc; /* acquired (or an error such as EOWNERDEAD the caller must see) */
	uint64_t t0 = cprof_clock_now();
	int slot = cprof_waiter_enter(KEY(m));
	rc = REAL(pthread_mutex_lock)(m);
	cprof_waiter_leave(slot);
	cprof_block_end(&site_pthread_mutex_lock, CPROF_BLOCK_SYNC, KEY(m), t0);
	return rc;
}

CPROF_API int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abstime)
{
	if (likely(mutex_looks_free(m)) || !cprof_observed())
		return REAL(pthread_mutex_timedlock)(m, abstime);
	int rc = REAL(pthread_mutex_trylock)(m);
	if (rc != EBUSY)
		return rc;
	uint64_t t0 = cprof_clock_now();
	int slot = cprof_waiter_enter(KEY(m));
	rc = REAL(pthread_mutex_timedlock)(m, abstime);
	cprof_waiter_leave(slot);
	cprof_block_end(&site_pthread_mutex_timedlock, CPROF_BLOCK_SYNC, KEY(m), t0);
	return rc;
}

CPROF_API int pthread_mutex_unlock(pthread_mutex_t *m)
{
	struct wake_plan plan;
	cprof_wake_plan(KEY(m), WAKE_ONE, &plan);
	int rc = REAL(pthread_mutex_unlock)(m);
	if (rc == 0)
		cprof_wake_commit(KEY(m), &plan);
	return rc;
}

/* ---- rwlock ---- */
CALL_SITE(pthread_rwlock_rdlock);
CALL_SITE(pthread_rwlock_wrlock);
CALL_SITE(pthread_rwlock_timedrdlock);
CALL_SITE(pthread_rwlock_timedwrlock);

/* try first; on EBUSY wait in `call`, as a waiter, and record */
#define RWLOCK_WRAP(name, try, call_args, ...)                                   \
	CPROF_API int name(__VA_ARGS__)                                          \
	{                                                                        \
		PASS_UNLESS_OBSERVED(name, call_args);                           \
		int rc = REAL(try)(l);                                           \
		if (rc != EBUSY)                                                 \
			return rc;                                               \
		uint64_t t0 = cprof_clock_now();                                 \
		int slot = cprof_waiter_enter(KEY(l));                           \
		rc = REAL(name) call_args;                                       \
		cprof_waiter_leave(slot);                                        \
		cprof_block_end(&site_##name, CPROF_BLOCK_SYNC, KEY(l), t0);     \
		return rc;                                                       \
	}

RWLOCK_WRAP(pthread_rwlock_rdlock, pthread_rwlock_tryrdlock, (l), pthread_rwlock_t *l)
RWLOCK_WRAP(pthread_rwlock_wrlock, pthread_rwlock_trywrlock, (l), pthread_rwlock_t *l)
RWLOCK_WRAP(pthread_rwlock_timedrdlock, pthread_rwlock_tryrdlock, (l, t), pthread_rwlock_t *l,
	    const struct timespec *t)
RWLOCK_WRAP(pthread_rwlock_timedwrlock, pthread_rwlock_trywrlock, (l, t), pthread_rwlock_t *l,
	    const struct timespec *t)

CPROF_API int pthread_rwlock_unlock(pthread_rwlock_t *l)
{
	struct wake_plan plan;
	cprof_wake_plan(KEY(l), WAKE_ALL, &plan);
	int rc = REAL(pthread_rwlock_unlock)(l);
	if (rc == 0)
		cprof_wake_commit(KEY(l), &plan);
	return rc;
}

/* ---- condition variables (glibc's current ABI, GLIBC_2.3.2) ---- */
CALL_SITE(pthread_cond_wait);
CALL_SITE(pthread_cond_timedwait);

CPROF_API int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	PASS_UNLESS_OBSERVED(pthread_cond_wait, (c, m));
	uint64_t t0 = cprof_clock_now();
	int slot = cprof_waiter_enter(KEY(c));
	int rc = REAL(pthread_cond_wait)(c, m);
	cprof_waiter_leave(slot);
	cprof_block_end(&site_pthread_cond_wait, CPROF_BLOCK_SYNC, KEY(c), t0);
	return rc;
}

CPROF_API int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abstime)
{
	PASS_UNLESS_OBSERVED(pthread_cond_timedwait, (c, m, abstime));
	uint64_t t0 = cprof_clock_now();
	int slot = cprof_waiter_enter(KEY(c));
	int rc = REAL(pthread_cond_timedwait)(c, m, abstime);
	cprof_waiter_leave(slot);
	cprof_block_end(&site_pthread_cond_timedwait, CPROF_BLOCK_SYNC, KEY(c), t0);
	return rc;
}

CPROF_API int pthread_cond_signal(pthread_cond_t *c)
{
	struct wake_plan plan;
	cprof_wake_plan(KEY(c), WAKE_ONE, &plan);
	int rc = REAL(pthread_cond_signal)(c);
	if (rc == 0)
		cprof_wake_commit(KEY(c), &plan);
	return rc;
}

CPROF_API int pthread_cond_broadcast(pthread_cond_t *c)
{
	struct wake_plan plan;
	cprof_wake_plan(KEY(c), WAKE_ALL, &plan);
	int rc = REAL(pthread_cond_broadcast)(c);
	if (rc == 0)
		cprof_wake_commit(KEY(c), &plan);
	return rc;
}

/* ---- semaphores ---- */
CALL_SITE(sem_wait);
CALL_SITE(sem_timedwait);

CPROF_API int sem_wait(sem_t *s)
{
	PASS_UNLESS_OBSERVED(sem_wait, (s));
	int saved = errno;
	if (REAL(sem_trywait)(s) == 0)
		return 0;
	if (errno != EAGAIN)
		return -1; /* EINTR, EINVAL: as the real call would say */
	errno = saved;
	uint64_t t0 = cprof_clock_now();
	int slot = cprof_waiter_enter(KEY(s));
	int rc = REAL(sem_wait)(s);
	cprof_waiter_leave(slot);
	cprof_block_end(&site_sem_wait, CPROF_BLOCK_SYNC, KEY(s), t0);
	return rc;
}

CPROF_API int sem_timedwait(sem_t *s, const struct timespec *abstime)
{
	PASS_UNLESS_OBSERVED(sem_timedwait, (s, abstime));
	uint64_t t0 = cprof_clock_now();
	int slot = cprof_waiter_enter(KEY(s));
	int rc = REAL(sem_timedwait)(s, abstime);
	cprof_waiter_leave(slot);
	cprof_block_end(&site_sem_timedwait, CPROF_BLOCK_SYNC, KEY(s), t0);
	return rc;
}

CPROF_API int sem_post(sem_t *s)
{
	struct wake_plan plan;
	cprof_wake_plan(KEY(s), WAKE_ONE, &plan);
	int rc = REAL(sem_post)(s);
	if (rc == 0)
		cprof_wake_commit(KEY(s), &plan);
	return rc;
}

/* ---- join, barrier, spin ---- */
CALL_SITE(pthread_join);
CALL_SITE(pthread_barrier_wait);
CALL_SITE(pthread_spin_lock);

CPROF_API int pthread_join(pthread_t t, void **ret)
{
	PASS_UNLESS_OBSERVED(pthread_join, (t, ret));
	uint64_t t0 = cprof_clock_now();
	int slot = cprof_waiter_enter(KEY(t)); /* the exiting thread wakes us */
	int rc = REAL(pthread_join)(t, ret);
	cprof_waiter_leave(slot);
	cprof_block_end(&site_pthread_join, CPROF_BLOCK_SYNC, KEY(t), t0);
	return rc;
}

CPROF_API int pthread_barrier_wait(pthread_barrier_t *b)
{
	PASS_UNLESS_OBSERVED(pthread_barrier_wait, (b));
	uint64_t t0 = cprof_clock_now();
	int rc = REAL(pthread_barrier_wait)(b);
	cprof_block_end(&site_pthread_barrier_wait, CPROF_BLOCK_SYNC, KEY(b), t0);
	return rc;
}

CPROF_API int pthread_spin_lock(pthread_spinlock_t *l)
{
	PASS_UNLESS_OBSERVED(pthread_spin_lock, (l));
	int rc = REAL(pthread_spin_trylock)(l);
	if (rc != EBUSY)
		return rc;
	uint64_t t0 = cprof_clock_now();
	rc = REAL(pthread_spin_lock)(l);
	cprof_block_end(&site_pthread_spin_lock, CPROF_BLOCK_SYNC, KEY(l), t0);
	return rc;
}
