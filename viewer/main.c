/*
 * cprof-trace: the command-line viewer of cprof-trace files.
 * Flags follow `go tool trace`: -flag or -flag=value, then the file.
 */
#include <stdio.h>
#include <string.h>

#include "viewer.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: cprof-trace [flags] FILE\n"
		"  -dump     print the trace event by event (like go tool trace -d)\n"
		"  -json=OUT write Chrome trace-event JSON (Perfetto UI, chrome://tracing) to OUT (- : stdout)\n"
		"  -h        this help\n");
}

int main(int argc, char **argv)
{
	int dump = 0;
	const char *file = NULL, *json = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] == '-' && a[1] == '-')
			a++; /* --flag works like -flag */
		if (strcmp(a, "-dump") == 0 || strcmp(a, "-d") == 0) {
			dump = 1;
		} else if (strncmp(a, "-json=", 6) == 0 && a[6]) {
			json = a + 6;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "-help") == 0) {
			usage(stdout);
			return 0;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "cprof-trace: unknown flag %s\n", argv[i]);
			usage(stderr);
			return 2;
		} else if (!file) {
			file = argv[i];
		} else {
			fprintf(stderr, "cprof-trace: more than one file given (%s)\n", argv[i]);
			return 2;
		}
	}
	if (!file) {
		usage(stderr);
		return 2;
	}
	if (json)
		return viewer_json(file, json);
	if (!dump) {
		fprintf(stderr, "cprof-trace: the web UI is not built yet: use -dump or -json=OUT\n");
		return 2;
	}
	return viewer_dump(file, stdout);
}
