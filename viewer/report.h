/* Running analyses over a file and printing their documents. */
#ifndef CPROF_REPORT_H
#define CPROF_REPORT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

#include "analysis.h"

/* The summary, then the body the registry's text entry prints (or the task
 * drill-down's, for "report":"task"). */
void report_print_text(FILE *out, const cJSON *doc);
/* The registry's text entries: the body of one document. */
void report_text_threads(FILE *out, const cJSON *doc);
void report_text_profile(FILE *out, const cJSON *doc);
void report_text_named(FILE *out, const cJSON *doc);
void report_text_cpu(FILE *out, const cJSON *doc);
const char *report_duration(char *buf, size_t len, double ns);

#endif
