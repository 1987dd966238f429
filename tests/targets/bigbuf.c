/* bigbuf: buffers of 1 MiB and more, grown by 1 MiB steps. glibc serves them with mmap
 * and grows them with mremap: a step that moves is a remap and copies nothing.
 * The mmap threshold is pinned to 128 KiB with mallopt (which also turns off glibc's
 * dynamic threshold), so that the placement does not depend on what was freed before.
 *
 * bigbuf_grow:  2 buffers of 1 MiB grown in turn by 1 MiB to 32 MiB: 31 grows each,
 *               62 steps, 2 chains.
 * heap_to_mmap: a 64 KiB block (below the threshold: on the heap) grown by 256 KiB steps
 *               to 1088 KiB: 4 grows, 1 chain; its first move leaves the heap, and the
 *               later ones may be remaps.
 * Totals: 66 steps, 66 grows, 3 chains, 3 allocs, 3 frees, longest chain 31.
 */
#define _GNU_SOURCE
#include "truth.h"

#include <malloc.h>
#include <stdio.h>

#define MIB ((size_t)1 << 20)
#define KIB ((size_t)1 << 10)
#define BIG_STEPS 31

static gp_truth T;

static void make(gp_block *b, size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    gp_alloced(&T, b, p, n);
    memset(p, 0x5a, n);
}

static uint64_t sum_and_free(gp_block *b, uint64_t h)
{
    const unsigned char *p = b->p;
    for (size_t i = 0; i < b->size; i += 4096)
        h = (h ^ p[i] ^ p[b->size - 1 - i]) * 1099511628211ULL;
    free(b->p);
    gp_freed(&T, b);
    return h;
}

GP_SITE static void bigbuf_grow(gp_block *b, size_t add)
{
    size_t old = b->size;
    if (GP_REALLOC(&T, b, old + add) == NULL)
        abort();
    memset((char *)b->p + old, (int)((old / MIB) & 0xff), add);
}

GP_SITE static void heap_to_mmap(gp_block *b, size_t add)
{
    size_t old = b->size;
    if (GP_REALLOC(&T, b, old + add) == NULL)
        abort();
    memset((char *)b->p + old, 0x33, add);
}

int main(void)
{
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    gp_init(&T);
    gp_declare(&T, "bigbuf_grow");
    gp_declare(&T, "heap_to_mmap");
    uint64_t h = 1469598103934665603ULL;

    gp_block a, b;
    make(&a, MIB);
    make(&b, MIB);
    for (int i = 0; i < BIG_STEPS; i++) {
        bigbuf_grow(&a, MIB);
        bigbuf_grow(&b, MIB);
    }
    h = sum_and_free(&a, h);
    h = sum_and_free(&b, h);

    gp_block c;
    make(&c, 64 * KIB);
    for (int i = 0; i < 4; i++)
        heap_to_mmap(&c, 256 * KIB);
    h = sum_and_free(&c, h);

    gp_expect(&T, "bigbuf_grow", "steps", 2 * BIG_STEPS);
    gp_expect(&T, "bigbuf_grow", "grows", 2 * BIG_STEPS);
    gp_expect(&T, "bigbuf_grow", "shrinks", 0);
    gp_expect(&T, "bigbuf_grow", "chains", 2);
    gp_expect(&T, "heap_to_mmap", "steps", 4);
    gp_expect(&T, "heap_to_mmap", "grows", 4);
    gp_expect(&T, "heap_to_mmap", "shrinks", 0);
    gp_expect(&T, "heap_to_mmap", "chains", 1);
    gp_expect(&T, NULL, "allocs", 3);
    gp_expect(&T, NULL, "frees", 3);
    gp_expect(&T, NULL, "steps", 2 * BIG_STEPS + 4);
    gp_expect(&T, NULL, "grows", 2 * BIG_STEPS + 4);
    gp_expect(&T, NULL, "shrinks", 0);
    gp_expect(&T, NULL, "failed", 0);
    gp_expect(&T, NULL, "chains", 3);
    gp_expect(&T, NULL, "max_chain_steps", BIG_STEPS);

    printf("bigbuf: 2 x %zu MiB + %zu KiB, checksum %016llx\n", (BIG_STEPS + 1) * MIB / MIB,
           (64 + 4 * 256) * KIB / KIB, (unsigned long long)h);
    fflush(stdout);
    return gp_write(&T, "bigbuf") == 0 ? 0 : 2;
}
