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

/* `cprof-trace -dump -stats FILE`: where the file's bytes go, by chunk type
 * and by event kind (count, decoded bytes, stored bytes: each EVENTS
 * chunk's stored size shared among its events by decoded size). */
int viewer_dump_stats(const char *path, FILE *out)
{
	struct trace_reader r;
	if (trace_reader_open_file(&r, path)) {
		fprintf(stderr, "cprof-trace: %s: %s\n", path, r.error);
		trace_reader_close(&r);
		return 1;
	}
	struct trace_event ev;
	int rc;
	while ((rc = trace_reader_next(&r, &ev)) == 1)
		;
	const struct trace_stats *s = &r.stats;
	uint64_t total = s->header_bytes, lost = 0;
	for (unsigned t = 0; t < TRACE_STATS_CHUNK_TYPES; t++)
		total += s->chunk_bytes[t];
	for (uint32_t i = 0; i < r.nlost; i++)
		lost += r.lost[i].dropped;
	double ev_n = r.events ? (double)r.events : 1;
	fprintf(out, "# cprof-trace format v%u: %" PRIu64 " bytes, %" PRIu64 " events, %.2f bytes/event\n",
		r.header.version, total, r.events, total / ev_n);
	fprintf(out, "events %" PRIu64 "\nlost %" PRIu64 "\nbytes %" PRIu64 "\n", r.events, lost, total);
	static const char *const chunk_names[TRACE_STATS_CHUNK_TYPES] = {
		"(unknown)", "EVENTS", "STRINGS", "STACKS", "LOST", "END", "SCHED", "PROCESS", "PART (wrappers)", "MODULES"};
	fprintf(out, "\n%-16s %10s %12s %8s %12s\n", "chunk", "count", "bytes", "share", "bytes/event");
	fprintf(out, "%-16s %10u %12" PRIu64 " %7.1f%% %12.3f\n", "header", 1u, s->header_bytes,
		100.0 * s->header_bytes / (total ? total : 1), s->header_bytes / ev_n);
	for (unsigned t = 0; t < TRACE_STATS_CHUNK_TYPES; t++)
		if (s->chunk_bytes[t])
			fprintf(out, "%-16s %10" PRIu64 " %12" PRIu64 " %7.1f%% %12.3f\n", chunk_names[t], s->chunks[t],
				s->chunk_bytes[t], 100.0 * s->chunk_bytes[t] / (total ? total : 1),
				s->chunk_bytes[t] / ev_n);
	uint64_t rest = s->events_raw - s->events_time;
	fprintf(out, "EVENTS payload: %" PRIu64 " bytes decoded: timestamps %" PRIu64 " (stored as is in format 3), "
		     "the rest %" PRIu64 ", LZ4 to %" PRIu64 " (%.2fx)\n",
		s->events_raw, s->events_time, rest, s->events_lz4, s->events_lz4 ? (double)rest / s->events_lz4 : 0);
	fprintf(out, "\n%-18s %10s %14s %14s %14s\n", "event kind", "count", "decoded B/ev", "stored B/ev",
		"stored share");
	for (unsigned k = 0; k < CPROF_EV_COUNT; k++) {
		if (!s->kind_count[k])
			continue;
		double n = (double)s->kind_count[k];
		fprintf(out, "%-18s %10" PRIu64 " %14.2f %14.2f %13.1f%%\n", cprof_event_info(k)->name, s->kind_count[k],
			s->kind_raw[k] / n, s->kind_stored[k] / n, 100.0 * s->kind_stored[k] / (total ? total : 1));
	}
	int status = 0;
	if (rc < 0) {
		fprintf(stderr, "cprof-trace: %s: %s%s\n", path, r.error,
			r.truncated ? " (counting what was complete)" : "");
		status = r.truncated && r.events ? 2 : 1;
	}
	trace_reader_close(&r);
	return status;
}
