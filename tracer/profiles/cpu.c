/*
 * CPU-time sampling: every thread of the program, N times per second of its
 * own CPU time (100 Hz by default), records the stack it is running.
 *
 * Mechanism: one POSIX timer per thread on that thread's CPU-time clock,
 * delivering a signal to that thread only (SIGEV_THREAD_ID), as Go's
 * runtime has done since 1.18; the handler unwinds with libunwind (the same unwinder
 * and stack table as blocking events), adds one to the stack's counter
 * (/debug/pprof/profile) and records CPU_SAMPLE on the thread's ring
 * (traces). Chosen over perf sampling events because:
 *  - perf's kernel callchains walk frame pointers, which C built with -O2
 *    omits: the stacks would be wrong; getting correct ones means copying
 *    8+ KiB of user stack per sample (PERF_SAMPLE_STACK_USER) and unwinding
 *    it with DWARF in the drainer, or asking for a signal per sample anyway;
 *  - perf events are refused under perf_event_paranoid 3/4, seccomp and many
 *    containers, while timer_create works for every user everywhere;
 *  - measured here (bench/bench_cpu_sample.c, 2-vCPU KVM): a sample costs
 *    the sampled thread 2.9 us, of which 2.5 us is the kernel delivering
 *    any signal (an empty handler) and 0.4 us our unwinding, interning,
 *    counting and recording: 0.03% of a CPU-bound thread at 100 Hz; no
 *    drainer work when no capture runs (the endpoint only reads counters).
 *    A perf sampling event would save the signal but not the unwinding.
 *
 * The signal is SIGRTMAX-3, not SIGPROF: ordinary programs catch SIGPROF
 * (coreutils sort installs a clean-up-and-die handler for it, profilers
 * their own), and one that took it over between two of our checks would
 * receive our samples; real-time signals near SIGRTMAX are rarely used.
 *
 * The program is unaffected: the handler is installed with SA_RESTART (calls
 * that can restart do); it only fires while a thread consumes CPU, so a
 * thread sleeping in a non-restartable call (poll, nanosleep, ...) never
 * sees it; a thread whose signal mask blocks the signal when it is armed is
 * never armed (a pending sample would land at the wrong place); the
 * tracer's own threads are never armed. The handler is async-signal-safe:
 * no locks, no malloc, errno preserved; it sets the thread's `busy` flag
 * so nothing it calls is traced, and drops (counts) a sample that
 * interrupted the tracer itself. If the program installs its own handler
 * for the signal beforehand, sampling refuses to start (-ENOTSUP); if it installs
 * one while we sample, the sampler thread notices within 100 ms and stops.
 *
 * Timers are armed by the new thread itself (cprof_cpu_thread_start, from
 * the pthread_create trampoline) and, for threads that did not start
 * through it (the main thread, threads that existed before sampling
 * started), at start (by one scan of /proc/self/task, or directly when the
 * starting thread is the process's only one) and then by the sampler
 * thread scanning every 100 ms, which also deletes the timers of threads
 * that are gone.
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include <dirent.h>
#include <errno.h>
#include <libunwind.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/internal.h"
#include "interpose/interpose.h"
#include "profiles/cpu.h"
#include "stacks/cfi.h"
#include "stacks/stack.h"
#include "stacks/unwind_raw.h"

#define RESCAN_NS 100000000u /* the sampler thread's period */
#define SAMPLE_SIGNAL (SIGRTMAX - 3)

/* A thread we know: armed (timer) or the tracer's own (never armed).
 * Guarded by lock. */
