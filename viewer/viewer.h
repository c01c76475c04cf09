/* The viewer's commands. Each returns the process exit status. */
#ifndef CPROF_VIEWER_H
#define CPROF_VIEWER_H

#include <stdio.h>

int viewer_dump(const char *path, FILE *out);
int viewer_dump_stats(const char *path, FILE *out);
/* Chrome trace-event JSON of path into out_path ("-": stdout). */
int viewer_json(const char *path, const char *out_path);
/* -report=NAME: text, or JSON when json is set; range "START:END" (ns
 * since the trace's first event, -report=cpu only) or NULL. */
int viewer_report(const char *path, const char *name, int json, const char *range);
/* -pprof=NAME: gzipped pprof protobuf on stdout. */
int viewer_pprof(const char *path, const char *name);
/* -pprof=cpu: the trace's CPU samples as a pprof CPU profile (pprof_cpu.c). */
int viewer_pprof_cpu(const char *path);
/* The same into out (the web UI's download): 0, or 1 (a message on stderr). */
int pprof_cpu_write(const char *path, FILE *out);
/* The web UI on addr ("host:port"; NULL: 127.0.0.1, a free port). */
int viewer_serve(const char *path, const char *addr, int open_browser);

/* Writes the body of a JSON string (no quotes): s[0..n) escaped. */
void json_escape_to(FILE *out, const char *s, size_t n);

#endif
