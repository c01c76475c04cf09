/* The pprof profile writer (pprof_enc.h): protobuf wire encoding by hand
 * (varint = 0, length-delimited = 2), gzip by zlib. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pprof_enc.h"


static void key(struct pprof_enc *e, struct trace_buf *b, unsigned field, unsigned wire)
{
	if (trace_buf_put_varint(b, (uint64_t)field << 3 | wire))
		e->error = -1;
}

static void put_uint(struct pprof_enc *e, struct trace_buf *b, unsigned field, uint64_t v)
{
	if (!v)
		return; /* proto3 default */
	key(e, b, field, 0);
	if (trace_buf_put_varint(b, v))
		e->error = -1;
}

static void put_bytes(struct pprof_enc *e, struct trace_buf *b, unsigned field, const void *p, size_t n)
{
	key(e, b, field, 2);
	if (trace_buf_put_varint(b, n) || trace_buf_put(b, p, n))
		e->error = -1;
}

/* Frames e->msg as field `field` of the Profile and empties it. */
static void put_msg(struct pprof_enc *e, unsigned field)
{
	put_bytes(e, &e->out, field, e->msg.p ? e->msg.p : (uint8_t *)"", e->msg.len);
	e->msg.len = 0;
}

void pprof_enc_init(struct pprof_enc *e)
{
	memset(e, 0, sizeof *e);
	pprof_enc_string(e, "");
}

uint64_t pprof_enc_string(struct pprof_enc *e, const char *s)
{
	if (!s)
		s = "";
	size_t n = strlen(s);
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	/* Probe h, h+1, ... until the string or a free key is found. */
	for (uint64_t k = h;; k++) {
		uint32_t v = u64map_get(&e->strings, k);
		if (!v)
			break;
		if (strcmp(e->strv[v - 1], s) == 0)
			return v - 1;
		h = k + 1;
	}
	if (e->nstrings == e->strv_cap) {
		uint32_t ncap = e->strv_cap ? e->strv_cap * 2 : 256;
		char **p = realloc(e->strv, ncap * sizeof *p);
		if (!p) {
			e->error = -1;
			return 0;
		}
		e->strv = p;
		e->strv_cap = ncap;
	}
	char *copy = strdup(s);
	if (!copy || u64map_put(&e->strings, h, e->nstrings + 1)) {
		free(copy);
		e->error = -1;
		return 0;
	}
	e->strv[e->nstrings] = copy;
	put_bytes(e, &e->strtab, 6, s, n);
	return e->nstrings++;
}

static void value_type(struct pprof_enc *e, unsigned field, const char *type, const char *unit)
{
	uint64_t t = pprof_enc_string(e, type), u = pprof_enc_string(e, unit);
	put_uint(e, &e->msg, 1, t);
	put_uint(e, &e->msg, 2, u);
	put_msg(e, field);
}

void pprof_enc_sample_type(struct pprof_enc *e, const char *type, const char *unit)
{
	value_type(e, 1, type, unit);
}

void pprof_enc_period(struct pprof_enc *e, const char *type, const char *unit, int64_t period)
{
	value_type(e, 11, type, unit);
	put_uint(e, &e->out, 12, (uint64_t)period);
}

void pprof_enc_default_sample_type(struct pprof_enc *e, const char *type)
{
	put_uint(e, &e->out, 14, pprof_enc_string(e, type));
}

void pprof_enc_times(struct pprof_enc *e, int64_t time_nanos, int64_t duration_nanos)
{
	put_uint(e, &e->out, 9, (uint64_t)time_nanos);
	put_uint(e, &e->out, 10, (uint64_t)duration_nanos);
}

uint64_t pprof_enc_mapping(struct pprof_enc *e, uint64_t start, uint64_t limit, uint64_t offset, const char *file,
			   const char *build_id, int has_symbols)
{
	uint64_t id = ++e->nmappings;
	uint64_t f = pprof_enc_string(e, file), b = build_id ? pprof_enc_string(e, build_id) : 0;
	put_uint(e, &e->msg, 1, id);
	put_uint(e, &e->msg, 2, start);
	put_uint(e, &e->msg, 3, limit);
	put_uint(e, &e->msg, 4, offset);
	put_uint(e, &e->msg, 5, f);
	put_uint(e, &e->msg, 6, b);
	put_uint(e, &e->msg, 7, has_symbols ? 1 : 0);  /* has_functions */
	put_uint(e, &e->msg, 8, has_symbols ? 1 : 0);  /* has_filenames */
	put_uint(e, &e->msg, 9, has_symbols ? 1 : 0);  /* has_line_numbers */
	put_uint(e, &e->msg, 10, has_symbols ? 1 : 0); /* has_inline_frames */
	put_msg(e, 3);
	return id;
}

