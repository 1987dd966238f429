/*
 * modules.h - the executable and shared objects mapped in the process, for offline
 * symbolization: path, load bias, address range and GNU build id of each.
 */
#ifndef GP_MODULES_H
#define GP_MODULES_H

#include <stdint.h>

/* Find our own text range (to drop our frames from stacks). */
void gp_modules_self(uintptr_t *lo, uintptr_t *hi);

/* Write MODULE records for every mapped object not yet written in this trace (all of them
 * after gp_modules_new_trace). Caller holds the trace lock. @return nonzero if an object now
 * occupies addresses that belonged to another one (dlclose, then dlopen at the same place):
 * stacks interned before may then mean something else. */
int gp_modules_sync_locked(void);

/* Set by dlclose: the next stack interned checks the module map first. */
extern int gp_modules_dirty;

/* @return nonzero if objects were loaded or unloaded since the last sync (cheap: reads the
 * loader's counters). Caller holds the trace lock. */
int gp_modules_changed_locked(void);

/* @return nonzero if `addr` lies in a module already written (caller holds the trace lock). */
int gp_modules_known_locked(uint64_t addr);

void gp_modules_new_trace(void);

#endif
