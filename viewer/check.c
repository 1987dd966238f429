/* check.c - growprof check (being written). */
#include "cmds.h"
#include <stdio.h>
int gp_cmd_check(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "growprof check: not built yet\n"); return 2; }