uint64_t pprof_enc_function(struct pprof_enc *e, const char *name, const char *file)
{
	uint64_t n = pprof_enc_string(e, name && *name ? name : "?"), f = pprof_enc_string(e, file);
	uint64_t k = n << 32 | f;
	uint32_t id = u64map_get(&e->functions, k);
	if (id)
		return id;
	id = ++e->nfunctions;
	if (u64map_put(&e->functions, k, id))
		e->error = -1;
	put_uint(e, &e->msg, 1, id);
	put_uint(e, &e->msg, 2, n);
	put_uint(e, &e->msg, 3, n);
	put_uint(e, &e->msg, 4, f);
	put_msg(e, 5);
	return id;
}

uint64_t pprof_enc_location(struct pprof_enc *e, uint64_t k, uint64_t mapping, uint64_t address, uint64_t function,
			    int64_t line)
{
	uint32_t id = u64map_get(&e->locations, k);
	if (id)
		return id;
	id = ++e->nlocations;
	if (u64map_put(&e->locations, k, id))
		e->error = -1;
	struct trace_buf l = {0};
	put_uint(e, &l, 1, function);
	put_uint(e, &l, 2, (uint64_t)line);
	put_uint(e, &e->msg, 1, id);
	put_uint(e, &e->msg, 2, mapping);
	put_uint(e, &e->msg, 3, address);
	if (function)
		put_bytes(e, &e->msg, 4, l.p ? l.p : (uint8_t *)"", l.len);
	trace_buf_free(&l);
	put_msg(e, 4);
	return id;
}

void pprof_enc_sample(struct pprof_enc *e, const uint64_t *locs, size_t nlocs, const int64_t *vals, size_t nvals)
{
	struct trace_buf p = {0};
	for (size_t i = 0; i < nlocs; i++)
		if (trace_buf_put_varint(&p, locs[i]))
			e->error = -1;
	put_bytes(e, &e->msg, 1, p.p ? p.p : (uint8_t *)"", p.len);
	p.len = 0;
	for (size_t i = 0; i < nvals; i++)
		if (trace_buf_put_varint(&p, (uint64_t)vals[i]))
			e->error = -1;
	put_bytes(e, &e->msg, 2, p.p ? p.p : (uint8_t *)"", p.len);
	trace_buf_free(&p);
	put_msg(e, 2);
}

int pprof_enc_finish(struct pprof_enc *e, struct trace_buf *gz)
{
	if (trace_buf_put(&e->out, e->strtab.p, e->strtab.len))
		e->error = -1;
	int rc = e->error;
	z_stream z;
	memset(&z, 0, sizeof z);
	if (!rc && deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		rc = -1;
	if (!rc) {
		z.next_in = e->out.p;
		z.avail_in = (uInt)e->out.len;
		int zr;
		do {
			if (trace_buf_reserve(gz, 1 << 16)) {
				rc = -1;
				break;
			}
			z.next_out = gz->p + gz->len;
			z.avail_out = 1 << 16;
			zr = deflate(&z, Z_FINISH);
			gz->len += (1 << 16) - z.avail_out;
		} while (zr == Z_OK);
		if (!rc && zr != Z_STREAM_END)
			rc = -1;
		deflateEnd(&z);
	}
	pprof_enc_free(e);
	return rc;
}

void pprof_enc_free(struct pprof_enc *e)
{
	trace_buf_free(&e->out);
	trace_buf_free(&e->strtab);
	trace_buf_free(&e->msg);
	for (uint32_t i = 0; i < e->nstrings; i++)
		free(e->strv[i]);
	free(e->strv);
	u64map_free(&e->strings);
	u64map_free(&e->functions);
	u64map_free(&e->locations);
	memset(e, 0, sizeof *e);
}
