/* The interface of libgrower.so (tests/targets/libgrower.c), loaded by dlopen_main. */
#ifndef GP_GROWER_H
#define GP_GROWER_H

#include "truth.h"

#define GROWER_FIRST 16
#define GROWER_LIMIT (256 * 1024)

/* Grows `rounds` buffers one after the other by a factor 1.5 (n += n / 2) from
 * GROWER_FIRST bytes until they hold at least GROWER_LIMIT; records the truth in *t.
 * Returns a checksum of their contents. */
typedef uint64_t (*grower_grow_fn)(gp_truth *t, int rounds);
uint64_t grower_grow(gp_truth *t, int rounds);

/* Steps of one buffer: follows from the constants alone. */
static inline uint64_t grower_steps_per_round(void)
{
    uint64_t steps = 0;
    for (size_t n = GROWER_FIRST; n < GROWER_LIMIT; n += n / 2)
        steps++;
    return steps;
}

#endif
