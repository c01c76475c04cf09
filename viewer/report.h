/* Running analyses over a file and printing their documents. */
#ifndef CPROF_REPORT_H
#define CPROF_REPORT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

#include "analysis.h"

void report_print_text(FILE *out, const cJSON *doc);
const char *report_duration(char *buf, size_t len, double ns);

#endif
