/*
 * Text tables of the report documents (analysis.h): what -report prints.
 * Everything printed comes from the document, so text, JSON and the UI
 * show the same numbers.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* ns as a short human duration: 950ns, 12.3us, 4.56ms, 7.89s */
const char *report_duration(char *buf, size_t len, double ns)
{
	if (ns < 1e3)
		snprintf(buf, len, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.3gus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.3gms", ns / 1e6);
	else
		snprintf(buf, len, "%.3gs", ns / 1e9);
	return buf;
}

#define DUR(ns) report_duration((char[24]){0}, 24, (ns))

static void print_summary(FILE *out, const cJSON *doc)
{
	const cJSON *t = cJSON_GetObjectItem(doc, "trace");
	fprintf(out, "%s: %.0f events, %s, %.0f threads", str(t, "file"), num(t, "events"),
		DUR(num(t, "duration_ns")), num(t, "threads"));
	if (num(t, "lost") > 0)
		fprintf(out, ", %.0f events DROPPED", num(t, "lost"));
	fprintf(out, "\nkernel scheduling records: %s", str(t, "sched_source"));
	if (num(t, "sched_lost") > 0)
		fprintf(out, " (%.0f lost by the kernel)", num(t, "sched_lost"));
	fprintf(out, "; CPU samples: %s", num(t, "cpu_hz") > 0 ? "" : "off");
	if (num(t, "cpu_hz") > 0)
		fprintf(out, "%.0f Hz", num(t, "cpu_hz"));
	fputc('\n', out);
	const cJSON *d;
	cJSON_ArrayForEach(d, cJSON_GetObjectItem(t, "dropped"))
		fprintf(out, "  thread %.0f %s dropped %.0f events: figures for it are lower bounds\n", num(d, "tid"),
			str(d, "name"), num(d, "count"));
	cJSON_ArrayForEach(d, cJSON_GetObjectItem(t, "flight_partial"))
		fprintf(out, "  thread %.0f %s: the flight recorder held it only from %s on (its ring wrapped): "
			     "its figures cover less than the window\n",
			num(d, "tid"), str(d, "name"), DUR(num(d, "from_ns")));
	if (*str(t, "warning"))
		fprintf(out, "warning: %s (showing what was complete)\n", str(t, "warning"));
	if (num(t, "regions_unkept") > 0)
		fprintf(out, "warning: %.0f regions not shown: no memory for their nesting\n", num(t, "regions_unkept"));
	fputc('\n', out);
}

static void pct_cell(FILE *out, double part, double total)
{
	char cell[40];
	snprintf(cell, sizeof cell, "%s(%.0f%%)", DUR(part), total > 0 ? 100.0 * part / total : 0.0);
	fprintf(out, " %14s", cell);
}

/* total, exec, then one column per time class (the block categories,
 * sched, other), each with its share of total. */
static void time_row(FILE *out, const cJSON *o)
{
	double total = num(o, "total_ns");
	fprintf(out, " %9s", DUR(total));
	pct_cell(out, num(o, "exec_ns"), total);
	for (int c = 0; c < WC_COUNT; c++) {
		char key[32];
		snprintf(key, sizeof key, "%s_ns", walk_class_names[c]);
		pct_cell(out, num(o, key), total);
	}
}

static void time_header(FILE *out, const char *total)
{
	fprintf(out, " %9s %14s", total, "exec");
	for (unsigned c = 1; c <= CPROF_BLOCK_COUNT; c++)
		fprintf(out, " %14s", cprof_block_info(c)->title);
	fprintf(out, " %14s %14s", "sched wait", "blocked other");
}

/* The report's title, from the registry. */
static const char *title_of(const cJSON *doc)
{
	int kind = analysis_by_name(str(doc, "report"));
	return kind < 0 ? str(doc, "report") : analysis_registry[kind].title;
}

void report_text_threads(FILE *out, const cJSON *doc)
{
	fprintf(out, "%s (like go tool trace's goroutine analysis)\n\n", title_of(doc));
	fprintf(out, "%-40s %6s", "start routine / thread", "count");
	time_header(out, "total");
	fprintf(out, " %8s\n", "dropped");
	const cJSON *g, *t;
	cJSON_ArrayForEach(g, cJSON_GetObjectItem(doc, "groups"))
	{
		fprintf(out, "%-40.40s %6.0f", str(g, "routine"), num(g, "count"));
		time_row(out, g);
		fprintf(out, " %8.0f\n", num(g, "lost"));
		cJSON_ArrayForEach(t, cJSON_GetObjectItem(g, "threads"))
		{
			char label[64];
			snprintf(label, sizeof label, "  %.0f %s", num(t, "tid"), str(t, "name"));
			fprintf(out, "%-40.40s %6s", label, "");
			time_row(out, t);
			fprintf(out, " %8.0f\n", num(t, "lost"));
		}
	}
}

static void print_frames(FILE *out, const cJSON *frames, const char *indent)
{
	const cJSON *f;
	int n = 0;
	cJSON_ArrayForEach(f, frames)
	{
		if (*str(f, "file"))
			fprintf(out, "%s%s %s:%.0f\n", indent, str(f, "function"), str(f, "file"), num(f, "line"));
		else
			fprintf(out, "%s%s %s\n", indent, str(f, "function"), str(f, "module"));
		n++;
	}
	if (!n)
		fprintf(out, "%s(no stack)\n", indent);
}

void report_text_profile(FILE *out, const cJSON *doc)
{
	fprintf(out, "%s: %.0f events, total delay %s\n\n", title_of(doc), num(doc, "count"), DUR(num(doc, "total_ns")));
	fprintf(out, "%10s %10s %10s %10s  %s\n", "total", "count", "mean", "max", "stack (innermost first)");
	const cJSON *s;
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(doc, "stacks"))
	{
		fprintf(out, "%10s %10.0f %10s %10s\n", DUR(num(s, "total_ns")), num(s, "count"), DUR(num(s, "mean_ns")),
			DUR(num(s, "max_ns")));
		print_frames(out, cJSON_GetObjectItem(s, "frames"), "                                             ");
	}
}

