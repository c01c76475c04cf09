/*
 * libm, loaded on first use (m_lazy.c). Internal.
 */
#ifndef CPROF_M_LAZY_H
#define CPROF_M_LAZY_H

#include "core/visibility.h"

/* exp(x); 0 when libm cannot be loaded. Not async-signal-safe. */
double cprof_exp(double x) CPROF_INTERNAL;

#endif
