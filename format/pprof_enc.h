/*
 * A small writer of pprof profiles (github.com/google/pprof,
 * proto/profile.proto), gzip-compressed, shared by the tracer's
 * /debug/pprof/profile and the viewer's -pprof=cpu.
 *
 * Usage: pprof_enc_init, sample types, then mappings / functions /
 * locations (deduplicated by the keys given) and samples in any order,
 * then pprof_enc_finish. Ids are 1-based; string index 0 is "".
 * Errors (out of memory) are sticky and reported by pprof_enc_finish.
 */
#ifndef CPROF_PPROF_ENC_H
#define CPROF_PPROF_ENC_H

#include <stddef.h>
#include <stdint.h>

#include "trace_writer.h"
#include "u64map.h"


struct pprof_enc {
	struct trace_buf out;    /* Profile fields written so far */
	struct trace_buf strtab; /* string_table fields, appended at the end */
	struct trace_buf msg;    /* scratch for one nested message */
	struct u64map strings;   /* hash -> index + 1 (collisions checked) */
	char **strv;                /* index -> copy, for collision checks */
	uint32_t nstrings, strv_cap;
	struct u64map functions; /* name index << 32 | file index -> id */
	struct u64map locations; /* caller's key -> id */
	uint32_t nfunctions, nlocations, nmappings;
	int error;
};

void pprof_enc_init(struct pprof_enc *e);
/* The index of s in the string table (added on first use). */
uint64_t pprof_enc_string(struct pprof_enc *e, const char *s);
/* sample_type (field 1) or period_type (11) entries. */
void pprof_enc_sample_type(struct pprof_enc *e, const char *type, const char *unit);
void pprof_enc_period(struct pprof_enc *e, const char *type, const char *unit, int64_t period);
/* default_sample_type (field 14): the type pprof shows first. */
void pprof_enc_default_sample_type(struct pprof_enc *e, const char *type);
void pprof_enc_times(struct pprof_enc *e, int64_t time_nanos, int64_t duration_nanos);
/* A mapping; returns its id. build_id may be NULL. */
uint64_t pprof_enc_mapping(struct pprof_enc *e, uint64_t start, uint64_t limit, uint64_t offset, const char *file,
			   const char *build_id, int has_symbols);
/* A function (deduplicated by name and file); returns its id. */
uint64_t pprof_enc_function(struct pprof_enc *e, const char *name, const char *file);
/* The location for key (caller's choice, e.g. pc | leaf), created on first
 * use with the given mapping (0: none), address, function (0: none) and
 * line. Returns its id. */
uint64_t pprof_enc_location(struct pprof_enc *e, uint64_t key, uint64_t mapping, uint64_t address,
			    uint64_t function, int64_t line);
/* A sample: locations leaf first, one value per sample type. */
void pprof_enc_sample(struct pprof_enc *e, const uint64_t *locs, size_t nlocs, const int64_t *vals, size_t nvals);
/* Appends the gzip-compressed profile to gz and frees e. Returns 0 or -1. */
int pprof_enc_finish(struct pprof_enc *e, struct trace_buf *gz);
void pprof_enc_free(struct pprof_enc *e);

#endif
