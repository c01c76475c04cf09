/* The web UI's files, embedded at build time (viewer/embed.cmake). */
#ifndef CPROF_UI_ASSETS_H
#define CPROF_UI_ASSETS_H

#include <stddef.h>

struct ui_asset {
	const char *path; /* "/index.html" */
	const unsigned char *data;
	size_t len;
};
extern const struct ui_asset ui_assets[]; /* ends with a NULL path */

#endif
