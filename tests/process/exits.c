/* pt-exits MODE: the ways a process ends. The growing (exit_grow: 3 buffers, +40 bytes,
 * 400 steps each; the third is left allocated) is done by the thread that ends the process,
 * then the truth is written (tag MODE), one line is printed and flushed, and:
 *   return       main returns 6
 *   exit-main    main calls exit(7)
 *   _exit-main   main calls _exit(3)
 *   _exit-thread a second thread grows, then calls _exit(4) while main waits in pthread_join
 *   exit-thread  a second thread grows, then calls exit(5) while main waits in pthread_join
 *   _exit-busy   like _exit-thread (status 4), while two more threads realloc without end
 *   exit-busy    like exit-thread (status 5), while two more threads realloc without end
 * In the busy modes the truth is only what the ending thread did (busy_grow's steps are not
 * counted in it).
 */
#define _GNU_SOURCE
#include "proc.h"

static gp_truth T;
static const char *mode;

GP_SITE static uint64_t exit_grow(void)
{
    uint64_t h = PT_HASH0;
    for (int r = 0; r < 3; r++) {
        gp_block b = {0};
        for (int i = 0; i < 401; i++) {
            size_t old = b.size;
            if (GP_REALLOC(&T, &b, old + 40) == NULL)
                abort();
            pt_fill(b.p, old, b.size, (unsigned)r);
        }
        h = pt_hash(b.p, b.size, h);
        if (r < 2) {
            free(b.p);
            gp_freed(&T, &b);
        }
    }
    return h;
}

/* Not in the truth: runs until the process ends. */
GP_SITE static void *busy_grow(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (;;) {
        char *p = NULL;
        size_t n = 0;
        for (int i = 0; i < 300; i++) {
            char *q = realloc(p, n + 56);
            if (!q)
                abort();
            p = q;
            memset(p + n, (int)seed, 56);
            n += 56;
        }
        free(p);
    }
    return NULL;
}

static void grow_and_report(void)
{
    uint64_t h = exit_grow();
    pt_write(&T, "exits", mode);
    printf("%s: %016llx\n", mode, (unsigned long long)h);
    fflush(stdout);
}

static void *ender(void *arg)
{
    int use_exit = (int)(intptr_t)arg;
    grow_and_report();
    if (use_exit)
        exit(5);
    _exit(4);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: pt-exits MODE\n");
        return 2;
    }
    mode = argv[1];
    gp_init(&T);
    gp_declare(&T, "exit_grow");

    if (strcmp(mode, "return") == 0) {
        grow_and_report();
        return 6;
    }
    if (strcmp(mode, "exit-main") == 0) {
        grow_and_report();
        exit(7);
    }
    if (strcmp(mode, "_exit-main") == 0) {
        grow_and_report();
        _exit(3);
    }
    int busy = strcmp(mode, "_exit-busy") == 0 || strcmp(mode, "exit-busy") == 0;
    int use_exit = strcmp(mode, "exit-thread") == 0 || strcmp(mode, "exit-busy") == 0;
    if (!busy && !use_exit && strcmp(mode, "_exit-thread") != 0) {
        fprintf(stderr, "pt-exits: unknown mode %s\n", mode);
        return 2;
    }
    if (busy) {
        pthread_t b1, b2;
        if (pthread_create(&b1, NULL, busy_grow, (void *)1) != 0 ||
            pthread_create(&b2, NULL, busy_grow, (void *)2) != 0)
            abort();
        usleep(100000); /* let them run */
    }
    pthread_t t;
    if (pthread_create(&t, NULL, ender, (void *)(intptr_t)use_exit) != 0)
        abort();
    pthread_join(t, NULL);
    fprintf(stderr, "pt-exits: the ending thread came back\n");
    return 1;
}
