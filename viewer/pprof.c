/*
 * -pprof=net|sync|syscall|sched: the profile as gzipped pprof protobuf
 * (github.com/google/pprof/proto/profile.proto), like go tool trace -pprof:
 * sample types (contentions, count) and (delay, nanoseconds); one location
 * per distinct pc, with function, file and line from the trace's stacks.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "analysis.h"
#include "trace_writer.h"
#include "viewer.h"

/* ---- protobuf wire encoding (varint = 0, length-delimited = 2) ---- */

static void pb_key(struct trace_buf *b, unsigned field, unsigned wire)
{
	trace_buf_put_varint(b, (uint64_t)field << 3 | wire);
}

static void pb_uint(struct trace_buf *b, unsigned field, uint64_t v)
{
	if (!v)
		return; /* proto3 default */
	pb_key(b, field, 0);
	trace_buf_put_varint(b, v);
}

static void pb_bytes(struct trace_buf *b, unsigned field, const void *p, size_t n)
{
	pb_key(b, field, 2);
	trace_buf_put_varint(b, n);
	trace_buf_put(b, p, n);
}

/* Writes a nested message: the caller fills msg, this frames it. */
static void pb_message(struct trace_buf *b, unsigned field, struct trace_buf *msg)
{
	pb_bytes(b, field, msg->p, msg->len);
	msg->len = 0;
}

struct pprof {
	const struct walk *w;
	struct trace_buf out, msg, sub;
	struct u64map strings;   /* reader string id -> pprof index + 1 (index 0 is "") */
	uint32_t nstrings;
	struct trace_buf strtab; /* the string_table fields, written last */
	struct u64map functions; /* function<<32|file -> id */
	uint32_t nfunctions;
	struct u64map locations; /* pc -> id */
	uint32_t nlocations;
};

static uint64_t pp_string_lit(struct pprof *p, const char *s)
{
	pb_bytes(&p->strtab, 6, s, strlen(s));
	return p->nstrings++;
}

static uint64_t pp_string(struct pprof *p, uint32_t id)
{
	if (!id)
		return 0;
	uint32_t v = u64map_get(&p->strings, id);
	if (v)
		return v - 1;
	uint64_t idx = pp_string_lit(p, walk_string(p->w, id));
	u64map_put(&p->strings, id, (uint32_t)idx + 1);
	return idx;
}

static uint64_t pp_function(struct pprof *p, uint32_t name, uint32_t file, const char *literal)
{
	uint64_t key = (uint64_t)name << 32 | file;
	uint32_t id = literal ? 0 : u64map_get(&p->functions, key);
	if (id)
		return id;
	id = ++p->nfunctions;
	if (!literal)
		u64map_put(&p->functions, key, id);
	uint64_t sname = literal ? pp_string_lit(p, literal) : name ? pp_string(p, name) : pp_string_lit(p, "?");
	struct trace_buf *m = &p->sub;
	pb_uint(m, 1, id);
	pb_uint(m, 2, sname);
	pb_uint(m, 3, sname);
	pb_uint(m, 4, pp_string(p, file));
	pb_message(&p->out, 5, m);
	return id;
}

static uint64_t pp_location(struct pprof *p, const struct cprof_frame *f)
{
	uint32_t id = u64map_get(&p->locations, f->pc);
	if (id)
		return id;
	id = ++p->nlocations;
	u64map_put(&p->locations, f->pc, id);
	uint64_t fn = pp_function(p, f->function, f->file, NULL);
	struct trace_buf line = {0};
	pb_uint(&line, 1, fn);
	pb_uint(&line, 2, f->line);
	struct trace_buf *m = &p->sub;
	pb_uint(m, 1, id);
	pb_uint(m, 3, f->pc);
	pb_bytes(m, 4, line.p, line.len);
	pb_message(&p->out, 4, m);
	trace_buf_free(&line);
	return id;
}

