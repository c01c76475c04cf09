/* Running analyses over a file and printing their documents. */
#ifndef CPROF_REPORT_H
#define CPROF_REPORT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

#include "analysis.h"

/* Runs every analysis in one walk: docs[kind] for each kind (NULL on a
 * file error). Returns the walk status (0, 1 truncated, -1 error with err). */
int report_build_all(const char *path, int progress, cJSON *docs[AN_COUNT], char *err, size_t errlen);

void report_print_text(FILE *out, const cJSON *doc);
const char *report_duration(char *buf, size_t len, double ns);

#endif
