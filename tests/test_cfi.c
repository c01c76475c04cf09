/*
 * Our CFI unwinder (stacks/cfi.c) against libunwind, the oracle: from the
 * same places (recursion, alloca and VLA frames whose CFA is the frame
 * pointer, frame-pointer code, a 64 KiB frame, another thread, samples
 * taken by a CPU-time signal in the middle of arbitrary code) both must
 * give the same return addresses, and ours must not have handed any of
 * these stacks to libunwind. Then hostile registers (random PCs, stack
 * words of random "return addresses") must never make it read outside
 * the stack: the test survives, and walks either end or refuse.
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include <alloca.h>
#include <dlfcn.h>
#include <errno.h>
#include <libunwind.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <ucontext.h>

#include "check.h"
#include "core/internal.h"
#include "stacks/cfi.h"
#include "stacks/stack.h"
#include "stacks/unwind_raw.h" /* libunwind as the tracer calls it (TSan: frame by frame) */

#define MAXF 64
static volatile int sinkv;
static int compared, mismatches, refused;

/* Both walks from here: ours from cprof_cfi_here's return point, libunwind's
 * from its getcontext; each one's first PC is in this function, every
 * return address after it must be the same. */
__attribute__((noinline)) static void both_here(void)
{
	uintptr_t ours[MAXF];
	void *lib[MAXF];
	struct cfi_regs r;
	cprof_cfi_here(&r);
	int cacheable;
	int n = cprof_cfi_unwind(&r, ours, NULL, MAXF, &cacheable);
	int m = cprof_unwind_raw(lib, MAXF);
	compared++;
	if (n < 0) {
		refused++;
		return;
	}
	/* libunwind's first frame may be its own unw_backtrace: align on our
	 * first return address */
	int k = 0;
	while (k < m && (uintptr_t)lib[k] != ours[1])
		k++;
	if (n < 2 || k == m || m - k != n - 1 || memcmp(ours + 1, lib + k, (size_t)(n - 1) * sizeof *ours) != 0) {
		if (mismatches++ < 3) {
			fprintf(stderr, "mismatch: ours %d frames, libunwind %d (aligned at %d)\n", n, m, k);
			for (int i = 0; i < n || i < m; i++)
				fprintf(stderr, "  %2d %#18lx %#18lx\n", i, i < n ? (unsigned long)ours[i] : 0ul,
					i < m ? (unsigned long)lib[i] : 0ul);
		}
	}
	sinkv++;
}

__attribute__((noinline)) static void rec(int d)
{
	if (d == 0)
		both_here();
	else
		rec(d - 1);
	sinkv++;
}

__attribute__((noinline)) static void with_alloca(size_t n)
{
	char *p = alloca(n);
	memset(p, 1, n);
	rec(2);
	sinkv += p[n / 2];
}

__attribute__((noinline)) static void with_vla(int n)
{
	char v[n];
	memset(v, 2, (size_t)n);
	with_alloca((size_t)n + 8);
	sinkv += v[n - 1];
}

__attribute__((noinline, optimize("no-omit-frame-pointer"))) static void with_fp(int d)
{
	volatile char pad[40];
	pad[d % 40] = 1;
	rec(d);
	sinkv += pad[0];
}

__attribute__((noinline)) static void big_frame(int d)
{
	volatile char big[65536];
	big[d * 1000] = 1;
	with_fp(d);
	sinkv += big[100];
}

static void shapes(void)
{
	for (int i = 0; i < 40; i++) {
		rec(i % 13);
		with_alloca((size_t)(i % 5) * 64 + 16);
		with_vla(i % 7 + 1);
		with_fp(i % 6);
		big_frame(i % 9);
	}
}

/* ---- samples: a CPU-time signal interrupts arbitrary code ---- */

static volatile int in_sampling;
static int samples, sample_refused, sample_mismatch;

static void on_prof(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	if (!in_sampling)
		return;
	int saved_errno = errno;
	const ucontext_t *uc = ucv;
	uintptr_t ip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	struct cfi_regs r = {ip, (uintptr_t)uc->uc_mcontext.gregs[REG_RSP], (uintptr_t)uc->uc_mcontext.gregs[REG_RBP]};
	uintptr_t ours[MAXF];
	void *lib[MAXF];
	int cacheable;
	int n = cprof_cfi_unwind(&r, ours, NULL, MAXF, &cacheable);
	int m = cprof_unwind_raw(lib, MAXF);
	samples++;
	if (n < 0) {
		sample_refused++;
	} else {
		int k = 0;
		while (k < m && (uintptr_t)lib[k] != ip)
			k++;
		/* every frame both have must agree */
		int common = m - k < n ? m - k : n;
		if (k == m || common < 2 || memcmp(ours, lib + k, (size_t)common * sizeof *ours) != 0)
			sample_mismatch++;
	}
	errno = saved_errno;
}

