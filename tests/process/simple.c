/* pt-simple: the main thread and two threads grow buffers (simple_grow, +40 bytes, 500
 * steps, 4 buffers each), print a checksum and exit 0 (or the status given as argv[1]).
 * Used where the point is the environment (unwritable output, GROWPROF_DISABLE).
 * Truth tag main. */
#define _GNU_SOURCE
#include "proc.h"

static gp_truth T;

GP_SITE static uint64_t simple_grow(unsigned seed)
{
    uint64_t h = PT_HASH0;
    for (int r = 0; r < 4; r++) {
        gp_block b = {0};
        for (int i = 0; i < 501; i++) {
            size_t old = b.size;
            if (GP_REALLOC(&T, &b, old + 40) == NULL)
                abort();
            pt_fill(b.p, old, b.size, seed + (unsigned)r);
        }
        h = pt_hash(b.p, b.size, h);
        free(b.p);
        gp_freed(&T, &b);
    }
    return h;
}

static void *run(void *arg)
{
    return (void *)(uintptr_t)simple_grow((unsigned)(uintptr_t)arg);
}

int main(int argc, char **argv)
{
    int status = argc > 1 ? atoi(argv[1]) : 0;
    gp_init(&T);
    gp_declare(&T, "simple_grow");
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, run, (void *)(uintptr_t)(10 * i + 10)) != 0)
            abort();
    uint64_t h = simple_grow(0);
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        h ^= (uint64_t)(uintptr_t)r;
    }
    pt_write(&T, "simple", "main");
    printf("simple: %016llx\n", (unsigned long long)h);
    return status;
}
