/*
 * Progress on stderr for reads that take more than a second (the walk's
 * two passes, -json): one line rewritten at most once a second, erased at
 * the end. Cheap enough to call per event: progress_tick reads the clock
 * every 65536 calls.
 */
#ifndef CPROF_PROGRESS_H
#define CPROF_PROGRESS_H

#include <stdint.h>

struct progress {
	const char *path, *what;
	uint64_t size;   /* bytes of input, 0 unknown */
	uint64_t calls;  /* progress_tick calls */
	double start, last; /* seconds (CLOCK_MONOTONIC) */
	int shown;       /* a line is on the terminal */
};

/* size: the file's size by stat(path), 0 when that fails. */
void progress_begin(struct progress *g, const char *path, const char *what);
/* The line, when a second has passed since the start or the last one. */
void progress_show(struct progress *g, uint64_t offset);
/* offset: bytes of input consumed so far. Inline: the walk calls it per
 * event; every 65536th call goes on to progress_show. */
static inline void progress_tick(struct progress *g, uint64_t offset)
{
	if ((++g->calls & 0xffff) == 0)
		progress_show(g, offset);
}
void progress_end(struct progress *g);

#endif
