/* aligned: blocks from posix_memalign, aligned_alloc, memalign, valloc and pvalloc passed
 * to realloc and free.
 *
 * aligned_grow:      one block of each kind (posix_memalign(64, 100),
 *                    aligned_alloc(256, 512), memalign(4096, 1000), valloc(3000),
 *                    pvalloc(5000)), resized in turn to 2x, 4x and 3x its first size:
 *                    15 steps, 10 grows, 5 shrinks, 5 chains.
 * aligned_big:       memalign(4096, 2 MiB) (glibc mmaps it) grown to 3 MiB then 4 MiB:
 *                    2 grows, 1 chain.
 * aligned_free_only: one block of each kind freed without any realloc: allocs and frees.
 * Totals: 11 allocs, 11 frees, 17 steps, 12 grows, 5 shrinks, 6 chains, longest chain 3.
 * The size of a pvalloc block is the size asked for (not rounded to a page).
 */
#define _GNU_SOURCE
#include "truth.h"

#include <malloc.h>
#include <stdio.h>

#define NKINDS 5

static gp_truth T;

/* kind 0..4: posix_memalign, aligned_alloc, memalign, valloc, pvalloc */
static const size_t first_size[NKINDS] = {100, 512, 1000, 3000, 5000};
static const size_t alignment[NKINDS] = {64, 256, 4096, 4096, 4096};

static void make_kind(gp_block *b, int kind, size_t n)
{
    void *p = NULL;
    switch (kind) {
    case 0:
        if (posix_memalign(&p, alignment[kind], n) != 0)
            p = NULL;
        break;
    case 1:
        p = aligned_alloc(alignment[kind], n);
        break;
    case 2:
        p = memalign(alignment[kind], n);
        break;
    case 3:
        p = valloc(n);
        break;
    default:
        p = pvalloc(n);
        break;
    }
    if (!p || (uintptr_t)p % alignment[kind] != 0)
        abort();
    gp_alloced(&T, b, p, n);
    memset(p, 0x11 * (kind + 1), n);
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

GP_SITE static void aligned_grow(gp_block *b, size_t n)
{
    size_t old = b->size;
    if (GP_REALLOC(&T, b, n) == NULL)
        abort();
    if (n > old)
        memset((char *)b->p + old, 0x77, n - old);
}

GP_SITE static void aligned_big(gp_block *b, size_t n)
{
    size_t old = b->size;
    if (GP_REALLOC(&T, b, n) == NULL)
        abort();
    if (n > old)
        memset((char *)b->p + old, 0x66, n - old);
}

GP_SITE static uint64_t aligned_free_only(uint64_t h)
{
    for (int k = 0; k < NKINDS; k++) {
        gp_block b;
        make_kind(&b, k, first_size[k] + 10);
        h = sum_and_free(&b, h);
    }
    return h;
}

int main(void)
{
    gp_init(&T);
    gp_declare(&T, "aligned_grow");
    gp_declare(&T, "aligned_big");
    gp_declare(&T, "aligned_free_only");
    uint64_t h = 1469598103934665603ULL;

    gp_block b[NKINDS];
    for (int k = 0; k < NKINDS; k++)
        make_kind(&b[k], k, first_size[k]);
    static const size_t factor[3] = {2, 4, 3};
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < NKINDS; k++)
            aligned_grow(&b[k], first_size[k] * factor[r]);
    for (int k = 0; k < NKINDS; k++)
        h = sum_and_free(&b[k], h);

    gp_block big;
    void *p = memalign(4096, 2 << 20);
    if (!p)
        abort();
    gp_alloced(&T, &big, p, 2 << 20);
    memset(p, 0x55, 2 << 20);
    aligned_big(&big, 3 << 20);
    aligned_big(&big, 4 << 20);
    h = sum_and_free(&big, h);

    h = aligned_free_only(h);

    gp_expect(&T, "aligned_grow", "steps", 15);
    gp_expect(&T, "aligned_grow", "grows", 10);
    gp_expect(&T, "aligned_grow", "shrinks", 5);
    gp_expect(&T, "aligned_grow", "chains", 5);
    gp_expect(&T, "aligned_big", "steps", 2);
    gp_expect(&T, "aligned_big", "grows", 2);
    gp_expect(&T, "aligned_big", "chains", 1);
    gp_expect(&T, "aligned_free_only", "steps", 0);
    gp_expect(&T, NULL, "allocs", 11);
    gp_expect(&T, NULL, "frees", 11);
    gp_expect(&T, NULL, "steps", 17);
    gp_expect(&T, NULL, "grows", 12);
    gp_expect(&T, NULL, "shrinks", 5);
    gp_expect(&T, NULL, "failed", 0);
    gp_expect(&T, NULL, "chains", 6);
    gp_expect(&T, NULL, "max_chain_steps", 3);

    printf("aligned: checksum %016llx\n", (unsigned long long)h);
    fflush(stdout);
    return gp_write(&T, "aligned") == 0 ? 0 : 2;
}
