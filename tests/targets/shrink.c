/* shrink: steps that grow, shrink and keep the size.
 *
 * resize_series: 5 blocks of 1000 bytes, resized in turn through
 *                4000, 16000, 8000, 100, 100, 200, 50: 7 steps each (3 grows, 3 shrinks,
 *                1 to the same size): 35 steps, 15 grows, 15 shrinks, 5 chains.
 * buf_grow:      3 buffers of 64 bytes doubled to 8192: 7 grows each, 21 in all.
 * shrink_to_fit: the same 3 buffers cut to 5000 bytes: 3 shrinks. Their chains have steps
 *                in both functions (3 chains at each, 3 chains in all).
 * shrink_big:    one 4 MiB block (glibc mmaps it) resized to 1 MiB, 100 KiB, 100 bytes,
 *                2 MiB, 2 MiB: 5 steps, 1 grow, 3 shrinks, 1 same size.
 * Totals: 64 steps, 37 grows, 21 shrinks, 9 chains, 9 allocs, 9 frees, longest chain 8.
 */
#define _GNU_SOURCE
#include "truth.h"

#include <stdio.h>

#define NSERIES 5
#define NBUF 3

static gp_truth T;
static const size_t series[] = {4000, 16000, 8000, 100, 100, 200, 50};
#define SERIES_LEN (sizeof series / sizeof series[0])

static void touch(gp_block *b, unsigned seed)
{
    memset(b->p, (int)(seed & 0xff), b->size);
}

static uint64_t sum_and_free(gp_block *b, uint64_t h)
{
    const unsigned char *p = b->p;
    for (size_t i = 0; i < b->size; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    free(b->p);
    gp_freed(&T, b);
    return h;
}

static void make(gp_block *b, size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    gp_alloced(&T, b, p, n);
}

GP_SITE static void resize_series(gp_block *b, size_t n)
{
    if (GP_REALLOC(&T, b, n) == NULL)
        abort();
}

GP_SITE static void buf_grow(gp_block *b)
{
    if (GP_REALLOC(&T, b, b->size * 2) == NULL)
        abort();
}

GP_SITE static void shrink_to_fit(gp_block *b, size_t used)
{
    if (GP_REALLOC(&T, b, used) == NULL)
        abort();
}

GP_SITE static void shrink_big(gp_block *b, size_t n)
{
    if (GP_REALLOC(&T, b, n) == NULL)
        abort();
}

int main(void)
{
    gp_init(&T);
    gp_declare(&T, "resize_series");
    gp_declare(&T, "buf_grow");
    gp_declare(&T, "shrink_to_fit");
    gp_declare(&T, "shrink_big");
    uint64_t h = 1469598103934665603ULL;

    gp_block s[NSERIES];
    for (int i = 0; i < NSERIES; i++) {
        make(&s[i], 1000);
        touch(&s[i], (unsigned)i);
    }
    for (size_t k = 0; k < SERIES_LEN; k++)
        for (int i = 0; i < NSERIES; i++) {
            resize_series(&s[i], series[k]);
            touch(&s[i], (unsigned)(i + k));
        }
    for (int i = 0; i < NSERIES; i++)
        h = sum_and_free(&s[i], h);

    gp_block bufs[NBUF];
    for (int i = 0; i < NBUF; i++) {
        make(&bufs[i], 64);
        touch(&bufs[i], 7u * (unsigned)i);
    }
    for (int r = 0; r < 7; r++)
        for (int i = 0; i < NBUF; i++) {
            buf_grow(&bufs[i]);
            touch(&bufs[i], (unsigned)(r * 3 + i));
        }
    for (int i = 0; i < NBUF; i++) {
        shrink_to_fit(&bufs[i], 5000);
        h = sum_and_free(&bufs[i], h);
    }

    gp_block big;
    static const size_t big_sizes[] = {1 << 20, 100 << 10, 100, 2 << 20, 2 << 20};
    make(&big, 4 << 20);
    touch(&big, 1);
    for (size_t k = 0; k < sizeof big_sizes / sizeof big_sizes[0]; k++) {
        shrink_big(&big, big_sizes[k]);
        touch(&big, (unsigned)k + 2);
    }
    h = sum_and_free(&big, h);

    gp_expect(&T, "resize_series", "steps", 35);
    gp_expect(&T, "resize_series", "grows", 15);
    gp_expect(&T, "resize_series", "shrinks", 15);
    gp_expect(&T, "resize_series", "chains", 5);
    gp_expect(&T, "buf_grow", "steps", 21);
    gp_expect(&T, "buf_grow", "grows", 21);
    gp_expect(&T, "buf_grow", "shrinks", 0);
    gp_expect(&T, "buf_grow", "chains", 3);
    gp_expect(&T, "shrink_to_fit", "steps", 3);
    gp_expect(&T, "shrink_to_fit", "grows", 0);
    gp_expect(&T, "shrink_to_fit", "shrinks", 3);
    gp_expect(&T, "shrink_to_fit", "chains", 3);
    gp_expect(&T, "shrink_big", "steps", 5);
    gp_expect(&T, "shrink_big", "grows", 1);
    gp_expect(&T, "shrink_big", "shrinks", 3);
    gp_expect(&T, "shrink_big", "chains", 1);
    gp_expect(&T, NULL, "allocs", 9);
    gp_expect(&T, NULL, "frees", 9);
    gp_expect(&T, NULL, "steps", 64);
    gp_expect(&T, NULL, "grows", 37);
    gp_expect(&T, NULL, "shrinks", 21);
    gp_expect(&T, NULL, "failed", 0);
    gp_expect(&T, NULL, "chains", 9);
    gp_expect(&T, NULL, "max_chain_steps", 8);

    printf("shrink: checksum %016llx\n", (unsigned long long)h);
    fflush(stdout);
    return gp_write(&T, "shrink") == 0 ? 0 : 2;
}
