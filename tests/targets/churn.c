/* churn: many short chains, for the viewer's memory (tests/e2e/check_report_memory.py).
 *
 *     gp-target-churn N [LIVE]
 *
 * N chains, one after the other: malloc(100), then churn_step grows the block to 200 and
 * to 400 bytes (two steps, one call site each), then it is freed, except the first LIVE
 * blocks, which stay live to the end. Closed forms: at churn_step's first site N chains of
 * 1 step, at its second N chains of 1 step; 2N steps, all grows. A report of it must take
 * memory for its sites, stacks and live chains, not for the 4N events.
 */
#define _GNU_SOURCE
#include "truth.h"

#include <stdio.h>

GP_SITE static void *churn_step(void *p)
{
    void *q = realloc(p, 200);
    if (!q)
        abort();
    void *r = realloc(q, 400);
    if (!r)
        abort();
    return r;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    long n = atol(argv[1]), live = argc > 2 ? atol(argv[2]) : 0;
    char **keep = live > 0 ? calloc((size_t)live, sizeof *keep) : NULL;
    unsigned long sum = 0;
    for (long i = 0; i < n; i++) {
        char *p = malloc(100);
        if (!p)
            abort();
        p = churn_step(p);
        p[399] = (char)i;
        sum += (unsigned char)p[399];
        if (i < live)
            keep[i] = p;
        else
            free(p);
    }
    printf("churn %ld %ld %lu\n", n, live, sum);
    for (long i = 0; i < live; i++)
        free(keep[i]);
    free(keep);
    return 0;
}
