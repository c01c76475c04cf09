/*
 * Processes in the walk: a trace of a process tree (format v2, flag TREE)
 * holds threads of many processes. Thread groups carry their process
 * ("pid 123 nginx: worker process / main"), so the threads report groups
 * by process, then by start routine, and the timeline, which orders rows by
 * group, shows each process's threads together. -pid= (walk_only_pid)
 * restricts every walk to one process.
 *
 * Kept out of walk.c: the walk's state machines do not know about
 * processes beyond skipping other pids' events.
 */
#define _GNU_SOURCE /* asprintf */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walk.h"

uint32_t walk_only_pid;

/* walk.c: the group without the process. */
const char *walk_thread_routine_group(const struct walk *w, const struct walk_thread *t);

int walk_multi_process(const struct walk *w)
{
	if (!w->r.tree)
		return 0;
	for (uint32_t i = 1; i < w->r.nparts; i++)
		if (w->r.parts[i].pid != w->r.parts[0].pid)
			return 1;
	return 0;
}

uint32_t walk_thread_pid(const struct walk *w, const struct walk_thread *t)
{
	return trace_reader_thread_pid(&w->r, t->tid);
}

void walk_process_label(const struct walk *w, uint32_t pid, char *buf, size_t cap)
{
	const struct trace_part *p = trace_reader_process(&w->r, pid);
	char cmd[61] = "";
	if (p && p->cmdline) {
		/* argv[0] without its directory: "forking_server 2", not a path */
		const char *c = p->cmdline, *slash = memchr(c, 0, p->cmdline_len) ? strrchr(c, '/') : NULL;
		size_t skip = slash ? (size_t)(slash + 1 - c) : 0;
		size_t len = p->cmdline_len - skip;
		size_t n = len < sizeof cmd - 1 ? len : sizeof cmd - 1;
		memcpy(cmd, c + skip, n);
		for (size_t i = 0; i < n; i++) /* arguments apart, one line: `python3 -c "...\n..."` */
			if ((unsigned char)cmd[i] < 0x20 || cmd[i] == 0x7f)
				cmd[i] = ' ';
		cmd[n] = 0;
	}
	snprintf(buf, cap, "pid %u%s%s", pid, *cmd ? " " : "", cmd);
}

const char *walk_thread_group(const struct walk *w, const struct walk_thread *t)
{
	const char *routine = walk_thread_routine_group(w, t);
	if (!walk_multi_process(w))
		return routine;
	/* A cache, made under a lock: the web UI's request threads share the walk. */
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&lock);
	char *g = t->group;
	if (!g) {
		char label[128];
		walk_process_label(w, walk_thread_pid(w, t), label, sizeof label);
		if (asprintf(&g, "%s / %s", label, routine) < 0)
			g = NULL;
		((struct walk_thread *)t)->group = g; /* the label never changes once the walk ended */
	}
	pthread_mutex_unlock(&lock);
	return g ? g : routine;
}
