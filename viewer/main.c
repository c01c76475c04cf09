/*
 * cprof-trace: the command-line viewer of cprof-trace files.
 * Flags follow `go tool trace`: -flag or -flag=value, then the file.
 */
#include <stdio.h>
#include <string.h>

#include "analysis.h"
#include "viewer.h"

static void usage(FILE *out)
{
	char reports[200], profiles[200];
	analysis_list(reports, sizeof reports, 0);
	analysis_list(profiles, sizeof profiles, 1);
	fprintf(out,
		"usage: cprof-trace [flags] FILE\n"
		"With no flag: open the web UI (timeline and analyses) on 127.0.0.1.\n"
		"  -http=ADDR     serve the web UI on ADDR (host:port; default 127.0.0.1, a free port)\n"
		"  -no-browser    do not open a browser, only print the URL\n"
		"  -report=NAME   print an analysis: %s,\n"
		"                 or task:NAME (one task name's drill-down)\n"
		"  -format=json   with -report: machine-readable JSON instead of text\n"
		"  -range=S:E     with -report=cpu: only samples in [S, E) ns since the trace's first event\n"
		"  -pprof=TYPE    write a pprof profile (cpu, %s) to stdout\n"
		"  -json=OUT      write Chrome trace-event JSON (Perfetto UI, chrome://tracing) to OUT (- : stdout)\n"
		"  -dump          print the trace event by event (like go tool trace -d)\n"
		"  -h             this help\n",
		reports, profiles);
}

int main(int argc, char **argv)
{
	int dump = 0, json_format = 0, open_browser = 1;
	const char *file = NULL, *json = NULL, *report = NULL, *pprof = NULL, *http = NULL, *range = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] == '-' && a[1] == '-')
			a++; /* --flag works like -flag */
		if (strcmp(a, "-dump") == 0 || strcmp(a, "-d") == 0) {
			dump = 1;
		} else if (strncmp(a, "-json=", 6) == 0 && a[6]) {
			json = a + 6;
		} else if (strncmp(a, "-report=", 8) == 0 && a[8]) {
			report = a + 8;
		} else if (strncmp(a, "-range=", 7) == 0 && a[7]) {
			range = a + 7;
		} else if (strncmp(a, "-pprof=", 7) == 0 && a[7]) {
			pprof = a + 7;
		} else if (strncmp(a, "-http=", 6) == 0 && a[6]) {
			http = a + 6;
		} else if (strcmp(a, "-no-browser") == 0) {
			open_browser = 0;
		} else if (strcmp(a, "-format=json") == 0) {
			json_format = 1;
		} else if (strcmp(a, "-format=text") == 0) {
			json_format = 0;
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
	if (dump + !!json + !!report + !!pprof > 1) {
		fprintf(stderr, "cprof-trace: -dump, -json, -report and -pprof are exclusive\n");
		return 2;
	}
	if (json)
		return viewer_json(file, json);
	if (range && !report) {
		fprintf(stderr, "cprof-trace: -range goes with -report=cpu\n");
		return 2;
	}
	if (report)
		return viewer_report(file, report, json_format, range);
	if (pprof)
		return viewer_pprof(file, pprof);
	if (dump)
		return viewer_dump(file, stdout);
	return viewer_serve(file, http, open_browser);
}
