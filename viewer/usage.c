/*
 * What `cprof-trace -h` prints, from the same tables the parsers use, so the
 * help lists every command and flag; the nearest-flag suggestion for an
 * unknown flag (edit distance over those tables); and -version.
 */
#include <string.h>

#include "analysis.h"
#include "cli.h"
#include "cprof/trace.h"
#include "trace_format.h"

const struct cli_flag cli_view_flags[] = {
	{"http", "ADDR", "serve the web UI on ADDR (host:port; default 127.0.0.1, a free port)", 0, 0},
	{"no-browser", NULL, "do not open a browser, only print the URL", 0, 0},
	/* "%s": the analysis registry's names (analysis_list) */
	{"report", "NAME", "print an analysis: %s,\n"
			   "                     or task:NAME (one task name's drill-down)", 0, 0},
	{"format", "json|text", "with -report: machine-readable JSON instead of text", 0, 0},
	{"range", "S:E", "with -report=cpu: only samples in [S, E) ns since the trace's first event", 0, 0},
	{"pprof", "TYPE", "write a pprof profile (cpu, %s) to stdout", 0, 0},
	{"json", "OUT", "write Chrome trace-event JSON (Perfetto UI, chrome://tracing) to OUT (- : stdout)", 0, 0},
	{"pid", "PID", "a process tree's trace: only this process (reports, pprof, web UI)", 0, 0},
	{"dump", NULL, "print the trace event by event (like go tool trace -d); also -d", 0, 0},
	{"stats", NULL, "with -dump: where the file's bytes go, by chunk type and event kind", 0, 0},
	{"version", NULL, "print the version and the trace format version", 0, 0},
	{"h", NULL, "this help (also -help)", 0, 0},
	{NULL, NULL, NULL, 0, 0},
};

/* The flags mirror the library's environment variables (cprof-trace(7)). */
const struct cli_flag cli_record_flags[] = {
	{"o", "FILE", "write the trace to FILE (default cprof.trace)", 0, 0},
	{"f", NULL, "overwrite FILE if it exists", 0, 0},
	{"q", NULL, "print nothing but COMMAND's own output", 0, 0},
	{"serve", "ADDR", "no file: serve /debug/pprof/ on ADDR while COMMAND runs", "CPROF_TRACE_ADDR", 0},
	{"buffer", "SIZE", "ring bytes per thread (64k..1g; default 1m)", "CPROF_TRACE_BUFFER", 0},
	{"min-block", "NS", "shortest blocking call recorded (default 1000)", "CPROF_TRACE_MIN_BLOCK_NS", 0},
	{"no-stacks", NULL, "no stacks on blocking events", "CPROF_TRACE_STACKS", "0"},
	{"no-interpose", NULL, "do not observe pthread and blocking calls", "CPROF_TRACE_INTERPOSE", "0"},
	{"no-runq", NULL, "do not sample the kernel's run-queue delay", "CPROF_TRACE_RUNQ", "0"},
	{"cpu-hz", "HZ", "CPU samples per CPU-second, 0..1000 (default 100, 0: none)", "CPROF_TRACE_CPU_HZ", 0},
	{"sched", "SOURCE", "kernel scheduling records: perf, schedstat or off", "CPROF_TRACE_SCHED", 0},
	{"clock", "monotonic", "never use the TSC", "CPROF_TRACE_CLOCK", 0},
	{"drain-ms", "MS", "longest pause of the drainer (default 10)", "CPROF_TRACE_DRAIN_MS", 0},
	{"max-seconds", "N", "with -serve: longest trace?seconds= / ?last= (default 60)", "CPROF_TRACE_MAX_SECONDS", 0},
	{"h", NULL, "this help (also -help)", 0, 0},
	{NULL, NULL, NULL, 0, 0},
};

static void print_flags(FILE *out, const struct cli_flag *t)
{
	for (; t->name; t++) {
		char left[40];
		snprintf(left, sizeof left, "-%s%s%s", t->name, t->arg ? " " : "", t->arg ? t->arg : "");
		if (strstr(t->help, "%s")) { /* -report, -pprof: the names come from the registry */
			char names[200];
			analysis_list(names, sizeof names, strcmp(t->name, "pprof") == 0);
			fprintf(out, "  %-18s ", left);
			fprintf(out, t->help, names);
		} else {
			fprintf(out, "  %-18s %s", left, t->help);
		}
		if (t->env)
			fprintf(out, " [%s%s%s]", t->env, t->env_value ? "=" : "", t->env_value ? t->env_value : "");
		fputc('\n', out);
	}
}

void cli_record_usage(FILE *out)
{
	fprintf(out,
		"usage: cprof-trace record [flags] [--] COMMAND [ARGS...]\n"
		"Runs COMMAND with libcproftrace preloaded and captures its whole run, and that of\n"
		"every process it starts, into one file. Signals sent to record are passed to\n"
		"COMMAND; record exits with COMMAND's status (125: record itself failed). Flags\n"
		"set the variable in [...]; variables already in the environment are passed on.\n");
	print_flags(out, cli_record_flags);
}

void cli_usage(FILE *out)
{
	fprintf(out,
		"usage: cprof-trace [flags] FILE                          read a trace\n"
		"       cprof-trace record [flags] [--] COMMAND [ARGS...]  trace a program's whole run\n"
		"       cprof-trace -version\n"
		"\n"
		"Reading a trace: with no flag, open the web UI (timeline and analyses) on 127.0.0.1.\n");
	print_flags(out, cli_view_flags);
	fprintf(out, "\n");
	cli_record_usage(out);
	fprintf(out, "\nSee cprof-trace(1), libcproftrace(3) and cprof-trace(7) (variables, endpoints).\n");
}

/* Levenshtein distance, for names of at most 31 bytes (longer: "far"). */
static unsigned distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	if (n > 31 || m > 31)
		return 99;
	unsigned row[32];
	for (size_t j = 0; j <= m; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= n; i++) {
		unsigned diag = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= m; j++) {
			unsigned up = row[j];
			unsigned best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[m];
}

void cli_unknown_flag(const char *given, const struct cli_flag *table)
{
	char name[64];
	const char *g = given;
	while (*g == '-')
		g++;
	snprintf(name, sizeof name, "%.*s", (int)strcspn(g, "="), g);
	const struct cli_flag *best = NULL;
	unsigned best_d = 99;
	for (const struct cli_flag *t = table; t->name; t++) {
		unsigned d = distance(name, t->name);
		/* a prefix counts as close: -rep for -report */
		if (strlen(name) >= 2 && strncmp(t->name, name, strlen(name)) == 0)
			d = 1;
		if (d < best_d)
			best = t, best_d = d;
	}
	size_t len = strlen(name);
	unsigned limit = len <= 1 ? 0 : len <= 3 ? 1 : len <= 6 ? 2 : 3;
	if (best && best_d <= limit && best_d > 0)
		fprintf(stderr, "cprof-trace: unknown flag %s (did you mean -%s?); -h lists them\n", given, best->name);
	else
		fprintf(stderr, "cprof-trace: unknown flag %s; -h lists them\n", given);
}

void cli_version(FILE *out)
{
	fprintf(out, "cprof-trace %s (libcproftrace.so.%d, trace format %d)\n", CPROF_TRACE_VERSION_STRING,
		CPROF_TRACE_ABI, CPROF_FORMAT_VERSION);
}
