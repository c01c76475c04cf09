/*
 * The command line's shared parts: the flag tables that -h prints and that
 * unknown flags are matched against, -version, and `record`.
 */
#ifndef CPROF_CLI_H
#define CPROF_CLI_H

#include <stdio.h>

/* One flag of a command: "-name" or "-name ARG" (also "-name=ARG", "--name"). */
struct cli_flag {
	const char *name; /* without the dash */
	const char *arg;  /* metavariable, NULL for a switch */
	const char *help; /* one line */
	const char *env;  /* record only: the variable it sets, or NULL */
	const char *env_value; /* for a switch: the value it sets */
};

extern const struct cli_flag cli_view_flags[];  /* reading a trace; ends with name NULL */
extern const struct cli_flag cli_record_flags[]; /* record; ends with name NULL */

/* Every command and flag, as -h prints it. */
void cli_usage(FILE *out);
void cli_record_usage(FILE *out);
/* "cprof-trace: unknown flag -x" plus the nearest known flag of the table,
 * if one is close enough ("did you mean -y?"). */
void cli_unknown_flag(const char *given, const struct cli_flag *table);
/* Prints the release, the library ABI and the trace format version. */
void cli_version(FILE *out);

/* `cprof-trace record [flags] -- COMMAND [ARGS...]`; argv[0] is "record".
 * Returns the process exit status (COMMAND's, or 125 on our own failure);
 * when COMMAND was killed by a signal, dies of the same signal. */
int viewer_record(int argc, char **argv);

#endif
