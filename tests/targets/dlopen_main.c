/* dlopen_main: loads libgrower.so (its path is argv[1]) with dlopen, finds grower_grow
 * with dlsym and calls it; grows a buffer of its own in main_grow.
 * With "--dlclose" as argv[2] it unloads the library before it exits; with "--deepbind" it
 * loads it with RTLD_DEEPBIND, which would let the library's own malloc & co. bind to libc's
 * before the profiler's (the profiler drops the flag).
 *
 * grower_grow (in libgrower.so): 3 buffers grown by 1.5x from 16 bytes to >= 256 KiB:
 *             24 steps each (16, 24, 36, ... 266,269), 72 steps, 3 chains.
 * main_grow:  one buffer grown by +1 KiB from 1 KiB to 64 KiB: 63 steps, 1 chain.
 * Totals: 4 allocs, 4 frees, 135 steps (all grows), 4 chains, longest chain 63.
 * (dlopen, dlsym and dlclose make libc allocations of their own: not in the truth.)
 */
#define _GNU_SOURCE
#include "grower.h"

#include <dlfcn.h>
#include <stdio.h>

#define ROUNDS 3
#define MAIN_STEP 1024
#define MAIN_MAX (64 * 1024)

static gp_truth T;

GP_SITE static uint64_t main_grow(void)
{
    gp_block b = {0};
    void *p = malloc(MAIN_STEP);
    if (!p)
        abort();
    gp_alloced(&T, &b, p, MAIN_STEP);
    memset(p, 1, MAIN_STEP);
    while (b.size < MAIN_MAX) {
        size_t old = b.size;
        if (GP_REALLOC(&T, &b, old + MAIN_STEP) == NULL)
            abort();
        memset((char *)b.p + old, (int)(old / MAIN_STEP), MAIN_STEP);
    }
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *q = b.p;
    for (size_t i = 0; i < b.size; i++)
        h = (h ^ q[i]) * 1099511628211ULL;
    free(b.p);
    gp_freed(&T, &b);
    return h;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH/libgrower.so [--dlclose|--deepbind]\n", argv[0]);
        return 2;
    }
    int do_close = argc > 2 && strcmp(argv[2], "--dlclose") == 0;
    int deepbind = argc > 2 && strcmp(argv[2], "--deepbind") == 0;
    gp_init(&T);
    gp_declare(&T, "grower_grow");
    gp_declare(&T, "main_grow");

    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL | (deepbind ? RTLD_DEEPBIND : 0));
    if (!lib) {
        fprintf(stderr, "dlopen_main: %s\n", dlerror());
        return 2;
    }
    grower_grow_fn grow = (grower_grow_fn)(uintptr_t)dlsym(lib, "grower_grow");
    if (!grow) {
        fprintf(stderr, "dlopen_main: %s\n", dlerror());
        return 2;
    }
    uint64_t h = grow(&T, ROUNDS);
    h ^= main_grow();
    if (do_close)
        dlclose(lib);

    const uint64_t gsteps = ROUNDS * grower_steps_per_round();
    const uint64_t msteps = MAIN_MAX / MAIN_STEP - 1;
    gp_expect(&T, "grower_grow", "steps", gsteps);
    gp_expect(&T, "grower_grow", "grows", gsteps);
    gp_expect(&T, "grower_grow", "shrinks", 0);
    gp_expect(&T, "grower_grow", "chains", ROUNDS);
    gp_expect(&T, "main_grow", "steps", msteps);
    gp_expect(&T, "main_grow", "grows", msteps);
    gp_expect(&T, "main_grow", "shrinks", 0);
    gp_expect(&T, "main_grow", "chains", 1);
    gp_expect(&T, NULL, "allocs", ROUNDS + 1);
    gp_expect(&T, NULL, "frees", ROUNDS + 1);
    gp_expect(&T, NULL, "steps", gsteps + msteps);
    gp_expect(&T, NULL, "grows", gsteps + msteps);
    gp_expect(&T, NULL, "shrinks", 0);
    gp_expect(&T, NULL, "failed", 0);
    gp_expect(&T, NULL, "chains", ROUNDS + 1);
    gp_expect(&T, NULL, "max_chain_steps",
              msteps > grower_steps_per_round() ? msteps : grower_steps_per_round());

    printf("dlopen: checksum %016llx\n", (unsigned long long)h);
    fflush(stdout);
    return gp_write(&T, "dlopen") == 0 ? 0 : 2;
}
