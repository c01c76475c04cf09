/*
 * Test program for heap sampling in a tree capture's descendants: keeps
 * 32 MiB in 64 KiB blocks (about 64 samples at the default rate), starts
 * the endpoint itself (cprof_http_start) unless CPROF_TRACE_ADDR did, prints
 * "addr HOST:PORT", and exits when stdin closes.
 */
#include <cprof/trace.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	static void *keep[512];
	for (int i = 0; i < 512; i++) {
		keep[i] = malloc(64 << 10);
		if (!keep[i])
			return 1;
		memset(keep[i], i, 64 << 10);
	}
	/* (already serving when CPROF_TRACE_ADDR was set) */
	if (!cprof_http_address() && cprof_http_start("127.0.0.1:0") != 0) {
		fprintf(stderr, "cprof_http_start failed\n");
		return 1;
	}
	printf("addr %s\n", cprof_http_address());
	fflush(stdout);
	while (getchar() != EOF)
		;
	for (int i = 0; i < 512; i++)
		free(keep[i]);
	return 0;
}
