/*
 * Interposed thread lifecycle: pthread_create records who created the
 * thread, from where (the threadcreate profile) and its start routine;
 * the new thread records THREAD_START at once, before its routine runs, so
 * threads that never trace anything still appear. pthread_setname_np on
 * the calling thread records THREAD_NAME. Threads created by the tracer's
 * own threads are the tracer's too (never traced).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "interpose/interpose.h"
#include "stacks/cfi.h"


struct start {
	void *(*routine)(void *);
	void *arg;
	uint64_t creator;  /* tid */
	uint64_t stack;    /* creation stack id */
	int internal;      /* created by a tracer thread */
};

/* Per creation stack id: threads created from there. */
static _Atomic uint32_t created_by_stack[CPROF_STACK_IDS + 1];
static _Atomic uint64_t created_total;

static void *trampoline(void *p)
{
	struct start s = *(struct start *)p;
	free(p);
	struct cprof_thread *self = cprof_me();
	self->busy++;
	cprof_cfi_thread_start(); /* where stack walks may read */
	self->busy--;
	if (s.internal) {
		self->status = THREAD_INTERNAL;
	} else {
		self->start_args[0] = s.creator;
		self->start_args[1] = (uint64_t)(uintptr_t)s.routine; /* the drainer names it */
		self->start_args[2] = s.stack;
		cprof_thread_attach_now(self);
	}
	/* sched-cpu: the layers above arm per-thread work (the CPU-sampling
	 * timer), for the tracer's threads too (they are told apart there). */
	void (*hook)(void) = __atomic_load_n(&cprof_thread_start_hook, __ATOMIC_ACQUIRE);
	if (hook)
		hook();
	return s.routine(s.arg);
}

void (*cprof_thread_start_hook)(void);

CPROF_API int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*routine)(void *), void *arg)
{
	struct cprof_thread *self = cprof_me();
	int internal = self->status == THREAD_INTERNAL || self->busy;
	if (!cprof_interpose_on)
		return REAL(pthread_create)(t, attr, routine, arg);
	uint64_t creator = 0, stack = 0;
	if (!internal) { /* the threadcreate profile: who creates threads, from where */
		self->busy++;
		creator = cprof_gettid();
		stack = cprof_stack_here(0); /* leaf: pthread_create */
		self->busy--;
		if (stack <= CPROF_STACK_IDS)
			atomic_fetch_add_explicit(&created_by_stack[stack], 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&created_total, 1, memory_order_relaxed);
	}
#ifdef __SANITIZE_THREAD__
	/* Under TSan our trampoline would run (instrumented) before TSan has set
	 * the new thread up: TSan builds start threads untouched, and a thread
	 * appears at its first event, without creator or routine. */
	return REAL(pthread_create)(t, attr, routine, arg);
#endif
	struct start *s = malloc(sizeof *s);
	if (!s)
		return REAL(pthread_create)(t, attr, routine, arg);
	*s = (struct start){routine, arg, creator, stack, internal};
	int rc = REAL(pthread_create)(t, attr, trampoline, s);
	if (rc)
		free(s);
	return rc;
}

CPROF_API int pthread_setname_np(pthread_t t, const char *name)
{
	int rc = REAL(pthread_setname_np)(t, name);
	struct cprof_thread *self = cprof_observed();
	if (rc == 0 && self && pthread_equal(t, pthread_self())) {
		self->busy++;
		uint64_t id = cprof_string_intern(name, strnlen(name, CPROF_THREAD_NAME_MAX));
		self->busy--;
		if (self->ring)
			cprof_ring_set_name(self->ring, name);
		cprof_record(CPROF_EV_THREAD_NAME, &id, NULL, 0);
	}
	return rc;
}

uint64_t cprof_threadcreate_counts(uint32_t *ids, uint32_t *counts, uint32_t cap, uint32_t *n)
{
	uint32_t k = 0;
	for (uint32_t id = 0; id <= CPROF_STACK_IDS && k < cap; id++) {
		uint32_t c = atomic_load_explicit(&created_by_stack[id], memory_order_relaxed);
		if (c) {
			ids[k] = id;
			counts[k++] = c;
		}
	}
	*n = k;
	return atomic_load_explicit(&created_total, memory_order_relaxed);
}

/* Joiners of this thread wait on its pthread_t; they cannot return before
 * this thread is gone, so planning at exit loses none. */
static void wake_joiners(void)
{
	struct wake_plan plan;
	cprof_wake_plan((uint64_t)(uintptr_t)pthread_self(), WAKE_ALL, &plan);
	cprof_wake_commit((uint64_t)(uintptr_t)pthread_self(), &plan);
}

void cprof_interpose_thread_init(void)
{
	cprof_on_thread_exit(wake_joiners);
}
