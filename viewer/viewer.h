/* The viewer's commands. Each returns the process exit status. */
#ifndef CPROF_VIEWER_H
#define CPROF_VIEWER_H

#include <stdio.h>

int viewer_dump(const char *path, FILE *out);
/* Chrome trace-event JSON of path into out_path ("-": stdout). */
int viewer_json(const char *path, const char *out_path);

#endif