/* Like go tool pprof -top: flat, flat%, sum%, cum, cum% and the function. */
void report_text_cpu(FILE *out, const cJSON *doc)
{
	double cpu = num(doc, "cpu_ns");
	fprintf(out, "%s: %.0f samples at %.0f Hz, %s of CPU", title_of(doc), num(doc, "samples"), num(doc, "cpu_hz"),
		DUR(cpu));
	const cJSON *r = cJSON_GetObjectItem(doc, "range");
	if (cJSON_IsObject(r))
		fprintf(out, " in [%.0f, %.0f) ns since the trace's first event (%s wide)", num(r, "begin_ns"),
			num(r, "end_ns"), DUR(num(r, "end_ns") - num(r, "begin_ns")));
	fprintf(out, "\n\n%10s %6s %6s %10s %6s  %s\n", "flat", "flat%", "sum%", "cum", "cum%", "function");
	double sum = 0;
	const cJSON *f;
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(doc, "functions"))
	{
		double flat = num(f, "flat_ns"), cum = num(f, "cum_ns");
		sum += flat;
		fprintf(out, "%10s %5.1f%% %5.1f%% %10s %5.1f%%  %s\n", DUR(flat), cpu > 0 ? 100 * flat / cpu : 0,
			cpu > 0 ? 100 * sum / cpu : 0, DUR(cum), cpu > 0 ? 100 * cum / cpu : 0, str(f, "function"));
	}
}

static void print_histogram(FILE *out, const cJSON *hist)
{
	double most = 0;
	const cJSON *b;
	cJSON_ArrayForEach(b, hist) if (num(b, "count") > most) most = num(b, "count");
	cJSON_ArrayForEach(b, hist)
	{
		char range[48];
		char lo[24], hi[24];
		snprintf(range, sizeof range, "[%s, %s)", report_duration(lo, sizeof lo, num(b, "lo_ns")),
			 report_duration(hi, sizeof hi, num(b, "hi_ns")));
		int bar = most > 0 ? (int)(40.0 * num(b, "count") / most + 0.5) : 0;
		fprintf(out, "      %-22s %8.0f %.*s\n", range, num(b, "count"), bar,
			"########################################");
	}
}

void report_text_named(FILE *out, const cJSON *doc)
{
	int regions = strcmp(str(doc, "report"), "regions") == 0;
	fprintf(out, "%s", title_of(doc));
	if (num(doc, "incomplete") > 0)
		fprintf(out, " (%.0f not complete within the capture, not counted)", num(doc, "incomplete"));
	fprintf(out, "\n\n%-28s %-26s %8s %9s %9s", regions ? "region" : "task", regions ? "task" : "", "count",
		"mean", "max");
	time_header(out, regions ? "total" : "threads'");
	fputc('\n', out);
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, regions ? "regions" : "tasks"))
	{
		fprintf(out, "%-28.28s %-26.26s %8.0f %9s %9s", str(e, "name"), regions ? str(e, "task") : "",
			num(e, "count"), DUR(num(e, "mean_ns")), DUR(num(e, "max_ns")));
		time_row(out, cJSON_GetObjectItem(e, "breakdown"));
		fputc('\n', out);
		print_histogram(out, cJSON_GetObjectItem(e, "histogram"));
	}
}

static void print_task_detail(FILE *out, const cJSON *doc)
{
	fprintf(out, "Tasks named \"%s\"\n", str(doc, "name"));
	const cJSON *k, *e;
	cJSON_ArrayForEach(k, cJSON_GetObjectItem(doc, "tasks"))
	{
		const cJSON *b = cJSON_GetObjectItem(k, "breakdown");
		fprintf(out, "\ntask %.0f: begins at %s, lasts %s (exec %s, sync %s, net %s, syscall %s, sched %s)\n",
			num(k, "id"), DUR(num(k, "begin_ns")), DUR(num(k, "duration_ns")), DUR(num(b, "exec_ns")),
			DUR(num(b, "sync_ns")), DUR(num(b, "net_ns")), DUR(num(b, "syscall_ns")), DUR(num(b, "sched_ns")));
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(k, "events"))
		{
			fprintf(out, "  %12s  thread %-7.0f %-6s %-24s", DUR(num(e, "ts_ns")), num(e, "tid"),
				str(e, "type"), str(e, "name"));
			if (cJSON_GetObjectItem(e, "duration_ns"))
				fprintf(out, " %s", DUR(num(e, "duration_ns")));
			if (*str(e, "message"))
				fprintf(out, " %s", str(e, "message"));
			fputc('\n', out);
		}
	}
}

void report_print_text(FILE *out, const cJSON *doc)
{
	print_summary(out, doc);
	int kind = analysis_by_name(str(doc, "report"));
	if (kind >= 0)
		analysis_registry[kind].text(out, doc);
	else if (strcmp(str(doc, "report"), "task") == 0)
		print_task_detail(out, doc);
}
