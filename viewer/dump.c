/*
 * `cprof-trace -dump FILE`: the trace event by event, like `go tool trace -d`.
 * One line per event: time since capture start (µs), thread, kind, and the
 * arguments with string ids resolved (the event table says which arguments
 * are string ids). Streams: memory does not grow with
 * the file beyond the reader's tables.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "trace_reader.h"
#include "viewer.h"

static void print_args(const struct trace_reader *r, const struct trace_event *ev, FILE *out)
{
	const struct cprof_event_info *info = cprof_event_info(ev->kind);
	const char *names = info->argnames;
	for (unsigned i = 0; i < info->nargs; i++) {
		while (*names == ' ')
			names++;
		size_t n = strcspn(names, " ");
		fprintf(out, " %.*s=", (int)n, names);
		names += n;
		uint64_t v = ev->args[i];
		int is_name = cprof_event_arg_is_string(ev->kind, i);
		const char *s = is_name ? trace_reader_string(r, v) : NULL;
		if (s)
			fprintf(out, "\"%s\"", s);
		else if (is_name && v == 0)
			fprintf(out, "-");
		else if (ev->kind == CPROF_EV_BLOCK_BEGIN && i == 1)
			fprintf(out, "%#" PRIx64, v); /* an address or fd: hex like a debugger */
		else
			fprintf(out, "%" PRIu64, v);
	}
	if (info->bytes)
		fprintf(out, " msg=\"%.*s\"", (int)ev->nbytes, (const char *)ev->bytes);
}

int viewer_dump(const char *path, FILE *out)
{
	struct trace_reader r;
	if (trace_reader_open_file(&r, path)) {
		fprintf(stderr, "cprof-trace: %s: %s\n", path, r.error);
		trace_reader_close(&r);
		return 1;
	}
	const struct cprof_header *h = &r.header;
	uint64_t start = trace_start_realtime_ns(&r);
	fprintf(out, "# cprof-trace format v%u, pid %u, %" PRIu64 " ticks/s, started %" PRIu64 ".%09" PRIu64
		     " (unix)\n# cmdline:",
		h->version, h->pid, h->ticks_per_sec, start / 1000000000u, start % 1000000000u);
	for (uint32_t i = 0; i < h->cmdline_len;) {
		fprintf(out, " %s", h->cmdline + i);
		i += (uint32_t)strnlen(h->cmdline + i, h->cmdline_len - i) + 1;
	}
	fprintf(out, "\n# kernel scheduling records: %s; CPU samples: %u Hz\n", trace_sched_source_name(&r),
		h->cpu_hz);
	struct trace_event ev;
	int rc;
	while ((rc = trace_reader_next(&r, &ev)) == 1) {
		const char *tname = trace_reader_thread_name(&r, ev.tid);
		if (ev.kind == CPROF_EV_THREAD_NAME && trace_reader_string(&r, ev.args[0]))
			tname = trace_reader_string(&r, ev.args[0]);
		fprintf(out, "%14.3f %7u %-15s %s", trace_ticks_to_ns(&r, ev.ts) / 1000.0, ev.tid,
			tname && *tname ? tname : "-", cprof_event_info(ev.kind)->name);
		print_args(&r, &ev, out);
		fputc('\n', out);
	}
	for (uint32_t i = 0; r.tree && i < r.nparts; i++) { /* the tree's process images */
		const struct trace_part *p = &r.parts[i];
		fprintf(out, "# process %u (parent %u) %" PRIu64 " events%s:", p->pid, p->ppid, p->events,
			p->ended ? "" : " (no end)");
		for (uint32_t k = 0; p->cmdline && k < p->cmdline_len;) {
			fprintf(out, " %s", p->cmdline + k);
			k += (uint32_t)strnlen(p->cmdline + k, p->cmdline_len - k) + 1;
		}
		fputc('\n', out);
	}
	uint64_t lost = 0;
	for (uint32_t i = 0; i < r.nlost; i++) {
		fprintf(out, "# lost: thread %u dropped %" PRIu64 " events\n", r.lost[i].tid, r.lost[i].dropped);
		lost += r.lost[i].dropped;
	}
	if (r.sched_lost)
		fprintf(out, "# lost: the kernel dropped %" PRIu64 " scheduling records\n", r.sched_lost);
	fprintf(out, "# %" PRIu64 " events in %" PRIu64 " batches, %" PRIu64 " lost\n", r.events, r.batches, lost);
	int status = 0;
	if (rc < 0) {
		fprintf(stderr, "cprof-trace: %s: %s%s\n", path, r.error,
			r.truncated ? " (showing what was complete)" : "");
		status = r.truncated && r.events ? 2 : 1;
	}
	trace_reader_close(&r);
	return status;
}