struct armed {
	uint32_t tid;
	int timer;      /* kernel timer id, -1 none */
	uint8_t internal; /* a tracer thread: never armed */
	uint8_t seen;   /* found by the current scan */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct armed *threads;
static uint32_t nthreads, threads_cap;
static int users;            /* starts minus stops */
static int users_any;        /* users > 0, for the unlocked peek (atomic) */
static int installed;        /* our handler is installed */
static uint32_t capture_hz = 100, profile_hz = 100;
static _Atomic uint32_t active_hz; /* 0 when not sampling */
static int capture_sampling; /* the running capture is a user */
static pthread_t sampler;
static int sampler_running;
/* Set to stop the sampler; it sleeps on this word with a raw futex wait
 * (no condition variable: the program's pthread functions are interposed,
 * and under TSan its interceptors model them; a raw futex is neither). */
static _Atomic uint32_t sampler_stop;
static pthread_key_t exit_key;
static int exit_key_ready;

/* Per stack id: samples, weighted by timer overruns. Written by handlers
 * (relaxed atomic adds: counters, no ordering with anything else). */
static _Atomic uint64_t counts[CPROF_STACK_IDS + 1];
static _Atomic uint64_t dropped;
static int cookie; /* si_value of our timers: its address */

void cprof_cpu_configure(uint32_t hz)
{
	capture_hz = hz;
	profile_hz = hz ? hz : 100;
}

uint32_t cprof_cpu_profile_hz(void)
{
	return profile_hz;
}

/* ---- the signal handler ---- */

/* Async-signal-safe. See the file comment. */
static void on_sigprof(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	/* Not one of our timers: before us the signal was SIG_DFL or SIG_IGN (see
	 * start_locked); a stray one (kill -PROF) is ignored rather than let
	 * terminate the program. */
	if (si->si_code != SI_TIMER || si->si_value.sival_ptr != &cookie)
		return;
	int saved_errno = errno;
	struct cprof_thread *self = cprof_me();
	uint64_t weight = 1 + (uint64_t)(si->si_overrun > 0 ? si->si_overrun : 0);
	if (self->status == THREAD_INTERNAL || self->status == THREAD_DEAD)
		goto out;
	if (self->busy) { /* inside the tracer (or a record): unwinding could re-enter libunwind */
		atomic_fetch_add_explicit(&dropped, weight, memory_order_relaxed);
		goto out;
	}
	self->busy++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	const ucontext_t *uc = ucv;
	uintptr_t ip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	/* Our walk starts at the interrupted registers; libunwind, where it
	 * gives up, from here, through the handler's frames and the signal
	 * trampoline, which come first: the stack starts at the interrupted PC. */
	struct cfi_regs at = {ip, (uintptr_t)uc->uc_mcontext.gregs[REG_RSP], (uintptr_t)uc->uc_mcontext.gregs[REG_RBP]};
	uintptr_t pcs[CPROF_STACK_DEPTH];
	int cacheable;
	int n = cprof_cfi_unwind(&at, pcs, NULL, CPROF_STACK_DEPTH, &cacheable);
	uint32_t id;
	if (n > 0) {
		id = cprof_stack_intern(pcs, (uint32_t)n);
	} else {
		void *buf[CPROF_STACK_DEPTH + 8];
		n = cprof_unwind_raw(buf, CPROF_STACK_DEPTH + 8);
		int k = 0;
		while (k < n && (uintptr_t)buf[k] != ip)
			k++;
		if (k < n)
			id = cprof_stack_intern((const uintptr_t *)(buf + k), (uint32_t)(n - k));
		else /* unwinding did not pass the signal frame: the PC alone */
			id = cprof_stack_intern(&ip, 1);
	}
	atomic_fetch_add_explicit(&counts[id], weight, memory_order_relaxed);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	self->busy--;
	uint64_t arg = id;
	cprof_record(CPROF_EV_CPU_SAMPLE, &arg, NULL, 0);
out:
	errno = saved_errno;
}

/* ---- timers ---- */

static clockid_t thread_cpu_clock(uint32_t tid)
{
	/* The kernel's encoding of a thread's CPU-time clock (CPUCLOCK_SCHED,
	 * per thread), what pthread_getcpuclockid returns for that thread. */
	return (clockid_t)((~(uint32_t)tid << 3) | 6u); /* unsigned: a left shift of a negative int is UB */
}

/* Creates and arms a timer delivering to tid; returns its id or -1. */
static int timer_arm(uint32_t tid, clockid_t clock)
{
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SAMPLE_SIGNAL;
	sev.sigev_value.sival_ptr = &cookie;
	sev._sigev_un._tid = (pid_t)tid;
	int id = -1;
	/* Raw syscalls: glibc's timer_* keep bookkeeping for SIGEV_THREAD that
	 * we do not need, and a raw id is what the handler sees. */
	if (syscall(SYS_timer_create, clock, &sev, &id))
		return -1;
	uint32_t hz = atomic_load_explicit(&active_hz, memory_order_relaxed);
	long period = 1000000000L / (long)(hz ? hz : 100);
	struct itimerspec it = {{period / 1000000000L, period % 1000000000L}, {period / 1000000000L, period % 1000000000L}};
	if (syscall(SYS_timer_settime, id, 0, &it, NULL)) {
		syscall(SYS_timer_delete, id);
		return -1;
	}
	return id;
}

static struct armed *find(uint32_t tid)
{
	for (uint32_t i = 0; i < nthreads; i++)
		if (threads[i].tid == tid)
			return &threads[i];
	return NULL;
}

static struct armed *add(uint32_t tid)
{
	if (nthreads == threads_cap) {
		uint32_t ncap = threads_cap ? threads_cap * 2 : 64;
		void *p = realloc(threads, ncap * sizeof *threads);
		if (!p)
			return NULL;
		threads = p;
		threads_cap = ncap;
	}
	threads[nthreads] = (struct armed){.tid = tid, .timer = -1};
	return &threads[nthreads++];
}

static void forget(struct armed *a)
{
	if (a->timer >= 0)
		syscall(SYS_timer_delete, a->timer);
	*a = threads[--nthreads];
}

/* Whether tid blocks the sampling signal now (/proc/self/task/TID/status, SigBlk). */
static int blocks_sigprof(uint32_t tid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/self/task/%u/status", tid);
	if (!cprof_read_small(path, buf, sizeof buf))
		return 1; /* gone, or unknowable: do not arm */
	const char *p = strstr(buf, "SigBlk:");
	if (!p)
		return 1;
	unsigned long long mask = strtoull(p + 7, NULL, 16);
	return (mask >> (SAMPLE_SIGNAL - 1)) & 1;
}

/* Arms the calling thread (the only one: cprof_only_thread()). Lock held. */
static void arm_self(void)
{
	uint32_t tid = cprof_gettid();
	sigset_t cur;
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	struct armed *a = find(tid);
	if (!a && !(a = add(tid)))
		return;
	a->seen = 1;
	if (a->timer < 0 && !a->internal && !sigismember(&cur, SAMPLE_SIGNAL))
		a->timer = timer_arm(tid, CLOCK_THREAD_CPUTIME_ID);
}

/* Arms every thread that has no timer, deletes timers of threads that are
 * gone (or whose timer died with an earlier thread of the same tid).
 * Lock held. */
static void rescan(void)
{
	for (uint32_t i = 0; i < nthreads; i++)
		threads[i].seen = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		long tid = strtol(e->d_name, NULL, 10);
		if (tid <= 0)
			continue;
		struct armed *a = find((uint32_t)tid);
		if (a && a->timer >= 0) {
			/* A periodic timer always has time left while its thread
			 * lives; 0 means its thread died (the tid was reused). */
			struct itimerspec cur;
			if (syscall(SYS_timer_gettime, a->timer, &cur) == 0 &&
			    (cur.it_value.tv_sec || cur.it_value.tv_nsec)) {
				a->seen = 1;
				continue;
			}
			syscall(SYS_timer_delete, a->timer);
			a->timer = -1;
		}
		if (a && a->internal) {
			a->seen = 1;
			continue;
		}
		if (!a && !(a = add((uint32_t)tid)))
			continue;
		a->seen = 1;
		if (!blocks_sigprof((uint32_t)tid))
			a->timer = timer_arm((uint32_t)tid, thread_cpu_clock((uint32_t)tid));
	}
	if (d)
		closedir(d);
	for (uint32_t i = 0; i < nthreads;) {
		if (!threads[i].seen) {
			forget(&threads[i]);
			continue;
		}
		i++;
	}
}

