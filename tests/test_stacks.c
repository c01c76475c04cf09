/*
 * The whole-stack cache in front of libunwind (stacks/stack.c) must give
 * exactly the ids unwinding gives: the same call site reached through
 * different callers at the same stack depth, recursion, alloca frames
 * (whose CFA is the frame pointer: never cached), other threads. Each
 * capture is compared with one taken with the cache off from the same
 * place.
 */
#define _GNU_SOURCE
#include <alloca.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "core/internal.h"
#include "stacks/cfi.h"
#include "stacks/stack.h"

static volatile int sinkv, last_mode = 0;

/* Both ids from the same call site: cache on, then off. */
__attribute__((noinline)) static void leaf(uint32_t *on, uint32_t *off)
{
	uint32_t ids[2];
	for (int mode = 1; mode >= last_mode; mode--) { /* a loop, not two call sites */
		cprof_stack_cache_enabled = mode;
		ids[mode] = cprof_stack_here(0);
	}
	cprof_stack_cache_enabled = 1;
	*on = ids[1];
	*off = ids[0];
	sinkv++;
}

static uintptr_t mid_ra; /* where mid returns to */
__attribute__((noinline)) static void mid(uint32_t *on, uint32_t *off)
{
	leaf(on, off);
	mid_ra = (uintptr_t)__builtin_return_address(0);
	sinkv++;
}

/* Same frame size, different return addresses into them: the same key
 * (mid's call to leaf, at the same CFA), different stacks. */
__attribute__((noinline)) static void top1(uint32_t *on, uint32_t *off)
{
	mid(on, off);
	sinkv++;
}
__attribute__((noinline)) static void top2(uint32_t *on, uint32_t *off)
{
	mid(on, off);
	sinkv += 2;
}

__attribute__((noinline)) static void rec(int d, uint32_t *on, uint32_t *off)
{
	if (d == 0)
		mid(on, off);
	else
		rec(d - 1, on, off);
	sinkv++;
}

__attribute__((noinline)) static void with_alloca(size_t n, uint32_t *on, uint32_t *off)
{
	char *p = alloca(n);
	memset(p, 1, n);
	mid(on, off);
	sinkv += p[n / 2];
}
/* returns a PC in with_alloca (mid's return address) */
__attribute__((noinline)) static uintptr_t call_alloca(size_t n, uint32_t *on, uint32_t *off)
{
	with_alloca(n, on, off);
	sinkv++;
	return mid_ra;
}

static int mismatches;
static void compare(uint32_t on, uint32_t off)
{
	if (on != off || on == 0)
		mismatches++;
}

static void *run(void *arg)
{
#ifdef __SANITIZE_THREAD__
	if (arg)
		cprof_cfi_thread_start(); /* TSan builds start threads without our trampoline */
#else
	(void)arg;
#endif
	uint32_t on, off;
	uint64_t hits0 = cprof_me()->stack_cache_hits;
	for (int i = 0; i < 200; i++) {
		top1(&on, &off);
		compare(on, off);
		uint32_t id1 = on;
		top2(&on, &off);
		compare(on, off);
		if (on == id1)
			mismatches++; /* two stacks, one id */
		rec(i % 7, &on, &off);
		compare(on, off);
		call_alloca((size_t)(i % 5) * 64 + 16, &on, &off);
		compare(on, off);
	}
	return (void *)(uintptr_t)(cprof_me()->stack_cache_hits - hits0);
}

int main(void)
{
	cprof_stacks_init();
	uint32_t on, off;
	uintptr_t in_alloca = call_alloca(32, &on, &off);
	/* Built with frame pointers (the sanitizer builds), every frame of
	 * ours has the frame pointer as its CFA: nothing is cached and every
	 * capture unwinds; the comparison still holds. */
	top1(&on, &off);
	struct cfi_rule mid_rule = cprof_cfi_rule(mid_ra - 1);
	int cacheable = mid_rule.ok && !mid_rule.cfa_fp;
	uintptr_t want = cacheable ? 100 : 0; /* of 800 captures; top1/top2 share a key, alloca never caches */
	void *hits = run(NULL);
	CHECKF(mismatches == 0, "%d captures differ from unwinding", mismatches);
	CHECKF(cacheable ? (uintptr_t)hits >= want : (uintptr_t)hits == 0, "%zu cache hits", (size_t)(uintptr_t)hits);

	pthread_t t;
	CHECK(pthread_create(&t, NULL, run, (void *)1) == 0);
	CHECK(pthread_join(t, &hits) == 0);
	CHECKF(mismatches == 0, "%d captures differ from unwinding on a thread", mismatches);
	CHECKF(cacheable ? (uintptr_t)hits >= want : (uintptr_t)hits == 0, "%zu cache hits on a thread",
	       (size_t)(uintptr_t)hits);

	/* a frame whose CFA is its frame pointer is never stepped over */
	struct cfi_rule alloca_rule = cprof_cfi_rule(in_alloca - 1);
	CHECKF(alloca_rule.ok && alloca_rule.cfa_fp, "alloca frame: rule ok %d, CFA at the frame pointer %d", alloca_rule.ok,
	       alloca_rule.cfa_fp);
	printf("test_stacks: %s, %zu cache hits on the thread\n", cacheable ? "cacheable frames" : "frame-pointer build",
	       (size_t)(uintptr_t)hits);
	return check_done("test_stacks");
}
