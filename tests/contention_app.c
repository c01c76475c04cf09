/*
 * A known contention for the block and mutex profiles, run under
 * LD_PRELOAD (not linked to the tracer): hold_long() takes the mutex and
 * sleeps 20 ms in it, then sleeps 2 ms outside; wait_for_lock() on two
 * other threads takes the mutex and releases it at once. The waiting is
 * the waiters' (block profile: wait_for_lock), the delay is caused by the
 * holder (mutex profile: hold_long's unlock). A condition variable and a
 * semaphore wait add cond_waiter and sem_waiter to the block profile.
 * With WAITERS, that many threads run wait_for_lock (default 2): more than
 * the 8 ways of one wake-up table bucket checks that every waiter is charged.
 *   contention_app SECONDS [WAITERS]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static sem_t sem;
static _Atomic int stop; /* main -> threads */
static int ready;          /* under cm */

static void nap(long ns)
{
	struct timespec t = {0, ns};
	nanosleep(&t, NULL);
}

__attribute__((noinline)) static void hold_long(void)
{
	pthread_mutex_lock(&m);
	nap(20000000);
	pthread_mutex_unlock(&m);
	nap(2000000);
}

__attribute__((noinline)) static void wait_for_lock(void)
{
	pthread_mutex_lock(&m);
	pthread_mutex_unlock(&m);
	nap(100000);
}

__attribute__((noinline)) static void cond_waiter(void)
{
	pthread_mutex_lock(&cm);
	while (!ready && !stop)
		pthread_cond_wait(&cv, &cm);
	ready = 0;
	pthread_mutex_unlock(&cm);
}

__attribute__((noinline)) static void sem_waiter(void)
{
	sem_wait(&sem);
}

static void *holder(void *a)
{
	(void)a;
	while (!stop)
		hold_long();
	return NULL;
}

static void *waiter(void *a)
{
	(void)a;
	while (!stop)
		wait_for_lock();
	return NULL;
}

static void *cond_thread(void *a)
{
	(void)a;
	while (!stop)
		cond_waiter();
	return NULL;
}

static void *sem_thread(void *a)
{
	(void)a;
	while (!stop)
		sem_waiter();
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5;
	sem_init(&sem, 0, 0);
	int nwaiters = argc > 2 ? atoi(argv[2]) : 2;
	if (nwaiters < 1 || nwaiters > 60) {
		fprintf(stderr, "contention_app: WAITERS is 1..60\n");
		return 2;
	}
	int nthreads = 3 + nwaiters;
	pthread_t t[63];
	pthread_create(&t[0], NULL, holder, NULL);
	for (int i = 0; i < nwaiters; i++)
		pthread_create(&t[1 + i], NULL, waiter, NULL);
	pthread_create(&t[1 + nwaiters], NULL, cond_thread, NULL);
	pthread_create(&t[2 + nwaiters], NULL, sem_thread, NULL);
	printf("ready\n");
	fflush(stdout);
	for (long i = 0; i < (long)(secs * 100); i++) { /* every 10 ms: signal the cond, post the sem */
		nap(10000000);
		pthread_mutex_lock(&cm);
		ready = 1;
		pthread_cond_signal(&cv);
		pthread_mutex_unlock(&cm);
		sem_post(&sem);
	}
	stop = 1;
	pthread_mutex_lock(&cm);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&cm);
	sem_post(&sem);
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	return 0;
}
