/*
 * gate.h - helpers shared by the CI gate commands (check.c, diff.c) and the reports.
 *
 * They are defined in gate.c; they never print errors, never exit and call nothing of the
 * viewer but what their arguments are.
 */
#ifndef GP_GATE_H
#define GP_GATE_H

#include "view.h"

#include <stddef.h>
#include <stdio.h>

/* The last component of a path ("a/b/c.c" -> "c.c"); NULL for NULL. */
const char *gp_gate_base(const char *path);

/*
 * Lexically normalize a path into buf: "//" and "/./" collapse, "dir/.." is removed
 * ("/w/build/../src/a.c" -> "/w/src/a.c"). No file system access. @return buf.
 */
char *gp_gate_normpath(char *buf, size_t cap, const char *path);

/* "function (file.c:12)", "function (module+0x1234)" or "?? (...)" into buf. @return buf. */
const char *gp_gate_label(char *buf, size_t cap, const struct gp_vframe *f);

/* Print "growprof CMD: warning: FILE was cut short ..." on stderr for each such trace. */
void gp_gate_warn_cut_short(const struct gp_view *v, const char *cmd);

#endif
