/*
 * ialloc.h - the preload's own memory, straight from mmap.
 *
 * Nothing the profiler does may go through malloc: the program's malloc is us (recursion),
 * and an interposer stacked in front of us (a counter) would see our allocations as the
 * program's. uthash, zstd and our tables all allocate here.
 */
#ifndef GP_IALLOC_H
#define GP_IALLOC_H

#include <stddef.h>

/* @return zeroed memory of `n` bytes, or NULL. Async-signal-unsafe (takes a spinlock). */
void *gp_ialloc(size_t n);
/* Release memory from gp_ialloc (NULL is ignored). */
void gp_ifree(void *p);
/* Page-granular memory for large tables: @return zeroed memory or NULL. */
void *gp_imap(size_t n);
void gp_iunmap(void *p, size_t n);
/* After fork, in the child: the lock may have been held by a thread that is gone. */
void gp_ialloc_atfork_child(void);
void gp_ialloc_lock(void);
void gp_ialloc_unlock(void);

#endif
