/* burst N: N empty regions in a tight loop (~50 M events/s), enough to
 * overflow a small ring between two drainer passes; prints the drops. */
#include <cprof/trace.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	for (long i = 0; i < n; i++) {
		TRACE_REGION("burst");
	}
	printf("burst: %ld regions, %llu events dropped\n", n, (unsigned long long)cprof_trace_dropped());
	return 0;
}
