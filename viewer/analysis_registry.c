/*
 * The registry of analyses (analysis.h): the one list the CLI's flags and
 * help, the web UI's API, menu and pages, and the text reports read.
 * Adding an analysis is adding an entry here (and its enum value).
 */
#include <stdio.h>
#include <string.h>

#include "analysis.h"
#include "report.h"

const struct analysis_def analysis_registry[AN_COUNT] = {
	[AN_THREADS] = {"threads", "Threads by start routine", "Threads", "threads", -1, NULL,
			analysis_threads_json, report_text_threads},
	[AN_SYNC] = {"sync", "Synchronization blocking profile", "Sync blocking", "profile", WC_SYNC,
		     analysis_profile_hooks, analysis_profile_json, report_text_profile},
	[AN_NET] = {"net", "Network blocking profile", "Network blocking", "profile", WC_NET, analysis_profile_hooks,
		    analysis_profile_json, report_text_profile},
	[AN_SYSCALL] = {"syscall", "Syscall blocking profile", "Syscall blocking", "profile", WC_SYSCALL,
			analysis_profile_hooks, analysis_profile_json, report_text_profile},
	[AN_SCHED] = {"sched", "Scheduler latency profile (wake-up to running)", "Scheduler latency", "profile",
		      WC_SCHED, analysis_profile_hooks, analysis_profile_json, report_text_profile},
	[AN_TASKS] = {"tasks", "User-defined tasks", "Tasks", "named", -1, analysis_tasks_hooks, analysis_named_json,
		      report_text_named},
	[AN_REGIONS] = {"regions", "User-defined regions", "Regions", "named", -1, analysis_regions_hooks,
			analysis_named_json, report_text_named},
	[AN_CPU] = {"cpu", "CPU profile", "CPU", "cpu", -1, analysis_cpu_hooks, analysis_cpu_json, report_text_cpu},
};

int analysis_by_name(const char *s)
{
	for (int i = 0; i < AN_COUNT; i++)
		if (strcmp(s, analysis_registry[i].name) == 0)
			return i;
	return -1;
}

const char *analysis_list(char *buf, size_t len, int profiles)
{
	size_t n = 0;
	buf[0] = 0;
	for (int i = 0; i < AN_COUNT && n < len; i++)
		if (!profiles || analysis_is_profile(i))
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", analysis_registry[i].name);
	return buf;
}
