/* linear: string builders that append 16 bytes at a time up to 64 KiB, with
 * realloc(p, len + 16) on every append: the classic O(n^2) copy pattern.
 *
 * sb_append:       4 builders appended to in turn (so that glibc can seldom grow a block
 *                  in place), 4096 appends each: 4 chains of 4095 steps, all grows of +16.
 * sb_append_alone: 1 builder on its own, 4096 appends: 1 chain of 4095 steps.
 * The first append of a builder is realloc(NULL, 16): an allocation, not a step.
 */
#define _GNU_SOURCE
#include "truth.h"

#include <stdio.h>

#define CHUNK 16
#define APPENDS 4096 /* 4096 * 16 = 64 KiB */
#define BUILDERS 4

static gp_truth T;

typedef struct {
    gp_block b;
    size_t len;
} sbuilder;

static void fill(char *dst, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)('a' + (seed + i * 7) % 26);
}

GP_SITE static void sb_append(sbuilder *sb, const char *data, size_t len)
{
    size_t need = sb->len + len;
    if (GP_REALLOC(&T, &sb->b, need) == NULL)
        abort();
    memcpy((char *)sb->b.p + sb->len, data, len);
    sb->len = need;
}

GP_SITE static void sb_append_alone(sbuilder *sb, const char *data, size_t len)
{
    size_t need = sb->len + len;
    if (GP_REALLOC(&T, &sb->b, need) == NULL)
        abort();
    memcpy((char *)sb->b.p + sb->len, data, len);
    sb->len = need;
}

static uint64_t checksum(const sbuilder *sb, uint64_t h)
{
    const unsigned char *p = sb->b.p;
    for (size_t i = 0; i < sb->len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static void sb_release(sbuilder *sb)
{
    free(sb->b.p);
    gp_freed(&T, &sb->b);
    sb->len = 0;
}

int main(void)
{
    gp_init(&T);
    gp_declare(&T, "sb_append");
    gp_declare(&T, "sb_append_alone");

    sbuilder sb[BUILDERS] = {0};
    sbuilder alone = {0};
    char chunk[CHUNK];
    uint64_t h = 1469598103934665603ULL;

    for (unsigned i = 0; i < APPENDS; i++) {
        for (unsigned j = 0; j < BUILDERS; j++) {
            fill(chunk, CHUNK, i + 31 * j);
            sb_append(&sb[j], chunk, CHUNK);
        }
    }
    for (unsigned j = 0; j < BUILDERS; j++) {
        h = checksum(&sb[j], h);
        sb_release(&sb[j]);
    }
    for (unsigned i = 0; i < APPENDS; i++) {
        fill(chunk, CHUNK, 3 * i);
        sb_append_alone(&alone, chunk, CHUNK);
    }
    h = checksum(&alone, h);
    sb_release(&alone);

    const uint64_t per = APPENDS - 1;
    gp_expect(&T, "sb_append", "steps", BUILDERS * per);
    gp_expect(&T, "sb_append", "grows", BUILDERS * per);
    gp_expect(&T, "sb_append", "shrinks", 0);
    gp_expect(&T, "sb_append", "chains", BUILDERS);
    gp_expect(&T, "sb_append_alone", "steps", per);
    gp_expect(&T, "sb_append_alone", "grows", per);
    gp_expect(&T, "sb_append_alone", "shrinks", 0);
    gp_expect(&T, "sb_append_alone", "chains", 1);
    gp_expect(&T, NULL, "allocs", BUILDERS + 1);
    gp_expect(&T, NULL, "frees", BUILDERS + 1);
    gp_expect(&T, NULL, "steps", (BUILDERS + 1) * per);
    gp_expect(&T, NULL, "grows", (BUILDERS + 1) * per);
    gp_expect(&T, NULL, "shrinks", 0);
    gp_expect(&T, NULL, "failed", 0);
    gp_expect(&T, NULL, "chains", BUILDERS + 1);
    gp_expect(&T, NULL, "max_chain_steps", per);

    printf("linear: %d builders + 1 of %d bytes, checksum %016llx\n", BUILDERS,
           APPENDS * CHUNK, (unsigned long long)h);
    fflush(stdout);
    return gp_write(&T, "linear") == 0 ? 0 : 2;
}
