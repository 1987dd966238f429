/*
 * options.h - the environment the preload obeys (README "Options"): GROWPROF_DISABLE,
 * GROWPROF_DEPTH, GROWPROF_OUTPUT. Read with getenv only: this runs inside the program,
 * maybe from its first malloc, before its constructors.
 */
#ifndef GP_OPTIONS_H
#define GP_OPTIONS_H

/* Declared hidden as they are defined (-fvisibility=hidden): reached directly, not
 * through the GOT. */
#pragma GCC visibility push(hidden)

#define GP_DEPTH_MAX 256

/* GROWPROF_DEPTH: frames per stack (1 to GP_DEPTH_MAX, default 64). */
extern unsigned gp_depth;
/* GROWPROF_OUTPUT: the trace file's name pattern (%p, %e, %%) or a folder. */
extern char gp_out_pattern[1024];

/* Read the environment again (the first call may be too early for it). @return -1 if there
 * is no environment yet (nothing read), 1 if GROWPROF_DISABLE asks for no profiling, else 0. */
int gp_options_read(void);

#pragma GCC visibility pop

#endif
