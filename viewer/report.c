/* -report=NAME [-format=json]: one analysis (or a task drill-down) on stdout. */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "viewer.h"

static void emit(const cJSON *doc, int json)
{
	if (json) {
		char *s = cJSON_Print(doc);
		if (s)
			puts(s);
		free(s);
	} else {
		report_print_text(stdout, doc);
	}
}

int viewer_report(const char *path, const char *name, int json, const char *range)
{
	cJSON *doc = NULL;
	char err[400] = "";
	int rc;
	if (strncmp(name, "task:", 5) == 0) { /* -report=task:NAME: the drill-down */
		doc = task_detail_json(path, name + 5, 0, INT64_MAX, 100, err, sizeof err);
		rc = doc ? 0 : -1;
		const cJSON *warn = doc ? cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "trace"), "warning") : NULL;
		if (cJSON_IsString(warn)) {
			snprintf(err, sizeof err, "%s", warn->valuestring);
			rc = 1;
		}
	} else {
		int kind = analysis_by_name(name);
		if (kind < 0) {
			char list[200];
			fprintf(stderr, "cprof-trace: unknown report %s (%s, task:NAME)\n", name,
				analysis_list(list, sizeof list, 0));
			return 2;
		}
		struct analysis a;
		analysis_init(&a, kind);
		if (range && (kind != AN_CPU || analysis_parse_range(&a, range))) {
			fprintf(stderr, "cprof-trace: -range=START_NS:END_NS (START < END, ns since the trace's first "
					"event) goes with -report=cpu\n");
			return 2;
		}
		struct walk_consumer c = analysis_consumer(&a);
		struct walk w = {.progress = 1};
		rc = walk_file(&w, path, &c, 1);
		if (rc != 0)
			snprintf(err, sizeof err, "%s", w.error);
		if (rc >= 0)
			doc = analysis_json(&a, &w);
		analysis_free(&a);
		walk_close(&w);
	}
	if (doc) {
		emit(doc, json);
		cJSON_Delete(doc);
	}
	if (rc == 1)
		fprintf(stderr, "cprof-trace: warning: %s: the report covers what was complete\n", err);
	else if (rc < 0)
		fprintf(stderr, "cprof-trace: %s\n", err);
	fflush(stdout);
	return rc == 0 ? 0 : 1;
}
