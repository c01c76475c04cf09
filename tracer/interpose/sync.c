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

#include "interpose/contention.h"
#include "interpose/interpose.h"

#define KEY(p) ((uint64_t)(uintptr_t)(p))

/* Blocks in `call` as a registered waiter on `obj` (so its releaser records
 * the wake-up) and records the wait under name's site when it took at
 * least the threshold. Evaluates to the call's result; errno is the call's. */
#define WAIT_AS_WAITER(name, obj, call)                                                  \
	__extension__({                                                                  \
		uint64_t t0_ = cprof_call_begin(&site_##name, CPROF_BLOCK_SYNC, KEY(obj)); \
		int slot_ = cprof_waiter_enter(KEY(obj));                                \
		int rc_ = (call);                                                        \
		cprof_waiter_leave(slot_);                                               \
		cprof_block_end(&site_##name, CPROF_BLOCK_SYNC, KEY(obj), t0_);          \
		cprof_blockprof_wait(t0_);                                               \
		rc_;                                                                     \
	})

/* Runs the release `call` on `obj`, recording the wake-up of its longest
 * waiter (WAKE_ONE) or of all (WAKE_ALL) when it succeeded. */
#define RELEASE(obj, who, call)                                \
	__extension__({                                        \
		struct wake_plan plan_;                        \
		cprof_wake_plan(KEY(obj), who, &plan_);        \
		int rc_ = (call);                              \
		if (rc_ == 0)                                  \
			cprof_wake_commit(KEY(obj), &plan_);   \
		rc_;                                           \
	})

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

/* The mutex wrappers' fast paths are two loads, compares and a tail jump
 * to the real call: no frame, no TLS access. The rest is out of line (GCC
 * would otherwise save registers on the fast path too), called rather than
 * jumped to so the wrapper's frame stays the stack's leaf: the slow paths
 * pass extra = 1 (their own frame) to the stack captures. */
#define SLOW_EXTRA 1

#define WAIT_AS_WAITER_X(name, obj, call)                                                \
	__extension__({                                                                  \
		uint64_t t0_ = cprof_call_begin(&site_##name, CPROF_BLOCK_SYNC, KEY(obj)); \
		int slot_ = cprof_waiter_enter(KEY(obj));                                \
		int rc_ = (call);                                                        \
		cprof_waiter_leave(slot_);                                               \
		cprof_block_end_x(&site_##name, CPROF_BLOCK_SYNC, KEY(obj), t0_, SLOW_EXTRA); \
		cprof_blockprof_wait_x(t0_, SLOW_EXTRA);                                 \
		rc_;                                                                     \
	})

static __attribute__((noinline)) int mutex_lock_slow(pthread_mutex_t *m)
{
	if (mutex_looks_free(m) || !cprof_observed())
		return REAL(pthread_mutex_lock)(m);
	int rc = REAL(pthread_mutex_trylock)(m);
	if (rc != EBUSY)
		return rc; /* acquired (or an error such as EOWNERDEAD the caller must see) */
	return WAIT_AS_WAITER_X(pthread_mutex_lock, m, REAL(pthread_mutex_lock)(m));
}

CPROF_API int pthread_mutex_lock(pthread_mutex_t *m)
{
	int (*f)(pthread_mutex_t *) = __atomic_load_n(&cprof_real_pthread_mutex_lock, __ATOMIC_RELAXED);
	if (likely(mutex_looks_free(m) && f)) /* f is NULL only before the constructor */
		return f(m);
	int rc = mutex_lock_slow(m);
	__asm__ volatile(""); /* a call, not a jump: this frame stays on the stack */
	return rc;
}

static __attribute__((noinline)) int mutex_timedlock_slow(pthread_mutex_t *m, const struct timespec *abstime)
{
	if (mutex_looks_free(m) || !cprof_observed())
		return REAL(pthread_mutex_timedlock)(m, abstime);
	int rc = REAL(pthread_mutex_trylock)(m);
	if (rc != EBUSY)
		return rc;
	return WAIT_AS_WAITER_X(pthread_mutex_timedlock, m, REAL(pthread_mutex_timedlock)(m, abstime));
}

CPROF_API int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abstime)
{
	int (*f)(pthread_mutex_t *, const struct timespec *) =
		__atomic_load_n(&cprof_real_pthread_mutex_timedlock, __ATOMIC_RELAXED);
	if (likely(mutex_looks_free(m) && f))
		return f(m, abstime);
	int rc = mutex_timedlock_slow(m, abstime);
	__asm__ volatile("");
	return rc;
}

static __attribute__((noinline)) int mutex_unlock_slow(pthread_mutex_t *m)
{
	cprof_mutexprof_release_x(KEY(m), SLOW_EXTRA);
	struct wake_plan plan;
	cprof_wake_plan(KEY(m), WAKE_ONE, &plan);
	int rc = REAL(pthread_mutex_unlock)(m);
	if (rc == 0)
		cprof_wake_commit_x(KEY(m), &plan, SLOW_EXTRA);
	return rc;
}

/* Nobody waits anywhere (one load): nothing to charge or to wake, the
 * slow path's outcome, without its frame. */
CPROF_API int pthread_mutex_unlock(pthread_mutex_t *m)
{
	int (*f)(pthread_mutex_t *) = __atomic_load_n(&cprof_real_pthread_mutex_unlock, __ATOMIC_RELAXED);
	if (likely(atomic_load_explicit(&cprof_waiting.n, memory_order_relaxed) <= 0 && f))
		return f(m);
	int rc = mutex_unlock_slow(m);
	__asm__ volatile("");
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
		return WAIT_AS_WAITER(name, l, REAL(name) call_args);            \
	}

RWLOCK_WRAP(pthread_rwlock_rdlock, pthread_rwlock_tryrdlock, (l), pthread_rwlock_t *l)
RWLOCK_WRAP(pthread_rwlock_wrlock, pthread_rwlock_trywrlock, (l), pthread_rwlock_t *l)
RWLOCK_WRAP(pthread_rwlock_timedrdlock, pthread_rwlock_tryrdlock, (l, t), pthread_rwlock_t *l,
	    const struct timespec *t)
RWLOCK_WRAP(pthread_rwlock_timedwrlock, pthread_rwlock_trywrlock, (l, t), pthread_rwlock_t *l,
	    const struct timespec *t)

CPROF_API int pthread_rwlock_unlock(pthread_rwlock_t *l)
{
	cprof_mutexprof_release(KEY(l));
	return RELEASE(l, WAKE_ALL, REAL(pthread_rwlock_unlock)(l));
}

/* ---- condition variables (glibc's current ABI, GLIBC_2.3.2) ---- */
CALL_SITE(pthread_cond_wait);
CALL_SITE(pthread_cond_timedwait);

CPROF_API int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	PASS_UNLESS_OBSERVED(pthread_cond_wait, (c, m));
	return WAIT_AS_WAITER(pthread_cond_wait, c, REAL(pthread_cond_wait)(c, m));
}

CPROF_API int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abstime)
{
	PASS_UNLESS_OBSERVED(pthread_cond_timedwait, (c, m, abstime));
	return WAIT_AS_WAITER(pthread_cond_timedwait, c, REAL(pthread_cond_timedwait)(c, m, abstime));
}

CPROF_API int pthread_cond_signal(pthread_cond_t *c)
{
	return RELEASE(c, WAKE_ONE, REAL(pthread_cond_signal)(c));
}

CPROF_API int pthread_cond_broadcast(pthread_cond_t *c)
{
	return RELEASE(c, WAKE_ALL, REAL(pthread_cond_broadcast)(c));
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
	return WAIT_AS_WAITER(sem_wait, s, REAL(sem_wait)(s));
}

CPROF_API int sem_timedwait(sem_t *s, const struct timespec *abstime)
{
	PASS_UNLESS_OBSERVED(sem_timedwait, (s, abstime));
	return WAIT_AS_WAITER(sem_timedwait, s, REAL(sem_timedwait)(s, abstime));
}

CPROF_API int sem_post(sem_t *s)
{
	return RELEASE(s, WAKE_ONE, REAL(sem_post)(s));
}

/* ---- join, barrier, spin ---- */
CALL_SITE(pthread_join);
CALL_SITE(pthread_barrier_wait);
CALL_SITE(pthread_spin_lock);

CPROF_API int pthread_join(pthread_t t, void **ret)
{
	PASS_UNLESS_OBSERVED(pthread_join, (t, ret));
	return WAIT_AS_WAITER(pthread_join, t, REAL(pthread_join)(t, ret));
}

CPROF_API int pthread_barrier_wait(pthread_barrier_t *b)
{
	PASS_UNLESS_OBSERVED(pthread_barrier_wait, (b));
	uint64_t t0 = cprof_call_begin(&site_pthread_barrier_wait, CPROF_BLOCK_SYNC, KEY(b));
	int rc = REAL(pthread_barrier_wait)(b);
	cprof_block_end(&site_pthread_barrier_wait, CPROF_BLOCK_SYNC, KEY(b), t0);
	cprof_blockprof_wait(t0);
	return rc;
}

CPROF_API int pthread_spin_lock(pthread_spinlock_t *l)
{
	PASS_UNLESS_OBSERVED(pthread_spin_lock, (l));
	int rc = REAL(pthread_spin_trylock)(l);
	if (rc != EBUSY)
		return rc;
	uint64_t t0 = cprof_call_begin(&site_pthread_spin_lock, CPROF_BLOCK_SYNC, KEY(l));
	rc = REAL(pthread_spin_lock)(l);
	cprof_block_end(&site_pthread_spin_lock, CPROF_BLOCK_SYNC, KEY(l), t0);
	cprof_blockprof_wait(t0);
	return rc;
}
