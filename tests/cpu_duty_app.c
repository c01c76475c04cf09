/*
 * Test program for CPU sampling's periodic duty (profiles/cpu.c: the scan
 * arming threads that did not start through the tracer's trampoline, the
 * check that the program did not take the sampling signal over), run
 * unmodified under LD_PRELOAD with a file capture.
 *
 *   cpu_duty_app raw MS       a thread started through libc's own
 *                             pthread_create (not the interposed one: no
 *                             trampoline arms it) burns MS ms of CPU; prints
 *                             "raw TID" once it ended
 *   cpu_duty_app takeover MS  the main thread burns MS ms of CPU, installs
 *                             its own SA_SIGINFO handler for SIGRTMAX-3 (the
 *                             tracer's sampling signal), burns 800 ms more;
 *                             prints "main TID" and "after N", N = timer
 *                             signals its handler received
 *   cpu_duty_app tasks        after 300 ms of CPU prints "tasks N", the
 *                             process's thread count (/proc/self/task)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Thread_local volatile unsigned long sink;

static double cpu_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Burns ms of this thread's CPU time. */
__attribute__((noinline)) static void burn(double ms)
{
	double end = cpu_ms() + ms;
	unsigned long x = sink;
	while (cpu_ms() < end)
		for (int i = 0; i < 10000; i++)
			x = x * 6364136223846793005ul + 1442695040888963407ul;
	sink = x;
}

static double raw_ms;
static _Atomic long raw_tid;

/* No stdio here: under ASan the thread is unknown to the runtime. */
static void *raw_main(void *arg)
{
	(void)arg;
	raw_tid = syscall(SYS_gettid);
	burn(raw_ms);
	return NULL;
}

static volatile sig_atomic_t got;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	if (si->si_code == SI_TIMER)
		got++;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (strcmp(mode, "raw") == 0 && argc > 2) {
		raw_ms = atof(argv[2]);
		typedef int create_fn(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
#ifdef __SANITIZE_THREAD__
		/* Under TSan the tracer starts every thread untouched (no
		 * trampoline): the program's pthread_create is such a thread. */
		create_fn *create = pthread_create;
#else
		/* libc's own pthread_create: the tracer's interposed one (first in
		 * symbol lookup order) would arm the thread at its start. */
		void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
		create_fn *create = libc ? (create_fn *)dlsym(libc, "pthread_create") : NULL;
#endif
		pthread_t t;
		if (!create || create(&t, NULL, raw_main, NULL)) {
			fprintf(stderr, "cannot start a thread through libc's pthread_create\n");
			return 1;
		}
		pthread_join(t, NULL);
		printf("raw %ld\n", (long)raw_tid);
		return 0;
	}
	if (strcmp(mode, "takeover") == 0 && argc > 2) {
		printf("main %ld\n", (long)syscall(SYS_gettid));
		burn(atof(argv[2]));
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_signal;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigaction(SIGRTMAX - 3, &sa, NULL);
		burn(800);
		printf("after %d\n", (int)got);
		return 0;
	}
	if (strcmp(mode, "tasks") == 0) {
		burn(300);
		int n = 0;
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;
		while (d && (e = readdir(d)))
			n += e->d_name[0] != '.';
		if (d)
			closedir(d);
		printf("tasks %d\n", n);
		return 0;
	}
	fprintf(stderr, "usage: cpu_duty_app raw MS | takeover MS | tasks\n");
	return 2;
}
