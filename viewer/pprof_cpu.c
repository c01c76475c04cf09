/*
 * -pprof=cpu: the trace's CPU samples (cpu_sample events, one per
 * 1/cpu_hz s of a thread's CPU time) as a gzip pprof CPU profile, the same
 * shape as /debug/pprof/profile: sample types (samples, count) and (cpu,
 * nanoseconds), period 1e9/cpu_hz ns; one location per frame with the
 * trace's function, file and line; mappings inferred per module
 * (pprof_frames.h), marked symbolized.
 *
 * One pass over the file; memory: a counter per distinct stack sampled.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pprof_enc.h"
#include "pprof_frames.h"
#include "trace_reader.h"
#include "viewer.h"

int viewer_pprof_cpu(const char *path)
{
	if (isatty(1)) {
		fprintf(stderr, "cprof-trace: -pprof writes a binary profile: redirect stdout to a file\n");
		return 2;
	}
	return pprof_cpu_write(path, stdout);
}

int pprof_cpu_write(const char *path, FILE *out)
{
	struct trace_reader r;
	if (trace_reader_open_file(&r, path)) {
		fprintf(stderr, "cprof-trace: %s\n", r.error);
		trace_reader_close(&r);
		return 1;
	}
	/* Samples per stack id: memory follows the distinct stacks sampled,
	 * never the size of an id (a hostile file may name any 64-bit id). */
	struct u64map index = {0}; /* stack id -> slot + 1 */
	struct sampled { uint64_t id, count; } *counts = NULL;
	uint32_t ncounts = 0, cap = 0;
	uint64_t nsamples = 0, last_ts = r.header.start_ticks;
	struct trace_event ev;
	int rc;
	while ((rc = trace_reader_next(&r, &ev)) == 1) {
		if (ev.ts > last_ts)
			last_ts = ev.ts;
		if (ev.kind != CPROF_EV_CPU_SAMPLE)
			continue;
		uint64_t id = ev.args[0];
		uint32_t slot = u64map_get(&index, id);
		if (!slot) {
			if (ncounts == cap) {
				uint32_t n = cap ? cap * 2 : 1024;
				struct sampled *p = n > cap ? realloc(counts, (size_t)n * sizeof *p) : NULL;
				if (!p) {
					fprintf(stderr, "cprof-trace: out of memory\n");
					free(counts);
					u64map_free(&index);
					trace_reader_close(&r);
					return 1;
				}
				counts = p;
				cap = n;
			}
			if (u64map_put(&index, id, ncounts + 1)) {
				fprintf(stderr, "cprof-trace: out of memory\n");
				free(counts);
				u64map_free(&index);
				trace_reader_close(&r);
				return 1;
			}
			counts[ncounts++] = (struct sampled){id, 0};
			slot = ncounts;
		}
		counts[slot - 1].count++;
		nsamples++;
	}
	u64map_free(&index);
	int status = 0;
	if (rc < 0) {
		fprintf(stderr, "cprof-trace: %s%s\n", r.error, r.truncated ? " (the profile covers what was complete)" : "");
		status = 1;
		if (!r.truncated) {
			free(counts);
			trace_reader_close(&r);
			return 1;
		}
	}
	uint32_t hz = r.header.cpu_hz;
	if (!nsamples)
		fprintf(stderr, "cprof-trace: warning: no CPU samples in %s (%s)\n", path,
			r.header.has_cpu_hz ? (hz ? "none taken" : "captured with CPROF_TRACE_CPU_HZ=0")
					    : "recorded by a tracer without CPU sampling");
	int64_t period = 1000000000 / (int64_t)(hz ? hz : 100);
	if (period < 1) /* a hostile rate */
		period = 1;
	struct pprof_enc e;
	pprof_enc_init(&e);
	pprof_enc_sample_type(&e, "samples", "count");
	pprof_enc_sample_type(&e, "cpu", "nanoseconds");
	struct pprof_frames frames;
	pprof_frames_init(&frames, &e, &r);
	for (uint32_t i = 0; i < ncounts; i++)
		pprof_frames_note(&frames, trace_reader_stack(&r, counts[i].id));
	pprof_frames_mappings(&frames);
	for (uint32_t i = 0; i < ncounts; i++) {
		uint64_t locs[CPROF_STACK_MAX_FRAMES];
		size_t n = pprof_frames_locations(&frames, trace_reader_stack(&r, counts[i].id), locs);
		uint64_t c = counts[i].count;
		if (c > (uint64_t)INT64_MAX / (uint64_t)period)
			c = (uint64_t)INT64_MAX / (uint64_t)period;
		int64_t vals[2] = {(int64_t)c, (int64_t)c * period};
		pprof_enc_sample(&e, locs, n, vals, 2);
	}
	/* a hostile header's rate or times: the duration stays a finite, bounded ns count */
	uint64_t tps = r.header.ticks_per_sec;
	double dur = tps && last_ts > r.header.start_ticks
			     ? (double)(last_ts - r.header.start_ticks) * 1e9 / (double)tps
			     : 0.0;
	if (!(dur >= 0.0 && dur < 9e18))
		dur = 0.0;
	pprof_enc_times(&e, (int64_t)trace_start_realtime_ns(&r), (int64_t)dur);
	pprof_enc_period(&e, "cpu", "nanoseconds", period);
	struct trace_buf gz = {0};
	if (pprof_enc_finish(&e, &gz) || fwrite(gz.p, 1, gz.len, out) != gz.len || fflush(out)) {
		fprintf(stderr, "cprof-trace: writing the profile failed\n");
		status = 1;
	}
	trace_buf_free(&gz);
	pprof_frames_free(&frames);
	free(counts);
	trace_reader_close(&r);
	return status;
}
