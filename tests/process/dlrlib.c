/* libptdlra.so / libptdlrb.so: one source built twice with a different DLR_FN (the name of
 * the site function) so that the two libraries have the same layout and size: the second,
 * loaded after the first is closed, is likely mapped at the same address.
 * dlr_entry (exported by both) calls DLR_FN, which grows DLR_ROUNDS buffers by +DLR_ADD
 * bytes, DLR_STEPS steps each, recording the truth in *t. dlr_site (exported by both) tells
 * where DLR_FN is, so that the test knows the reuse really happened: the second library's
 * site function at the very addresses of the first one's. */
#define _GNU_SOURCE
#include "proc.h"

#ifndef DLR_FN
#error "DLR_FN must name the site function"
#endif

#define DLR_ROUNDS 2
#define DLR_ADD 56
#define DLR_STEPS 300

GP_SITE static uint64_t DLR_FN(gp_truth *t, unsigned seed)
{
    uint64_t h = PT_HASH0;
    for (int r = 0; r < DLR_ROUNDS; r++) {
        gp_block b = {0};
        for (int i = 0; i < DLR_STEPS + 1; i++) {
            size_t old = b.size;
            if (GP_REALLOC(t, &b, old + DLR_ADD) == NULL)
                abort();
            pt_fill(b.p, old, b.size, seed + (unsigned)r);
        }
        h = pt_hash(b.p, b.size, h);
        free(b.p);
        gp_freed(t, &b);
    }
    return h;
}

__attribute__((visibility("default"))) uint64_t dlr_entry(gp_truth *t, unsigned seed,
                                                          uint64_t *steps);
__attribute__((visibility("default"))) uint64_t dlr_entry(gp_truth *t, unsigned seed,
                                                          uint64_t *steps)
{
    *steps = (uint64_t)DLR_ROUNDS * DLR_STEPS;
    return DLR_FN(t, seed);
}

__attribute__((visibility("default"))) uintptr_t dlr_site(void);
__attribute__((visibility("default"))) uintptr_t dlr_site(void)
{
    return (uintptr_t)&DLR_FN;
}