__attribute__((noinline)) static double spin(int d, double x)
{
	if (d > 0)
		return spin(d - 1, x * 1.0000001) + 1;
	for (int i = 0; i < 20000; i++)
		x = x * 1.0000001 + (double)(i & 7);
	return x;
}

static void sample_for(int ms)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_prof;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGPROF, &sa, NULL);
	struct itimerval it = {{0, 1000}, {0, 1000}};
	in_sampling = 1;
	setitimer(ITIMER_PROF, &it, NULL);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	double acc = 0;
	do {
		for (int d = 0; d < 12; d++) {
			acc += spin(d, 1.0);
			char *p = malloc(64 + (size_t)d * 100); /* and libc's code */
			snprintf(p, 64, "%f", acc);
			acc += (double)strlen(p);
			free(p);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < ms);
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_PROF, &off, NULL);
	in_sampling = 0;
	sinkv += (int)acc;
}

/* ---- hostile registers ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

__attribute__((noinline)) static int hostile(void)
{
	/* stack words that look like return addresses into real code, frame
	 * sizes and garbage; the walk starts at their bottom */
	uintptr_t words[512];
	uintptr_t code[] = {(uintptr_t)rec, (uintptr_t)with_alloca, (uintptr_t)spin, (uintptr_t)memcpy,
			    (uintptr_t)printf, (uintptr_t)malloc};
	int ended = 0;
	for (int round = 0; round < 2000; round++) {
		for (int i = 0; i < 512; i++) {
			uint64_t v = next();
			switch (v & 3) {
			case 0: words[i] = code[(v >> 8) % 6] + ((v >> 16) & 0x3ff); break;
			case 1: words[i] = (uintptr_t)&words[(v >> 8) % 512]; break;
			case 2: words[i] = v >> 20; break;
			default: words[i] = v; break;
			}
		}
		uint64_t v = next();
		struct cfi_regs r = {code[v % 6] + ((v >> 8) & 0xfff), (uintptr_t)&words[(v >> 24) % 64],
				     (uintptr_t)&words[(v >> 32) % 512]};
		if (round % 3 == 0)
			r.fp = next();
		uintptr_t pcs[MAXF];
		int cacheable;
		if (cprof_cfi_unwind(&r, pcs, NULL, MAXF, &cacheable) >= 0)
			ended++;
		sinkv += (int)(words[v % 512] & 0xff);
	}
	return ended;
}

/* ---- code unmapped and other code mapped at the same addresses ---- */

/* The frame between both_here's caller and the plugin: once a plugin with
 * another frame size sits where the first one was, rules cached for the
 * first would step over it (the walk then skipped this frame). */
static uintptr_t plugin_walk[2][MAXF];
static int plugin_n[2], plugin_i;

/* Called by the plugin: our walk, kept. */
__attribute__((noinline)) static void in_plugin(void)
{
	struct cfi_regs r;
	cprof_cfi_here(&r);
	int cacheable;
	plugin_n[plugin_i] = cprof_cfi_unwind(&r, plugin_walk[plugin_i], NULL, MAXF, &cacheable);
	if (plugin_i == 0)
		both_here(); /* libunwind's walk agrees; for the second, it is no oracle (below) */
}

__attribute__((noinline)) static void through_plugin(int (*call)(void (*)(void)))
{
	volatile char pad[3056];
	pad[0] = 1;
	call(in_plugin);
	sinkv += pad[0];
}

/* Returns 1 when the second plugin was mapped where the first had been. */
static int plugins(void)
{
	const char *names[] = {PLUGIN_DIR "/libcfi_plugin_4096.so", PLUGIN_DIR "/libcfi_plugin_1024.so"};
	void *at[2] = {0};
	for (int i = 0; i < 2; i++) {
		void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		CHECKF(h != NULL, "dlopen %s: %s", names[i], dlerror());
		if (!h)
			return 0;
		int (*call)(void (*)(void)) = (int (*)(void (*)(void)))dlsym(h, "plugin_call");
		at[i] = (void *)call;
		plugin_i = i;
		through_plugin(call);
		CHECK(dlclose(h) == 0);
	}
	return at[0] == at[1];
}

