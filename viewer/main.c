/*
 * cprof-trace: the command-line viewer of cprof-trace files, and `record`.
 * Flags follow `go tool trace`: -flag or -flag=value, then the file; the
 * flags are the table in usage.c (which -h prints).
 */
#define _GNU_SOURCE /* mkostemp */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "viewer.h"
#include "walk.h"

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
	if (argc > 1 && strcmp(argv[1], "record") == 0)
		return viewer_record(argc - 1, argv + 1);
	int dump = 0, stats = 0, json_format = 0, open_browser = 1;
	const char *file = NULL, *json = NULL, *report = NULL, *pprof = NULL, *http = NULL, *range = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || !a[1]) {
			if (file) {
				fprintf(stderr, "cprof-trace: more than one file given (%s)\n", argv[i]);
				return 2;
			}
			file = a;
			continue;
		}
		/* -flag, --flag, -flag=value, -flag value (as Go's flag package) */
		const char *name = a + 1 + (a[1] == '-');
		size_t len = strcspn(name, "=");
		if (len == 1 && name[0] == 'd')
			name = "dump", len = 4;
		else if (len == 4 && strncmp(name, "help", 4) == 0)
			name = "h", len = 1;
		const struct cli_flag *f = NULL;
		for (const struct cli_flag *t = cli_view_flags; t->name && !f; t++)
			if (strlen(t->name) == len && strncmp(t->name, name, len) == 0)
				f = t;
		if (!f) {
			cli_unknown_flag(a, cli_view_flags);
			return 2;
		}
		const char *val = NULL;
		if (f->arg) {
			val = name[len] == '=' ? name + len + 1 : i + 1 < argc ? argv[++i] : NULL;
			if (!val || !*val) {
				fprintf(stderr, "cprof-trace: -%s needs a value (-%s=%s)\n", f->name, f->name, f->arg);
				return 2;
			}
		} else if (name[len] == '=') {
			fprintf(stderr, "cprof-trace: -%s takes no value\n", f->name);
			return 2;
		}
		if (strcmp(f->name, "dump") == 0) {
			dump = 1;
		} else if (strcmp(f->name, "stats") == 0) {
			stats = 1;
		} else if (strcmp(f->name, "json") == 0) {
			json = val;
		} else if (strcmp(f->name, "report") == 0) {
			report = val;
		} else if (strcmp(f->name, "range") == 0) {
			range = val;
		} else if (strcmp(f->name, "pprof") == 0) {
			pprof = val;
		} else if (strcmp(f->name, "http") == 0) {
			http = val;
		} else if (strcmp(f->name, "pid") == 0) {
			char *end;
			unsigned long v = strtoul(val, &end, 10);
			if (*end || !v || v > 0xffffffffu) {
				fprintf(stderr, "cprof-trace: bad -pid=%s\n", val);
				return 2;
			}
			walk_only_pid = (uint32_t)v;
		} else if (strcmp(f->name, "no-browser") == 0) {
			open_browser = 0;
		} else if (strcmp(f->name, "format") == 0) {
			if (strcmp(val, "json") && strcmp(val, "text")) {
				fprintf(stderr, "cprof-trace: -format=%s: want json or text\n", val);
				return 2;
			}
			json_format = strcmp(val, "json") == 0;
		} else if (strcmp(f->name, "version") == 0) {
			cli_version(stdout);
			return 0;
		} else {
			cli_usage(stdout);
			return 0;
		}
	}
	if (!file) {
		cli_usage(stderr);
		return 2;
	}
	if (dump + !!json + !!report + !!pprof > 1) {
		fprintf(stderr, "cprof-trace: -dump, -json, -report and -pprof are exclusive\n");
		return 2;
	}
	if (stats && !dump) {
		fprintf(stderr, "cprof-trace: -stats goes with -dump\n");
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
		return stats ? viewer_dump_stats(file, stdout) : viewer_dump(file, stdout);
	return viewer_serve(file, http, open_browser);
}
