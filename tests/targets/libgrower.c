/* libgrower.so: a shared library, loaded with dlopen by dlopen_main, whose function
 * grower_grow grows buffers by a factor 1.5 with realloc: its steps have their site in
 * this library. */
#define _GNU_SOURCE
#include "grower.h"

__attribute__((visibility("default"))) GP_SITE uint64_t grower_grow(gp_truth *t, int rounds)
{
    uint64_t h = 1469598103934665603ULL;
    for (int r = 0; r < rounds; r++) {
        gp_block b = {0};
        void *p = malloc(GROWER_FIRST);
        if (!p)
            abort();
        gp_alloced(t, &b, p, GROWER_FIRST);
        memset(p, r + 1, GROWER_FIRST);
        while (b.size < GROWER_LIMIT) {
            size_t old = b.size;
            if (GP_REALLOC(t, &b, old + old / 2) == NULL)
                abort();
            memset((char *)b.p + old, (int)(old & 0xff), b.size - old);
        }
        const unsigned char *q = b.p;
        for (size_t i = 0; i < b.size; i++)
            h = (h ^ q[i]) * 1099511628211ULL;
        free(b.p);
        gp_freed(t, &b);
    }
    return h;
}