static void disarm_all(void)
{
	for (uint32_t i = 0; i < nthreads;) {
		if (threads[i].internal) {
			i++;
			continue;
		}
		forget(&threads[i]);
	}
}

/* The program took the signal over while we sample: stop. Lock held. */
static int handler_lost(void)
{
	struct sigaction cur;
	sigaction(SAMPLE_SIGNAL, NULL, &cur);
	return !(cur.sa_flags & SA_SIGINFO) || cur.sa_sigaction != on_sigprof;
}

static void *sampler_main(void *arg)
{
	(void)arg;
	cprof_me()->status = THREAD_INTERNAL;
	/* start_locked armed what there was: the first scan is a period later
	 * (a process that lives less never reads /proc/self/task). */
	struct timespec first = {0, RESCAN_NS};
	syscall(SYS_futex, &sampler_stop, FUTEX_WAIT_PRIVATE, 0, &first, NULL, 0);
	while (!atomic_load_explicit(&sampler_stop, memory_order_acquire)) {
		pthread_mutex_lock(&lock);
		int lost = handler_lost();
		if (lost) {
			fprintf(stderr, "cprof-trace: the program installed a handler for signal %d: CPU sampling stops\n",
				SAMPLE_SIGNAL);
			disarm_all();
			atomic_store_explicit(&active_hz, 0, memory_order_relaxed);
			installed = 0;
		} else {
			rescan();
		}
		pthread_mutex_unlock(&lock);
		if (lost)
			break;
		struct timespec t = {0, RESCAN_NS};
		/* Returns at once when sampler_stop is no longer 0 (woken by stop). */
		syscall(SYS_futex, &sampler_stop, FUTEX_WAIT_PRIVATE, 0, &t, NULL, 0);
	}
	return NULL;
}

