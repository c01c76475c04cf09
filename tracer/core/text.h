/* A growable text buffer for the endpoints' plain-text bodies. Internal. */
#ifndef CPROF_TEXT_H
#define CPROF_TEXT_H

#include <stddef.h>
#include "core/visibility.h"

struct text {
	char *p;    /* NUL-terminated when len > 0; owned, free() it */
	size_t len; /* bytes, without the NUL */
	size_t cap; /* bytes allocated */
};

/* Appends printf-style; on allocation failure the text stays as it was. */
void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3))) CPROF_INTERNAL;

#endif
