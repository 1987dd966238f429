/*
 * gp_grow.h - the one way viewer/ and src/ grow an array: room for `need` elements, the
 * capacity at least doubling so that appending n elements costs O(n).
 */
#ifndef GP_GROW_H
#define GP_GROW_H

#include <stddef.h>

/*
 * Make room for at least `need` elements of `size` bytes in the array *pp (a pointer to the
 * array pointer) of capacity *cap elements. A new capacity is max(need, 2 * *cap, first);
 * the room added is not cleared. @return 0, or -1 (out of memory, or the byte count
 * overflows) with the array and *cap unchanged.
 */
int gp_grow(void *pp, size_t *cap, size_t need, size_t size, size_t first);

/* gp_grow for an array pointer p: GP_GROW(a->v, a->cap, a->n + 1, 64). */
#define GP_GROW(p, cap, need, first) gp_grow(&(p), &(cap), (need), sizeof *(p), (first))

#endif
