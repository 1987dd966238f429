/* doubling: byte vectors whose capacity doubles from 8 bytes when full, pushed to
 * 1 MiB + 1 bytes, so their last capacity is 2 MiB: 18 steps per vector (8 -> 2^21), all
 * grows by a factor 2. Past glibc's mmap threshold (128 KiB) a grown block may be served
 * by mmap, and its later moves are remaps.
 *
 * vec_grow: vector A on its own, then vectors B and C pushed to in turn: 3 chains,
 *           54 steps. The first growth of a vector is realloc(NULL, 8): an allocation.
 */
#define _GNU_SOURCE
#include "truth.h"

#include <stdio.h>

#define FIRST_CAP 8
#define PUSHES (((size_t)1 << 20) + 1)

static gp_truth T;

typedef struct {
    gp_block b;
    size_t len, cap;
} vec;

GP_SITE static void vec_grow(vec *v)
{
    size_t ncap = v->cap ? v->cap * 2 : FIRST_CAP;
    if (GP_REALLOC(&T, &v->b, ncap) == NULL)
        abort();
    v->cap = ncap;
}

static inline void vec_push(vec *v, unsigned char c)
{
    if (v->len == v->cap)
        vec_grow(v);
    ((unsigned char *)v->b.p)[v->len++] = c;
}

static uint64_t vec_sum(vec *v, uint64_t h)
{
    const unsigned char *p = v->b.p;
    for (size_t i = 0; i < v->len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    free(v->b.p);
    gp_freed(&T, &v->b);
    v->len = v->cap = 0;
    return h;
}

int main(void)
{
    gp_init(&T);
    gp_declare(&T, "vec_grow");
    uint64_t h = 1469598103934665603ULL;

    vec a = {0}, b = {0}, c = {0};
    for (size_t i = 0; i < PUSHES; i++)
        vec_push(&a, (unsigned char)(i * 13));
    h = vec_sum(&a, h);
    for (size_t i = 0; i < PUSHES; i++) {
        vec_push(&b, (unsigned char)(i * 5));
        vec_push(&c, (unsigned char)(i * 11 + 1));
    }
    h = vec_sum(&b, h);
    h = vec_sum(&c, h);

    unsigned steps = 0; /* FIRST_CAP * 2^steps >= PUSHES */
    for (size_t cap = FIRST_CAP; cap < PUSHES; cap *= 2)
        steps++;
    gp_expect(&T, "vec_grow", "steps", 3 * steps);
    gp_expect(&T, "vec_grow", "grows", 3 * steps);
    gp_expect(&T, "vec_grow", "shrinks", 0);
    gp_expect(&T, "vec_grow", "chains", 3);
    gp_expect(&T, NULL, "allocs", 3);
    gp_expect(&T, NULL, "frees", 3);
    gp_expect(&T, NULL, "steps", 3 * steps);
    gp_expect(&T, NULL, "grows", 3 * steps);
    gp_expect(&T, NULL, "shrinks", 0);
    gp_expect(&T, NULL, "failed", 0);
    gp_expect(&T, NULL, "chains", 3);
    gp_expect(&T, NULL, "max_chain_steps", steps);

    printf("doubling: 3 vectors of %zu bytes, checksum %016llx\n", (size_t)PUSHES,
           (unsigned long long)h);
    fflush(stdout);
    return gp_write(&T, "doubling") == 0 ? 0 : 2;
}