/* ---- a stack that is not the thread's (a coroutine's) ---- */

static ucontext_t main_ctx, co_ctx;
static int co_walk;

static void on_coroutine(void)
{
	struct cfi_regs r;
	cprof_cfi_here(&r);
	uintptr_t pcs[MAXF];
	int cacheable;
	co_walk = cprof_cfi_unwind(&r, pcs, NULL, MAXF, &cacheable);
}

static void *thread_main(void *arg)
{
	(void)arg;
#ifdef __SANITIZE_THREAD__
	cprof_cfi_thread_start(); /* TSan builds start threads without our trampoline */
#endif
	shapes();
	return NULL;
}

int main(void)
{
	cprof_stacks_init();
	uint64_t fb0 = cprof_cfi_fallbacks();
	shapes();
	CHECKF(compared == 200 * 1, "%d walks compared", compared);
	CHECKF(mismatches == 0, "%d of %d walks differ from libunwind's", mismatches, compared);
	CHECKF(refused == 0, "%d of %d walks refused", refused, compared);

	pthread_t t;
	CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECKF(mismatches == 0, "%d walks differ from libunwind's on a thread", mismatches);
	CHECKF(refused == 0, "%d walks refused on a thread", refused);
	CHECKF(cprof_cfi_fallbacks() == fb0, "%llu walks left to libunwind",
	       (unsigned long long)(cprof_cfi_fallbacks() - fb0));

	/* The first plugin's walk agrees with libunwind's (both_here). Where
	 * the second sits at the first's addresses, its code and call sites are
	 * the same, so its walk must give the same return addresses: rules
	 * kept from the first (its other frame size) skipped through_plugin.
	 * libunwind is no oracle there: its caches keep the old rules too. */
	int mism0 = mismatches, reused = plugins();
	CHECKF(mismatches == mism0, "%d walks through the first plugin differ from libunwind's", mismatches - mism0);
	CHECKF(plugin_n[1] > 3, "the walk through the second plugin gave %d frames", plugin_n[1]);
	if (reused)
		CHECKF(plugin_n[0] > 3 && plugin_n[1] == plugin_n[0] &&
			       memcmp(plugin_walk[0], plugin_walk[1], (size_t)plugin_n[0] * sizeof(uintptr_t)) == 0,
		       "after dlclose, a plugin at the same addresses walks %d frames, the first %d (or other PCs)",
		       plugin_n[1], plugin_n[0]);
	printf("test_cfi: the second plugin %s the first's addresses\n", reused ? "reuses" : "does not reuse");

	sample_for(300);
	CHECKF(samples >= 20, "%d samples", samples);
#ifndef __SANITIZE_THREAD__
	/* TSan runs handlers late, at its own safe points, with the context of
	 * the delivery: libunwind then walks another stack than the context's,
	 * and the comparison means nothing (the walks still ran, unharmed). */
	CHECKF(sample_mismatch == 0, "%d of %d samples differ from libunwind's", sample_mismatch, samples);
	/* a sample in a PLT stub or hand-written code without a rule we
	 * follow is libunwind's: a few, not most */
	CHECKF(sample_refused * 10 <= samples, "%d of %d samples refused", sample_refused, samples);
#endif

	/* on a stack of its own, the walk cannot know what is mapped above: it
	 * leaves the stack to libunwind */
	static char co_stack[64 * 1024];
	getcontext(&co_ctx);
	co_ctx.uc_stack.ss_sp = co_stack;
	co_ctx.uc_stack.ss_size = sizeof co_stack;
	co_ctx.uc_link = &main_ctx;
	makecontext(&co_ctx, on_coroutine, 0);
	co_walk = 99;
	CHECK(swapcontext(&main_ctx, &co_ctx) == 0);
	CHECKF(co_walk == -1, "a walk on a coroutine's stack gave %d", co_walk);

	int ended = hostile();
	printf("test_cfi: %d walks, %d samples (%d left to libunwind), %d of 2000 hostile walks ended\n", compared,
	       samples, sample_refused, ended);
	return check_done("test_cfi");
}
