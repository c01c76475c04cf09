/*
 * Traces written as text, turned into binary traces by the real writer
 * (format/trace_writer.c): the golden tests' input, like Go's
 * internal/trace/testdata. One item a line; '#' starts a comment.
 *
 *   header pid=100 ticks_per_sec=1000000000 cmdline="demo"
 *   thread TID "name"                      the thread's name in its batches
 *   stack ID FUNCTION FILE:LINE [; FUNCTION FILE:LINE ...]   leaf first
 *   lost tid=TID dropped=N [first=TICKS last=TICKS]          a LOST chunk entry
 *   TICKS TID KIND [ARG=VALUE ...] [msg="..."]               one event
 *
 * KIND and ARG are the event table's wire and argument names
 * (trace_events.h); an argument left out is 0. An argument the table marks
 * as a string id takes a quoted string (ids are given in order of first
 * use); the others take integers (decimal or 0x hex). Consecutive event
 * lines of one thread form one batch, so the file's order of lines is the
 * order in which a reader meets the batches. Strings and stacks are
 * written before the batches, the LOST chunk after them.
 */
#ifndef CPROF_TEXT_TRACE_H
#define CPROF_TEXT_TRACE_H

#include <stddef.h>

#include "trace_writer.h"

/* Converts text into a complete binary trace in out (appended). Returns 0,
 * or -1 with err set to "line N: cause". */
int text_trace_convert(const char *text, struct trace_buf *out, char *err, size_t errlen);

#endif
