/* Test helper: a whole file in memory, NUL-terminated (malloc'd), or NULL. */
#ifndef CPROF_SLURP_H
#define CPROF_SLURP_H

#include <stdio.h>
#include <stdlib.h>

static inline char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	if (p) {
		p[n] = 0;
		if (len)
			*len = (size_t)n;
	}
	fclose(f);
	return p;
}

#endif
