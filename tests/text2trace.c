/* text2trace IN.txt OUT.trace: a trace in text (text_trace.h) as a binary
 * trace file, to look at a golden case with cprof-trace itself. */
#include <stdio.h>
#include <stdlib.h>

#include "slurp.h"
#include "text_trace.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: text2trace IN.txt OUT.trace\n");
		return 2;
	}
	char *text = slurp(argv[1], NULL);
	if (!text) {
		perror(argv[1]);
		return 1;
	}
	struct trace_buf b = {0};
	char err[300];
	if (text_trace_convert(text, &b, err, sizeof err)) {
		fprintf(stderr, "text2trace: %s: %s\n", argv[1], err);
		return 1;
	}
	FILE *f = fopen(argv[2], "wb");
	if (!f || fwrite(b.p, 1, b.len, f) != b.len || fclose(f)) {
		perror(argv[2]);
		return 1;
	}
	trace_buf_free(&b);
	free(text);
	return 0;
}
