/* Progress lines on stderr (progress.h). */
#include "progress.h"

#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

static double now_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void progress_begin(struct progress *g, const char *path, const char *what)
{
	*g = (struct progress){.path = path, .what = what, .start = now_seconds()};
	struct stat st;
	if (stat(path, &st) == 0)
		g->size = (uint64_t)st.st_size;
}

void progress_show(struct progress *g, uint64_t offset)
{
	double now = now_seconds();
	if (now - g->start < 1.0 || (g->shown && now - g->last < 1.0))
		return;
	g->last = now;
	g->shown = 1;
	fprintf(stderr, "\rcprof-trace: %s: %s: %.0f of %.0f MB (%.0f%%)   ", g->path, g->what, (double)offset / 1e6,
		(double)g->size / 1e6, g->size ? 100.0 * (double)offset / (double)g->size : 0.0);
}

void progress_end(struct progress *g)
{
	if (g->shown)
		fprintf(stderr, "\r%*s\r", 78, "");
	g->shown = 0;
}
