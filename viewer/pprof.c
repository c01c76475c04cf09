/*
 * -pprof=net|sync|syscall|sched: the profile as gzipped pprof protobuf
 * (github.com/google/pprof/proto/profile.proto), like go tool trace -pprof:
 * sample types (contentions, count) and (delay, nanoseconds); mappings
 * inferred per module and locations with the trace's function, file and
 * line (pprof_frames.h), encoded by the shared pprof writer (pprof_enc.h).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis.h"
#include "pprof_enc.h"
#include "pprof_frames.h"
#include "trace_writer.h"
#include "viewer.h"

int pprof_write(const struct analysis *a, const struct walk *w, int fd)
{
	struct pprof_enc e;
	pprof_enc_init(&e);
	pprof_enc_sample_type(&e, "contentions", "count");
	pprof_enc_sample_type(&e, "delay", "nanoseconds");
	struct stat_entry **v = stat_sorted(&a->stats);
	uint32_t n = v ? a->stats.n : 0;
	struct pprof_frames frames;
	pprof_frames_init(&frames, &e, &w->r);
	for (uint32_t i = 0; i < n; i++)
		pprof_frames_note(&frames, v[i]->key ? trace_reader_stack(&w->r, v[i]->key) : NULL);
	pprof_frames_mappings(&frames);
	for (uint32_t i = 0; i < n; i++) {
		const struct stat_entry *s = v[i];
		uint64_t locs[CPROF_STACK_MAX_FRAMES];
		size_t nlocs = pprof_frames_locations(&frames, s->key ? trace_reader_stack(&w->r, s->key) : NULL, locs);
		int64_t vals[2] = {(int64_t)(s->count > INT64_MAX ? INT64_MAX : s->count), s->total};
		pprof_enc_sample(&e, locs, nlocs, vals, 2);
	}
	free(v);
	pprof_enc_times(&e, (int64_t)trace_start_realtime_ns(&w->r), w->end - w->begin);
	pprof_enc_period(&e, "delay", "nanoseconds", 1);
	struct trace_buf gz = {0};
	int rc = pprof_enc_finish(&e, &gz) || trace_sink_fd(&fd, gz.p, gz.len) ? -1 : 0;
	trace_buf_free(&gz);
	pprof_frames_free(&frames);
	return rc;
}

int viewer_pprof(const char *path, const char *name)
{
	if (strcmp(name, "cpu") == 0)
		return viewer_pprof_cpu(path);
	int kind = analysis_by_name(name);
	if (kind < 0 || !analysis_is_profile(kind)) {
		char list[200];
		fprintf(stderr, "cprof-trace: -pprof takes cpu or one of %s, not %s\n", analysis_list(list, sizeof list, 1), name);
		return 2;
	}
	if (isatty(1)) {
		fprintf(stderr, "cprof-trace: -pprof writes a binary profile: redirect stdout to a file\n");
		return 2;
	}
	struct analysis a;
	analysis_init(&a, kind);
	struct walk_consumer c = analysis_consumer(&a);
	struct walk w = {.progress = 1};
	int rc = walk_file(&w, path, &c, 1);
	int status = 0;
	if (rc < 0) {
		fprintf(stderr, "cprof-trace: %s\n", w.error);
		status = 1;
	} else {
		if (rc == 1) {
			fprintf(stderr, "cprof-trace: warning: %s: the profile covers what was complete\n", w.error);
			status = 1;
		}
		if (pprof_write(&a, &w, 1)) {
			fprintf(stderr, "cprof-trace: writing the profile failed\n");
			status = 1;
		}
	}
	analysis_free(&a);
	walk_close(&w);
	return status;
}
