/* The raw unwind both stack capturers use (stacks/stack.c for blocking
 * events, profiles/cpu.c for CPU samples). Internal; include after
 * <libunwind.h> with UNW_LOCAL_ONLY defined. */
#ifndef CPROF_UNWIND_RAW_H
#define CPROF_UNWIND_RAW_H

/* Up to max return addresses of the calling stack, innermost first (the
 * caller's own PC first: always inlined, so no frame of ours is added).
 * Async-signal-safe as libunwind's local unwinding is. Release builds use
 * unw_backtrace (its per-thread cache, signal-safe); TSan tears a thread
 * down before that cache's destructor runs and crashes in it, so TSan
 * builds step frame by frame through the global cache. */
static inline __attribute__((always_inline)) int cprof_unwind_raw(void **buf, int max)
{
#ifdef __SANITIZE_THREAD__
	int n = 0;
	unw_context_t ctx;
	unw_cursor_t cur;
	if (max > 0 && unw_getcontext(&ctx) == 0 && unw_init_local(&cur, &ctx) == 0) {
		do {
			unw_word_t ip;
			if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || !ip)
				break;
			buf[n++] = (void *)ip;
		} while (n < max && unw_step(&cur) > 0);
	}
	return n;
#else
	return unw_backtrace(buf, max);
#endif
}

#endif
