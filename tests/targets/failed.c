/* failed: reallocs that fail, free, or allocate instead of stepping.
 *
 * try_huge:    a 100-byte block: realloc to 150 (step), 3 x realloc(p, SIZE_MAX/2)
 *              (failed: NULL, errno ENOMEM, the block and its chain go on), realloc to 200
 *              (step): 2 grows, 1 chain of 2 steps, 3 failed. The chain steps at two
 *              call sites: the function's "chains" (summed over its sites) is 2.
 * zero_free:   a 50-byte block: realloc to 100 (step), realloc(p, 0) (a free, ends the
 *              chain): 1 grow, 1 chain.
 * null_alloc:  realloc(NULL, 64) (an allocation), realloc to 128 (step): 1 grow, 1 chain.
 * array_grow:  reallocarray(NULL, 10, 8) (an allocation), reallocarray(p, 20, 8) (step),
 *              reallocarray(p, SIZE_MAX/4, 8) (overflow: failed, the block goes on),
 *              reallocarray(p, 40, 8) (step), reallocarray(p, 0, 8) (a free):
 *              2 grows, 1 chain (stepping at 2 sites: "chains" 2), 1 failed.
 * failed_allocs: malloc(SIZE_MAX/2), calloc overflow, realloc(NULL, SIZE_MAX/2),
 *              reallocarray(NULL, overflow): all NULL, none of them counts.
 * Totals: 4 allocs, 4 frees, 6 steps (all grows), 4 failed, 4 chains, longest chain 2.
 * The program also checks errno: ENOMEM after each failure, unchanged by free().
 */
#define _GNU_SOURCE
#include "truth.h"

#include <errno.h>
#include <stdio.h>

static gp_truth T;
static volatile size_t huge = SIZE_MAX / 2;   /* volatile: no compile-time folding */
static volatile size_t quarter = SIZE_MAX / 4;
static void *volatile null_ptr; /* so that realloc(NULL, n) stays a realloc call */
static int errors;

static void expect_errno(int want, const char *what)
{
    if (errno != want) {
        fprintf(stderr, "failed: errno after %s is %d, expected %d\n", what, errno, want);
        errors++;
    }
}

static void fill(gp_block *b)
{
    memset(b->p, 0x42, b->size);
}

static void release(gp_block *b)
{
    errno = EILSEQ;
    free(b->p);
    expect_errno(EILSEQ, "free");
    gp_freed(&T, b);
}

GP_SITE static void try_huge(gp_block *b)
{
    if (GP_REALLOC(&T, b, 150) == NULL)
        abort();
    fill(b);
    for (int i = 0; i < 3; i++) {
        errno = 0;
        if (GP_REALLOC(&T, b, huge) != NULL)
            abort();
        expect_errno(ENOMEM, "realloc(p, SIZE_MAX/2)");
    }
    if (GP_REALLOC(&T, b, 200) == NULL)
        abort();
    fill(b);
}

GP_SITE static void zero_free(gp_block *b)
{
    if (GP_REALLOC(&T, b, 100) == NULL)
        abort();
    fill(b);
    if (GP_REALLOC(&T, b, 0) != NULL) /* glibc frees and returns NULL */
        abort();
}

GP_SITE static void null_alloc(gp_block *b)
{
    if (GP_REALLOC(&T, b, 64) == NULL)
        abort();
    fill(b);
    if (GP_REALLOC(&T, b, 128) == NULL)
        abort();
    fill(b);
}

GP_SITE static void array_grow(gp_block *b)
{
    if (GP_REALLOCARRAY(&T, b, 10, 8) == NULL)
        abort();
    fill(b);
    if (GP_REALLOCARRAY(&T, b, 20, 8) == NULL)
        abort();
    fill(b);
    errno = 0;
    if (GP_REALLOCARRAY(&T, b, quarter, 8) != NULL)
        abort();
    expect_errno(ENOMEM, "reallocarray(p, SIZE_MAX/4, 8)");
    if (GP_REALLOCARRAY(&T, b, 40, 8) == NULL)
        abort();
    fill(b);
    if (GP_REALLOCARRAY(&T, b, 0, 8) != NULL)
        abort();
}

GP_SITE static void failed_allocs(void)
{
    gp_block b = {0};
    b.p = null_ptr;
    errno = 0;
    void *p = malloc(huge);
    if (p)
        abort();
    expect_errno(ENOMEM, "malloc(SIZE_MAX/2)");
    errno = 0;
    p = calloc(quarter, 8);
    if (p)
        abort();
    expect_errno(ENOMEM, "calloc(SIZE_MAX/4, 8)");
    errno = 0;
    if (GP_REALLOC(&T, &b, huge) != NULL)
        abort();
    expect_errno(ENOMEM, "realloc(NULL, SIZE_MAX/2)");
    errno = 0;
    if (GP_REALLOCARRAY(&T, &b, quarter, 8) != NULL)
        abort();
    expect_errno(ENOMEM, "reallocarray(NULL, SIZE_MAX/4, 8)");
}

int main(void)
{
    gp_init(&T);
    gp_declare(&T, "try_huge");
    gp_declare(&T, "zero_free");
    gp_declare(&T, "null_alloc");
    gp_declare(&T, "array_grow");
    gp_declare(&T, "failed_allocs");

    gp_block a = {0}, z = {0}, n = {0}, r = {0};
    void *p = malloc(100);
    if (!p)
        abort();
    gp_alloced(&T, &a, p, 100);
    fill(&a);
    try_huge(&a);
    release(&a);

    p = malloc(50);
    if (!p)
        abort();
    gp_alloced(&T, &z, p, 50);
    fill(&z);
    zero_free(&z);

    null_alloc(&n);
    release(&n);

    array_grow(&r);

    failed_allocs();

    gp_expect(&T, "try_huge", "steps", 2);
    gp_expect(&T, "try_huge", "grows", 2);
    gp_expect(&T, "try_huge", "chains", 2); /* its chain steps at 2 lines */
    gp_expect(&T, "zero_free", "steps", 1);
    gp_expect(&T, "zero_free", "grows", 1);
    gp_expect(&T, "zero_free", "chains", 1);
    gp_expect(&T, "null_alloc", "steps", 1);
    gp_expect(&T, "null_alloc", "grows", 1);
    gp_expect(&T, "null_alloc", "chains", 1);
    gp_expect(&T, "array_grow", "steps", 2);
    gp_expect(&T, "array_grow", "grows", 2);
    gp_expect(&T, "array_grow", "chains", 2); /* its chain steps at 2 lines */
    gp_expect(&T, "failed_allocs", "steps", 0);
    gp_expect(&T, "failed_allocs", "chains", 0);
    gp_expect(&T, NULL, "allocs", 4);
    gp_expect(&T, NULL, "frees", 4);
    gp_expect(&T, NULL, "steps", 6);
    gp_expect(&T, NULL, "grows", 6);
    gp_expect(&T, NULL, "shrinks", 0);
    gp_expect(&T, NULL, "failed", 4);
    gp_expect(&T, NULL, "chains", 4);
    gp_expect(&T, NULL, "max_chain_steps", 2);

    printf("failed: %d errno errors\n", errors);
    fflush(stdout);
    if (gp_write(&T, "failed") != 0)
        return 2;
    return errors ? 3 : 0;
}