static void pp_value_type(struct pprof *p, unsigned field, const char *type, const char *unit)
{
	struct trace_buf *m = &p->sub;
	pb_uint(m, 1, pp_string_lit(p, type));
	pb_uint(m, 2, pp_string_lit(p, unit));
	pb_message(&p->out, field, m);
}

static int write_all(int fd, const void *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, (const char *)buf + off, len - off);
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* gzip of buf to fd. */
static int gzip_to_fd(int fd, const uint8_t *buf, size_t len)
{
	z_stream z = {0};
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	uint8_t chunk[1 << 16];
	z.next_in = (Bytef *)buf;
	z.avail_in = (uInt)len;
	int rc, err = 0;
	do {
		z.next_out = chunk;
		z.avail_out = sizeof chunk;
		rc = deflate(&z, Z_FINISH);
		if (write_all(fd, chunk, sizeof chunk - z.avail_out))
			err = -1;
	} while (rc == Z_OK && !err);
	deflateEnd(&z);
	return rc == Z_STREAM_END && !err ? 0 : -1;
}

int pprof_write(const struct analysis *a, const struct walk *w, int fd)
{
	struct pprof p = {.w = w};
	pp_string_lit(&p, ""); /* index 0 */
	pp_value_type(&p, 1, "contentions", "count");
	pp_value_type(&p, 1, "delay", "nanoseconds");
	struct stat_entry **v = stat_sorted(&a->stats);
	struct trace_buf locs = {0}, vals = {0};
	for (uint32_t i = 0; v && i < a->stats.n; i++) {
		const struct stat_entry *e = v[i];
		const struct trace_stack *s = e->key ? trace_reader_stack(&w->r, e->key) : NULL;
		locs.len = vals.len = 0;
		/* locations first: they are written to p.out as they are met */
		if (s && s->nframes) {
			for (uint32_t f = 0; f < s->nframes; f++)
				trace_buf_put_varint(&locs, pp_location(&p, &s->frames[f]));
		} else {
			uint64_t id = ++p.nlocations;
			uint64_t fn = pp_function(&p, 0, 0, "(no stack recorded)");
			struct trace_buf line = {0};
			pb_uint(&line, 1, fn);
			pb_uint(&p.sub, 1, id);
			pb_bytes(&p.sub, 4, line.p, line.len);
			pb_message(&p.out, 4, &p.sub);
			trace_buf_free(&line);
			trace_buf_put_varint(&locs, id);
		}
		trace_buf_put_varint(&vals, e->count);
		trace_buf_put_varint(&vals, (uint64_t)e->total);
		pb_bytes(&p.msg, 1, locs.p, locs.len);
		pb_bytes(&p.msg, 2, vals.p, vals.len);
		pb_message(&p.out, 2, &p.msg);
	}
	free(v);
	trace_buf_free(&locs);
	trace_buf_free(&vals);
	pb_uint(&p.out, 9, trace_start_realtime_ns(&w->r));
	pb_uint(&p.out, 10, (uint64_t)(w->end - w->begin));
	pp_value_type(&p, 11, "delay", "nanoseconds"); /* period_type */
	pb_uint(&p.out, 12, 1);
	trace_buf_put(&p.out, p.strtab.p, p.strtab.len);
	int rc = p.out.p ? gzip_to_fd(fd, p.out.p, p.out.len) : -1;
	trace_buf_free(&p.out);
	trace_buf_free(&p.msg);
	trace_buf_free(&p.sub);
	trace_buf_free(&p.strtab);
	u64map_free(&p.strings);
	u64map_free(&p.functions);
	u64map_free(&p.locations);
	return rc;
}

int viewer_pprof(const char *path, const char *name)
{
	int kind = analysis_by_name(name);
	if (kind < 0 || !analysis_is_profile(kind)) {
		char list[200];
		fprintf(stderr, "cprof-trace: -pprof takes one of %s, not %s\n", analysis_list(list, sizeof list, 1), name);
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
