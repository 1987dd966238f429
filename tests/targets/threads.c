/* threads: 8 threads grow their own buffers at the same time (released together by a
 * barrier); per-function truth is summed over the threads.
 *
 * thread_linear: per thread, 4 buffers of 64 bytes grown in turn by +64 to 16 KiB:
 *                255 steps each, 1020 per thread, 8160 in all; 32 chains.
 * thread_double: per thread, 2 buffers of 16 bytes doubled in turn to 64 KiB: 12 steps
 *                each, 24 per thread, 192 in all; 16 chains.
 * Totals: 48 allocs, 48 frees, 8352 steps (all grows), 48 chains, longest chain 255.
 * (pthread_create and thread exit make libc allocations of their own: not in the truth.)
 */
#define _GNU_SOURCE
#include "truth.h"

#include <pthread.h>
#include <stdio.h>

#define NTHREADS 8
#define NLIN 4
#define LIN_STEP 64
#define LIN_MAX (16 * 1024)
#define NDBL 2
#define DBL_FIRST 16
#define DBL_MAX (64 * 1024)

static gp_truth T;
static pthread_barrier_t start;

typedef struct {
    int index;
    uint64_t sum;
} worker;

static void make(gp_block *b, size_t n, int seed)
{
    void *p = malloc(n);
    if (!p)
        abort();
    gp_alloced(&T, b, p, n);
    memset(p, seed & 0xff, n);
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

GP_SITE static void thread_linear(gp_block *b, int seed)
{
    size_t old = b->size;
    if (GP_REALLOC(&T, b, old + LIN_STEP) == NULL)
        abort();
    memset((char *)b->p + old, seed & 0xff, LIN_STEP);
}

GP_SITE static void thread_double(gp_block *b, int seed)
{
    size_t old = b->size;
    if (GP_REALLOC(&T, b, old * 2) == NULL)
        abort();
    memset((char *)b->p + old, seed & 0xff, old);
}

static void *run(void *arg)
{
    worker *w = arg;
    gp_block lin[NLIN], dbl[NDBL];
    uint64_t h = 1469598103934665603ULL;

    pthread_barrier_wait(&start);
    for (int i = 0; i < NLIN; i++)
        make(&lin[i], LIN_STEP, w->index + i);
    for (size_t n = LIN_STEP; n < LIN_MAX; n += LIN_STEP)
        for (int i = 0; i < NLIN; i++)
            thread_linear(&lin[i], (int)(n / LIN_STEP) + i);
    for (int i = 0; i < NDBL; i++)
        make(&dbl[i], DBL_FIRST, 3 * w->index + i);
    for (size_t n = DBL_FIRST; n < DBL_MAX; n *= 2)
        for (int i = 0; i < NDBL; i++)
            thread_double(&dbl[i], (int)n + i);
    for (int i = 0; i < NLIN; i++)
        h = sum_and_free(&lin[i], h);
    for (int i = 0; i < NDBL; i++)
        h = sum_and_free(&dbl[i], h);
    w->sum = h;
    return NULL;
}

int main(void)
{
    gp_init(&T);
    gp_declare(&T, "thread_linear");
    gp_declare(&T, "thread_double");

    pthread_t th[NTHREADS];
    worker w[NTHREADS];
    pthread_barrier_init(&start, NULL, NTHREADS);
    for (int i = 0; i < NTHREADS; i++) {
        w[i].index = i;
        w[i].sum = 0;
        if (pthread_create(&th[i], NULL, run, &w[i]) != 0)
            abort();
    }
    uint64_t h = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        h ^= w[i].sum * (uint64_t)(i + 1);
    }
    pthread_barrier_destroy(&start);

    const uint64_t lin_steps = LIN_MAX / LIN_STEP - 1; /* 255 */
    uint64_t dbl_steps = 0;
    for (size_t n = DBL_FIRST; n < DBL_MAX; n *= 2)
        dbl_steps++; /* 12 */
    const uint64_t lin_all = NTHREADS * NLIN * lin_steps, dbl_all = NTHREADS * NDBL * dbl_steps;
    gp_expect(&T, "thread_linear", "steps", lin_all);
    gp_expect(&T, "thread_linear", "grows", lin_all);
    gp_expect(&T, "thread_linear", "shrinks", 0);
    gp_expect(&T, "thread_linear", "chains", NTHREADS * NLIN);
    gp_expect(&T, "thread_double", "steps", dbl_all);
    gp_expect(&T, "thread_double", "grows", dbl_all);
    gp_expect(&T, "thread_double", "shrinks", 0);
    gp_expect(&T, "thread_double", "chains", NTHREADS * NDBL);
    gp_expect(&T, NULL, "allocs", NTHREADS * (NLIN + NDBL));
    gp_expect(&T, NULL, "frees", NTHREADS * (NLIN + NDBL));
    gp_expect(&T, NULL, "steps", lin_all + dbl_all);
    gp_expect(&T, NULL, "grows", lin_all + dbl_all);
    gp_expect(&T, NULL, "shrinks", 0);
    gp_expect(&T, NULL, "failed", 0);
    gp_expect(&T, NULL, "chains", NTHREADS * (NLIN + NDBL));
    gp_expect(&T, NULL, "max_chain_steps", lin_steps);

    printf("threads: %d threads, checksum %016llx\n", NTHREADS, (unsigned long long)h);
    fflush(stdout);
    return gp_write(&T, "threads") == 0 ? 0 : 2;
}
