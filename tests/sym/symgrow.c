/* symgrow: realloc growth at sites that only some symbol sources can name, for the
 * symbolization tests (check_sym.py strips copies of it in different ways).
 *
 * grow_local:    static: named by DWARF or .symtab, never by .dynsym.
 * grow_exported: exported (the program is linked with --export-dynamic): .dynsym names it
 *                even when everything else is stripped.
 * grow_via_wrap: grows through wrap_realloc, a wrapper: with --wrapper wrap_realloc the
 *                site is grow_via_wrap.
 * grow_tramp:    (argument "tramp") called through a copy of CPython's perf trampoline in
 *                anonymous executable memory, which the program describes in
 *                /tmp/perf-PID.map as "c::tramp_grow"; libunwind alone stops there.
 * flame:         (argument "flame") shrink_deep: steps that copy nothing 60 calls deep;
 *                grow_pair: two blocks grown in turn, which glibc has to move.
 * Each grows one block by +16 B, STEPS times; the truth (truth.h) goes to stdout.
 */
#define _GNU_SOURCE
#include "truth.h"

#include <stdio.h>
#include <sys/mman.h>

#define STEPS 2000

static gp_truth T;
static volatile unsigned depth_seen; /* written after calls that must not be tail calls */

GP_SITE static void grow_local(void)
{
    gp_block b = {0};
    for (size_t n = 16; n <= 16 * STEPS; n += 16)
        if (GP_REALLOC(&T, &b, n) == NULL)
            abort();
    gp_freed(&T, &b);
    free(b.p);
}

void grow_exported(void);
GP_SITE void grow_exported(void)
{
    gp_block b = {0};
    for (size_t n = 16; n <= 16 * STEPS; n += 16)
        if (GP_REALLOC(&T, &b, n) == NULL)
            abort();
    gp_freed(&T, &b);
    free(b.p);
}

/* The truth counts its steps under "wrap_realloc", the function that calls realloc. */
GP_SITE static void *wrap_realloc(gp_block *b, size_t n)
{
    return GP_REALLOC(&T, b, n);
}

GP_SITE static void grow_via_wrap(void)
{
    gp_block b = {0};
    for (size_t n = 16; n <= 16 * STEPS; n += 16)
        if (wrap_realloc(&b, n) == NULL)
            abort();
    gp_freed(&T, &b);
    free(b.p);
}

/* CPython's x86-64 trampoline (Python/asm_trampoline.S): f(a, b, c, fn) calls fn(a, b, c). */
static const unsigned char tramp_code[] = {
    0x48, 0x83, 0xec, 0x08, 0xff, 0xd1, 0x48, 0x83, 0xc4, 0x08, 0xc3,
};
typedef void (*tramp_fn)(void *, void *, void *, void (*)(void));

GP_SITE static void grow_tramp(void)
{
    gp_block b = {0};
    for (size_t n = 16; n <= 16 * STEPS; n += 16)
        if (GP_REALLOC(&T, &b, n) == NULL)
            abort();
    gp_freed(&T, &b);
    free(b.p);
}

/* Map the trampoline (at an offset, as CPython packs copies in an arena) and say so in the
 * perf map, first thing as CPython -X perf does; later call grow_tramp through it. */
static tramp_fn tramp;

static int make_tramp(void)
{
    unsigned char *arena = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (arena == MAP_FAILED)
        return -1;
    unsigned char *code = arena + 3 * sizeof tramp_code;
    memcpy(code, tramp_code, sizeof tramp_code);
    if (mprotect(arena, 4096, PROT_READ | PROT_EXEC) != 0)
        return -1;
    char path[64];
    snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "%lx %zx c::tramp_grow\n", (unsigned long)code, sizeof tramp_code);
    fclose(f);
    tramp = (tramp_fn)(void *)code;
    return 0;
}

GP_SITE static void run_tramp(void)
{
    tramp(NULL, NULL, NULL, grow_tramp);
    depth_seen++; /* after the call: no tail call, run_tramp keeps its frame */
}

/* For the flame graph's height: shrinks (steps that copy nothing) 60 calls deep, and two
 * blocks grown in turn (so that glibc must move them: bytes copied) right below main. */

GP_SITE static void shrink_deep(unsigned d)
{
    if (d > 0) {
        shrink_deep(d - 1);
        depth_seen++; /* after the call: no tail call, every level keeps its frame */
        return;
    }
    gp_block b = {0};
    if (GP_REALLOC(&T, &b, 16 * STEPS) == NULL)
        abort();
    for (size_t n = 16 * STEPS - 16; n >= 16 * (STEPS - 100); n -= 16)
        if (GP_REALLOC(&T, &b, n) == NULL)
            abort();
    gp_freed(&T, &b);
    free(b.p);
}

GP_SITE static void grow_pair(void)
{
    gp_block a = {0}, b = {0};
    for (size_t n = 16; n <= 16 * STEPS; n += 16) {
        if (GP_REALLOC(&T, &a, n) == NULL)
            abort();
        if (GP_REALLOC(&T, &b, n) == NULL)
            abort();
    }
    gp_freed(&T, &a);
    free(a.p);
    gp_freed(&T, &b);
    free(b.p);
}

int main(int argc, char **argv)
{
    int tramp_mode = argc > 1 && strcmp(argv[1], "tramp") == 0;
    if (tramp_mode && make_tramp() != 0) {
        perror("symgrow: trampoline");
        return 1;
    }
    gp_init(&T);
    if (argc > 1 && strcmp(argv[1], "flame") == 0) {
        gp_declare(&T, "shrink_deep");
        gp_declare(&T, "grow_pair");
        shrink_deep(60);
        grow_pair();
    } else if (tramp_mode) {
        gp_declare(&T, "grow_tramp");
        run_tramp();
    } else {
        gp_declare(&T, "grow_local");
        gp_declare(&T, "grow_exported");
        gp_declare(&T, "wrap_realloc");
        grow_local();
        grow_exported();
        grow_via_wrap();
    }
    return gp_write(&T, "symgrow") == 0 ? 0 : 1;
}
