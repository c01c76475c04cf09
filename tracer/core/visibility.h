/*
 * The one visibility macro of the library's internals. The library builds
 * with -fvisibility=hidden; public functions say CPROF_API
 * (include/cprof/trace.h), and every internal declaration says
 * CPROF_INTERNAL, so a test linking the static internal library and the
 * shared library agree on what is exported.
 */
#ifndef CPROF_VISIBILITY_H
#define CPROF_VISIBILITY_H

#define CPROF_INTERNAL __attribute__((visibility("hidden")))

#endif
