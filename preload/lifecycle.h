/*
 * lifecycle.h - the process's life as the trace sees it: start (first allocator call, then
 * the constructor), fork, exec, exit. hooks.c calls these; they bring up and wind down the
 * layers below (trace, tbuf, counts, stacks, modules, the flusher) in their order.
 */
#ifndef GP_LIFECYCLE_H
#define GP_LIFECYCLE_H

/* Declared hidden as they are defined (-fvisibility=hidden): reached directly, not
 * through the GOT. */
#pragma GCC visibility push(hidden)

/* Bring the collector up (idempotent, thread-safe). @return nonzero if tracing is on. */
int gp_init(void);
/* The constructor's part: read the environment, register fork handlers, create the file,
 * start the flusher. */
void gp_init_late(void);

/* Write everything out and stop (exit, _exit, exec). */
void gp_finish(int reason);
/* exec failed: start a new trace so nothing after it is lost. */
void gp_restart_after_exec(void);

#pragma GCC visibility pop

#endif
