/* Built without unwind tables (tests/CMakeLists.txt): libunwind finds no
 * DWARF for this frame and falls back to the frame chain, validating each
 * address through its pipe. */
#include <time.h>

__attribute__((noinline)) void noinfo_sleep(void)
{
	struct timespec d = {0, 2000000}; /* 2 ms: a blocking call with a stack */
	nanosleep(&d, NULL);
}
