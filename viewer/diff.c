/* diff.c - growprof diff (being written). */
#include "cmds.h"
#include <stdio.h>
int gp_cmd_diff(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "growprof diff: not built yet\n"); return 2; }
