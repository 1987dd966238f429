/* pt-killme MODE: a process that is killed (by the checker, with SIGKILL).
 *   sleep  kill_grow grows buffers (+32, 500 steps each, freed) for at least 0.7 s, so that
 *          the preload's periodic flush has had its chance during the growth; then writes
 *          its truth (tag sleep), prints "ready" and sleeps (the checker kills it >= 1 s
 *          later).
 *   busy   prints "ready" after 0.7 s of growth in three threads, and goes on growing
 *          until killed (killed in the middle of its reallocs: the trace ends anywhere).
 */
#define _GNU_SOURCE
#include "proc.h"

#include <time.h>

static gp_truth T;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

GP_SITE static uint64_t kill_grow(unsigned seed)
{
    gp_block b = {0};
    for (int i = 0; i < 501; i++) {
        size_t old = b.size;
        if (GP_REALLOC(&T, &b, old + 32) == NULL)
            abort();
        pt_fill(b.p, old, b.size, seed);
    }
    uint64_t h = pt_hash(b.p, b.size, PT_HASH0);
    free(b.p);
    gp_freed(&T, &b);
    return h;
}

static void *busy(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (;;)
        kill_grow(seed++);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "sleep";
    gp_init(&T);
    gp_declare(&T, "kill_grow");
    double t0 = now();
    uint64_t h = 0;
    unsigned rounds = 0;

    if (strcmp(mode, "busy") == 0) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            if (pthread_create(&t[i], NULL, busy, (void *)(uintptr_t)(i * 1000)) != 0)
                abort();
        while (now() - t0 < 0.7)
            h ^= kill_grow(rounds++);
        printf("ready\n");
        fflush(stdout);
        for (;;)
            h ^= kill_grow(rounds++);
    }

    while (now() - t0 < 0.7 || rounds < 4)
        h ^= kill_grow(rounds++);
    pt_note("rounds", rounds);
    pt_write(&T, "killme", "sleep");
    printf("ready\n");
    fflush(stdout);
    for (;;)
        sleep(60);
    return (int)(h & 1);
}
