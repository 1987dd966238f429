/* pt-ctor: allocations and reallocs before main and after it.
 *   constructor(150)  ctor_grow: grows block K (+24, 150 steps), kept; grows and frees a
 *                     second one (+8, 60 steps); registers atexit_grow with atexit;
 *   main              main_grow: steps K 80 more times (the chain that began before main
 *                     goes on), grows and frees a block (+48, 100 steps); registers
 *                     atexit_grow2 with atexit; returns 0;
 *   atexit_grow2      (registered last: runs first) grows and frees (+16, 70 steps);
 *   atexit_grow       steps K 40 more times, then frees it;
 *   destructor(200)   dtor_grow: grows and frees (+32, 90 steps), and one block left
 *                     allocated (+8, 30 steps);
 *   destructor(150)   writes the truth (tag main): after all of the program's own growth.
 * The preload and counter.so finish after the program's destructors (they were loaded
 * before it): everything above must be in their numbers.
 */
#define _GNU_SOURCE
#include "proc.h"

static gp_truth T;
static gp_block K;
static uint64_t H = PT_HASH0;

#define GROW_LOOP(b, add, steps, seed)                                                          \
    for (int i_ = 0; i_ < (steps); i_++) {                                                     \
        size_t old_ = (b)->size;                                                               \
        if (GP_REALLOC(&T, (b), old_ + (add)) == NULL)                                         \
            abort();                                                                           \
        pt_fill((b)->p, old_, (b)->size, (seed));                                              \
    }

static void release(gp_block *b)
{
    H = pt_hash(b->p, b->size, H);
    free(b->p);
    gp_freed(&T, b);
}

GP_SITE static void atexit_grow(void)
{
    GROW_LOOP(&K, 24, 40, 5)
    release(&K);
}

GP_SITE static void atexit_grow2(void)
{
    gp_block b = {0};
    GROW_LOOP(&b, 16, 71, 6)
    release(&b);
}

GP_SITE static void ctor_grow(void)
{
    void *p = malloc(24);
    if (!p)
        abort();
    gp_alloced(&T, &K, p, 24);
    pt_fill(p, 0, 24, 0);
    GROW_LOOP(&K, 24, 150, 1)
    gp_block b = {0};
    GROW_LOOP(&b, 8, 61, 2)
    release(&b);
}

GP_SITE static void main_grow(void)
{
    GROW_LOOP(&K, 24, 80, 3)
    gp_block b = {0};
    GROW_LOOP(&b, 48, 101, 4)
    release(&b);
}

GP_SITE static void dtor_grow(void)
{
    gp_block b = {0};
    GROW_LOOP(&b, 32, 91, 7)
    release(&b);
    static gp_block left;
    GROW_LOOP(&left, 8, 31, 8)
    H = pt_hash(left.p, left.size, H);
}

__attribute__((constructor(150))) static void before_main(void)
{
    gp_init(&T);
    gp_declare(&T, "ctor_grow");
    gp_declare(&T, "main_grow");
    gp_declare(&T, "atexit_grow");
    gp_declare(&T, "atexit_grow2");
    gp_declare(&T, "dtor_grow");
    ctor_grow();
    if (atexit(atexit_grow) != 0)
        abort();
}

__attribute__((destructor(200))) static void after_main(void)
{
    dtor_grow();
}

__attribute__((destructor(150))) static void write_truth(void)
{
    pt_note("hash_low", (long long)(H & 0x7fffffff));
    pt_write(&T, "ctor", "main");
}

int main(void)
{
    main_grow();
    if (atexit(atexit_grow2) != 0)
        abort();
    printf("ctor: main ran, hash so far %016llx\n", (unsigned long long)H);
    return 0;
}