static void thread_gone(void *arg)
{
	uint32_t tid = (uint32_t)(uintptr_t)arg;
	pthread_mutex_lock(&lock);
	struct armed *a = find(tid);
	if (a)
		forget(a);
	pthread_mutex_unlock(&lock);
}

/* ---- users ---- */

static int start_locked(void)
{
	if (users++)
		return 0;
	__atomic_store_n(&users_any, 1, __ATOMIC_RELAXED);
	if (!installed) {
		struct sigaction cur;
		sigaction(SAMPLE_SIGNAL, NULL, &cur);
		if ((cur.sa_flags & SA_SIGINFO) ? cur.sa_sigaction != on_sigprof
						: (cur.sa_handler != SIG_DFL && cur.sa_handler != SIG_IGN)) {
			users--;
			__atomic_store_n(&users_any, 0, __ATOMIC_RELAXED);
			return -ENOTSUP; /* the program uses the signal itself */
		}
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_sigprof;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigfillset(&sa.sa_mask); /* nothing else interrupts a sample */
		if (sigaction(SAMPLE_SIGNAL, &sa, NULL)) {
			users--;
			__atomic_store_n(&users_any, 0, __ATOMIC_RELAXED);
			return -errno;
		}
		installed = 1;
	}
	atomic_store_explicit(&active_hz, profile_hz, memory_order_relaxed);
	atomic_store_explicit(&sampler_stop, 0, memory_order_relaxed);
	if (cprof_only_thread())
		arm_self();
	else
		rescan();
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* the sampler takes no signals */
	sampler_running = pthread_create(&sampler, NULL, sampler_main, NULL) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

int cprof_cpu_start(void)
{
	struct cprof_thread *self = cprof_me();
	self->busy++;
	pthread_mutex_lock(&lock);
	int rc = start_locked();
	pthread_mutex_unlock(&lock);
	self->busy--;
	return rc;
}

void cprof_cpu_stop(void)
{
	struct cprof_thread *self = cprof_me();
	self->busy++;
	pthread_mutex_lock(&lock);
	int join = 0;
	if (users > 0 && --users == 0) {
		__atomic_store_n(&users_any, 0, __ATOMIC_RELAXED);
		disarm_all();
		atomic_store_explicit(&active_hz, 0, memory_order_relaxed);
		atomic_store_explicit(&sampler_stop, 1, memory_order_release);
		syscall(SYS_futex, &sampler_stop, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		join = sampler_running;
		sampler_running = 0;
	}
	pthread_mutex_unlock(&lock);
	if (join)
		pthread_join(sampler, NULL);
	self->busy--;
}

void cprof_cpu_capture_begin(void)
{
	if (capture_hz && cprof_cpu_start() == 0)
		capture_sampling = 1;
}

void cprof_cpu_capture_end(void)
{
	if (capture_sampling) {
		capture_sampling = 0;
		cprof_cpu_stop();
	}
}

void cprof_cpu_describe(struct cprof_header *h)
{
	h->has_cpu_hz = 1;
	h->cpu_hz = capture_hz;
}

void cprof_cpu_header(struct cprof_header *h)
{
	h->has_cpu_hz = 1;
	h->cpu_hz = atomic_load_explicit(&active_hz, memory_order_relaxed);
}

void cprof_cpu_thread_start(void)
{
	struct cprof_thread *self = cprof_me();
	int internal = self->status == THREAD_INTERNAL;
	/* Unlocked peek: a thread that misses a start racing with it is armed
	 * by the sampler's next scan. */
	if (!internal && !__atomic_load_n(&users_any, __ATOMIC_RELAXED))
		return;
	self->busy++;
	uint32_t tid = cprof_gettid();
	sigset_t cur;
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	/* A program thread never waits for the sampler's scan (it holds the
	 * lock while reading /proc): if the lock is busy, that scan or the
	 * next one (100 ms) arms it. The tracer's own threads must register. */
	if (internal)
		pthread_mutex_lock(&lock);
	else if (pthread_mutex_trylock(&lock)) {
		self->busy--;
		return;
	}
	struct armed *a = find(tid);
	if (a && a->timer >= 0) { /* left by an earlier thread of this tid */
		syscall(SYS_timer_delete, a->timer);
		a->timer = -1;
	}
	if (!a)
		a = add(tid);
	if (a) {
		a->internal = (uint8_t)internal;
		if (!internal && users && !sigismember(&cur, SAMPLE_SIGNAL))
			a->timer = timer_arm(tid, CLOCK_THREAD_CPUTIME_ID);
		if (exit_key_ready)
			pthread_setspecific(exit_key, (void *)(uintptr_t)tid);
	}
	pthread_mutex_unlock(&lock);
	self->busy--;
}

__attribute__((constructor(102))) static void cpu_init(void)
{
	if (pthread_key_create(&exit_key, thread_gone) == 0)
		exit_key_ready = 1;
	/* New threads arm themselves (interpose/thread.c calls up through this). */
	__atomic_store_n(&cprof_thread_start_hook, cprof_cpu_thread_start, __ATOMIC_RELEASE);
}

int cprof_cpu_sample_self(void)
{
	/* What a timer expiry delivers (SI_TIMER, our cookie), queued to this
	 * thread now: rt_tgsigqueueinfo may forge a negative si_code for
	 * oneself. Sampling must be started (the handler installed). */
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = SAMPLE_SIGNAL;
	si.si_code = SI_TIMER;
	si.si_value.sival_ptr = &cookie;
	return (int)syscall(SYS_rt_tgsigqueueinfo, (long)getpid(), (long)cprof_gettid(), (long)SAMPLE_SIGNAL, &si);
}

void cprof_cpu_counts(uint64_t *dst)
{
	for (uint32_t i = 0; i <= CPROF_STACK_IDS; i++)
		dst[i] = atomic_load_explicit(&counts[i], memory_order_relaxed);
}

uint64_t cprof_cpu_dropped(void)
{
	return atomic_load_explicit(&dropped, memory_order_relaxed);
}

void cprof_cpu_after_fork_child(void)
{
	/* Timers and the sampler thread do not survive fork; the handler
	 * stays (harmless without timers). */
	free(threads);
	threads = NULL;
	nthreads = threads_cap = 0;
	users = 0;
	users_any = 0;
	capture_sampling = 0;
	sampler_running = 0;
	atomic_store_explicit(&active_hz, 0, memory_order_relaxed);
	pthread_mutex_init(&lock, NULL);
}
