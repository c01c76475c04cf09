/*
 * cprof-trace: the command-line viewer of cprof-trace files.
 * Flags follow `go tool trace`: -flag or -flag=value, then the file.
 */
#define _GNU_SOURCE /* mkostemp */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis.h"
#include "viewer.h"
#include "walk.h"

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
		"  -pid=PID       a process tree's trace: only this process (reports, pprof, web UI)\n"
		"  -h             this help\n",
		reports, profiles);
}

/* Commands read the file more than once (the walk's two passes, the UI's
 * index and drill-downs). A pipe or terminal can be read only once: its
 * bytes go to an unlinked temporary file first, opened again through
 * /proc/self/fd. Returns the path to read, or NULL with a message. */
static const char *seekable(const char *file, char *buf, size_t len)
{
	struct stat st;
	if (stat(file, &st) != 0 || S_ISREG(st.st_mode))
		return file; /* the reader reports a missing file */
	int in = open(file, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return file;
	const char *dir = getenv("TMPDIR");
	char tmpl[4096];
	snprintf(tmpl, sizeof tmpl, "%s/cprof-trace-XXXXXX", dir && *dir ? dir : "/tmp");
	int out = mkostemp(tmpl, O_CLOEXEC);
	if (out < 0) {
		fprintf(stderr, "cprof-trace: %s is not a regular file and %s: %s\n", file, tmpl, strerror(errno));
		close(in);
		return NULL;
	}
	unlink(tmpl);
	char b[1 << 16];
	ssize_t n;
	while ((n = read(in, b, sizeof b)) > 0 || (n < 0 && errno == EINTR))
		for (ssize_t off = 0, k; n > 0 && off < n; off += k)
			if ((k = write(out, b + off, (size_t)(n - off))) < 0) {
				fprintf(stderr, "cprof-trace: copying %s to %s: %s\n", file, tmpl, strerror(errno));
				close(in);
				close(out);
				return NULL;
			}
	close(in);
	snprintf(buf, len, "/proc/self/fd/%d", out); /* stays open until exit */
	return buf;
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
		} else if (strncmp(a, "-pid=", 5) == 0 && a[5]) {
			char *end;
			unsigned long v = strtoul(a + 5, &end, 10);
			if (*end || !v || v > 0xffffffffu) {
				fprintf(stderr, "cprof-trace: bad -pid=%s\n", a + 5);
				return 2;
			}
			walk_only_pid = (uint32_t)v;
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
	char spooled[64];
	if (!dump && !(file = seekable(file, spooled, sizeof spooled)))
		return 1;
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
