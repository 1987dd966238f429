/* cmds.h - the subcommands of growprof and the helpers they share (cmds.c). */
#ifndef GP_CMDS_H
#define GP_CMDS_H

#include "view.h"

#include <stdint.h>

/* Each takes argv with argv[0] = the command name. @return the process exit code. */
int gp_cmd_check(int argc, char **argv);
int gp_cmd_diff(int argc, char **argv);
int gp_cmd_record(int argc, char **argv);

/* Print "growprof CMD: <message> (see 'growprof CMD --help')" to stderr. @return 2. */
int gp_die_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse a non-negative decimal integer. @return 0, -1 if it is not one. */
int gp_parse_count(const char *s, uint64_t *out);
/* Load every trace into v; on the first failure print "growprof CMD: FILE: problem".
 * @return 0, or 2 (the exit code for unreadable input). */
int gp_load_traces(struct gp_view *v, char **files, int n, const char *cmd);
/* An argument after the options that looks like an option and is not a file: print a usage
 * error ("options go before the trace files") and @return 2; else @return 0. ("--" is
 * skipped: diff's separator.) */
int gp_misplaced_option(const char *cmd, char **args, int n);

#endif
