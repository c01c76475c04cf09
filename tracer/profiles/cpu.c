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
 * one while we sample, the periodic duty (below) notices within ~100 ms and
 * stops.
 *
 * Timers are armed by the new thread itself (cprof_cpu_thread_start, from
 * the pthread_create trampoline) and, for threads that did not start
 * through it (the main thread, threads that existed before sampling
 * started, threads made by raw clone or libc's own pthread_create), at start
 * (by one scan of /proc/self/task, or directly when the starting thread is
 * the process's only one) and then by the periodic duty: every 100 ms, check
 * that our handler is still installed and scan /proc/self/task again, which
 * also deletes the timers of threads that are gone.
 *
 * Who does the duty: during a drain capture the capture's drainer thread
 * already wakes at least every drain_ms, so it does (cprof_cpu_tick): a
 * captured process then has one tracer thread, not two (a tree of short
 * processes paid each one's creation, arena and exit). Otherwise, or when
 * another user (a /debug/pprof/profile request) needs sampling without such
 * a capture, a sampler thread does, until sampling stops; never both at
 * once (tick_on).
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

#define RESCAN_NS 100000000u /* the periodic duty's period, ns */
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
/* Users whose drainer ticks (cprof_cpu_tick): 0 or 1, <= users. */
static int ticked_users;
static int installed;        /* our handler is installed */
static uint32_t capture_hz = 100, profile_hz = 100;
static _Atomic uint32_t active_hz; /* 0 when not sampling */
static int capture_sampling; /* the running capture is a user: 1, or 2 when its drainer ticks */
static pthread_t sampler;
static int sampler_running;  /* a sampler thread exists, not yet told to stop */
/* Bumped to stop the running sampler; each sampler sleeps on this word,
 * expecting the value it started with, with a raw futex wait (no condition
 * variable: the program's pthread functions are interposed, and under TSan
 * its interceptors model them; a raw futex is neither). A generation, not
 * a flag: a sampler started while an earlier one is being joined cannot
 * keep the earlier one alive. */
static _Atomic uint32_t sampler_gen;
/* The drainer does the duty: a ticked user samples, the handler is ours
 * and no sampler thread runs. Written under lock, read unlocked by ticks. */
static _Atomic int tick_on;
/* CLOCK_MONOTONIC ns of the drainer's next duty; under lock. */
static uint64_t tick_due_ns;
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

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Who does the duty, after users, ticked_users, installed or the sampler
 * changed. Lock held. */
static void tick_update(void)
{
	atomic_store_explicit(&tick_on, installed && ticked_users > 0 && !sampler_running, memory_order_relaxed);
}

/* The periodic duty (file comment). Returns 0 once the program took the
 * signal over (sampling stopped for every user). Lock held. */
static int duty(void)
{
	if (handler_lost()) {
		fprintf(stderr, "cprof-trace: the program installed a handler for signal %d: CPU sampling stops\n",
			SAMPLE_SIGNAL);
		disarm_all();
		atomic_store_explicit(&active_hz, 0, memory_order_relaxed);
		installed = 0;
		tick_update();
		return 0;
	}
	rescan();
	return 1;
}

static void *sampler_main(void *arg)
{
	uint32_t gen = (uint32_t)(uintptr_t)arg; /* ours while we run */
	cprof_me()->status = THREAD_INTERNAL;
	/* start_locked armed what there was: the first scan is a period later
	 * (a process that lives less never reads /proc/self/task). */
	for (;;) {
		struct timespec t = {0, RESCAN_NS};
		/* Returns at once when sampler_gen is no longer gen (woken by a stop). */
		syscall(SYS_futex, &sampler_gen, FUTEX_WAIT_PRIVATE, gen, &t, NULL, 0);
		if (atomic_load_explicit(&sampler_gen, memory_order_acquire) != gen)
			break;
		pthread_mutex_lock(&lock);
		int go_on = duty();
		pthread_mutex_unlock(&lock);
		if (!go_on)
			break;
	}
	return NULL;
}

/* Starts a sampler thread. Lock held. */
static void sampler_start(void)
{
	uint32_t gen = atomic_load_explicit(&sampler_gen, memory_order_relaxed);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* the sampler takes no signals */
	sampler_running = pthread_create(&sampler, NULL, sampler_main, (void *)(uintptr_t)gen) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	tick_update();
}

/* Tells the running sampler to stop; returns 1 and its handle in *t, for
 * the caller to join once the lock is released, or 0. Lock held. */
static int sampler_stop(pthread_t *t)
{
	if (!sampler_running)
		return 0;
	atomic_fetch_add_explicit(&sampler_gen, 1, memory_order_release);
	syscall(SYS_futex, &sampler_gen, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
	*t = sampler;
	sampler_running = 0;
	tick_update();
	return 1;
}

uint64_t cprof_cpu_tick(uint64_t now_ns)
{
	if (!atomic_load_explicit(&tick_on, memory_order_relaxed))
		return UINT64_MAX;
	struct cprof_thread *self = cprof_me();
	self->busy++;
	pthread_mutex_lock(&lock);
	uint64_t left = UINT64_MAX;
	if (atomic_load_explicit(&tick_on, memory_order_relaxed)) {
		if (now_ns >= tick_due_ns) {
			tick_due_ns = now_ns + RESCAN_NS;
			duty();
		}
		if (atomic_load_explicit(&tick_on, memory_order_relaxed))
			left = tick_due_ns - now_ns;
	}
	pthread_mutex_unlock(&lock);
	self->busy--;
	return left;
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

/* ticked: this user's drainer calls cprof_cpu_tick until it stops. */
static int start_locked(int ticked)
{
	if (users++) {
		ticked_users += ticked;
		/* A user without a drainer needs the sampler (unless sampling
		 * stopped: the program took the signal over). */
		if (!ticked && installed && !sampler_running)
			sampler_start();
		tick_update();
		return 0;
	}
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
	if (cprof_only_thread())
		arm_self();
	else
		rescan();
	ticked_users = ticked;
	/* The first duty is a period later (a process that lives less never
	 * reads /proc/self/task). */
	tick_due_ns = mono_ns() + RESCAN_NS;
	if (!ticked)
		sampler_start();
	tick_update();
	return 0;
}

static int start(int ticked)
{
	struct cprof_thread *self = cprof_me();
	self->busy++;
	pthread_mutex_lock(&lock);
	int rc = start_locked(ticked);
	pthread_mutex_unlock(&lock);
	self->busy--;
	return rc;
}

int cprof_cpu_start(void)
{
	return start(0);
}

static void stop(int ticked)
{
	struct cprof_thread *self = cprof_me();
	self->busy++;
	pthread_mutex_lock(&lock);
	pthread_t t;
	int join = 0;
	if (users > 0) {
		users--;
		ticked_users -= ticked;
		if (users == 0) {
			__atomic_store_n(&users_any, 0, __ATOMIC_RELAXED);
			disarm_all();
			atomic_store_explicit(&active_hz, 0, memory_order_relaxed);
			join = sampler_stop(&t);
		} else if (users > ticked_users && installed && !sampler_running) {
			sampler_start(); /* the drainer that did the duty is ending */
		}
		tick_update();
	}
	pthread_mutex_unlock(&lock);
	if (join)
		pthread_join(t, NULL);
	self->busy--;
}

void cprof_cpu_stop(void)
{
	stop(0);
}

void cprof_cpu_capture_begin(int drainer)
{
	if (capture_hz && start(drainer != 0) == 0)
		capture_sampling = drainer ? 2 : 1;
}

void cprof_cpu_capture_end(void)
{
	if (capture_sampling) {
		int ticked = capture_sampling == 2;
		capture_sampling = 0;
		stop(ticked);
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
	 * by the next periodic scan. */
	if (!internal && !__atomic_load_n(&users_any, __ATOMIC_RELAXED))
		return;
	self->busy++;
	uint32_t tid = cprof_gettid();
	sigset_t cur;
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	/* A program thread never waits for a periodic scan (it holds the
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
	/* Timers, the sampler thread and the drainer do not survive fork; the handler
	 * stays (harmless without timers). */
	free(threads);
	threads = NULL;
	nthreads = threads_cap = 0;
	users = 0;
	users_any = 0;
	ticked_users = 0;
	capture_sampling = 0;
	sampler_running = 0;
	atomic_store_explicit(&tick_on, 0, memory_order_relaxed);
	atomic_store_explicit(&active_hz, 0, memory_order_relaxed);
	pthread_mutex_init(&lock, NULL);
}
