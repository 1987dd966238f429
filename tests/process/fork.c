/* pt-fork: a parent, a child and a grandchild (fork of the child) each grow buffers of
 * their own; each process writes its own truth (proc.h, tag parent/child/grandchild).
 *
 * parent:     parent_pre    grows block A (+32 bytes, 200 steps) before the fork;
 *             parent_post   grows a new block after the fork (+64, 300 steps), freed;
 *             parent_cont   steps A 50 more times (the parent's chain goes on), frees A.
 * child:      child_grow    grows a new block (+48, 400 steps), freed;
 *             child_cont    steps the inherited block A 70 times, then frees it: a chain
 *                           that began before the fork steps in the child, so it is one of
 *                           the child's chains (its steps in the parent are not the child's);
 *             forks the grandchild, waits for it, exit(0).
 * grandchild: grandchild_grow (+16, 500 steps), returns through exit(0).
 * Every process declares all six functions: a function that did not run in a process has
 * zeros in its truth, and its trace must have no steps there.
 */
#define _GNU_SOURCE
#include "proc.h"

#include <sys/wait.h>

static gp_truth T;

static const char *const FNS[] = {"parent_pre", "parent_post", "parent_cont",
                                  "child_grow", "child_cont",  "grandchild_grow"};

static void declare_all(void)
{
    for (size_t i = 0; i < sizeof FNS / sizeof FNS[0]; i++)
        gp_declare(&T, FNS[i]);
}

GP_SITE static void parent_pre(gp_block *b)
{
    for (int i = 0; i < 200; i++) {
        size_t old = b->size;
        if (GP_REALLOC(&T, b, old + 32) == NULL)
            abort();
        pt_fill(b->p, old, b->size, 1);
    }
}

GP_SITE static uint64_t parent_post(void)
{
    gp_block b = {0};
    for (int i = 0; i < 301; i++) { /* the first is realloc(NULL, 64): an allocation */
        size_t old = b.size;
        if (GP_REALLOC(&T, &b, old + 64) == NULL)
            abort();
        pt_fill(b.p, old, b.size, 2);
    }
    uint64_t h = pt_hash(b.p, b.size, PT_HASH0);
    free(b.p);
    gp_freed(&T, &b);
    return h;
}

GP_SITE static void parent_cont(gp_block *b)
{
    for (int i = 0; i < 50; i++) {
        size_t old = b->size;
        if (GP_REALLOC(&T, b, old + 32) == NULL)
            abort();
        pt_fill(b->p, old, b->size, 3);
    }
}

GP_SITE static uint64_t child_grow(void)
{
    gp_block b = {0};
    for (int i = 0; i < 401; i++) {
        size_t old = b.size;
        if (GP_REALLOC(&T, &b, old + 48) == NULL)
            abort();
        pt_fill(b.p, old, b.size, 4);
    }
    uint64_t h = pt_hash(b.p, b.size, PT_HASH0);
    free(b.p);
    gp_freed(&T, &b);
    return h;
}

GP_SITE static void child_cont(gp_block *b)
{
    for (int i = 0; i < 70; i++) {
        size_t old = b->size;
        if (GP_REALLOC(&T, b, old + 32) == NULL)
            abort();
        pt_fill(b->p, old, b->size, 5);
    }
}

GP_SITE static uint64_t grandchild_grow(void)
{
    gp_block b = {0};
    for (int i = 0; i < 501; i++) {
        size_t old = b.size;
        if (GP_REALLOC(&T, &b, old + 16) == NULL)
            abort();
        pt_fill(b.p, old, b.size, 6);
    }
    uint64_t h = pt_hash(b.p, b.size, PT_HASH0);
    free(b.p);
    gp_freed(&T, &b);
    return h;
}

/* A fork child starts a truth of its own; blocks it inherited start new chains in it. */
static void child_truth(gp_block *inherited)
{
    gp_init(&T);
    pt_notes_reset();
    declare_all();
    if (inherited) {
        inherited->steps = 0;
        inherited->sitemask = 0;
    }
}

static int wait_ok(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(void)
{
    gp_init(&T);
    declare_all();

    gp_block a = {0};
    void *p = malloc(32);
    if (!p)
        abort();
    gp_alloced(&T, &a, p, 32);
    pt_fill(p, 0, 32, 0);
    parent_pre(&a);

    fflush(stdout);
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 2;
    }
    if (child == 0) {
        child_truth(&a);
        uint64_t h = child_grow();
        child_cont(&a);
        h ^= pt_hash(a.p, a.size, PT_HASH0);
        free(a.p);
        gp_freed(&T, &a);

        pid_t gc = fork();
        if (gc < 0)
            _exit(3);
        if (gc == 0) {
            child_truth(NULL);
            uint64_t g = grandchild_grow();
            pt_write(&T, "fork", "grandchild");
            printf("grandchild: %016llx\n", (unsigned long long)g);
            exit(0);
        }
        pt_note("grandchild_pid", gc);
        int ok = wait_ok(gc);
        pt_write(&T, "fork", "child");
        printf("child: %016llx grandchild %s\n", (unsigned long long)h, ok ? "ok" : "FAILED");
        exit(ok ? 0 : 1);
    }

    uint64_t h = parent_post();
    parent_cont(&a);
    h ^= pt_hash(a.p, a.size, PT_HASH0);
    free(a.p);
    gp_freed(&T, &a);
    int ok = wait_ok(child);
    pt_note("child_pid", child);
    pt_write(&T, "fork", "parent");
    printf("parent: %016llx child %s\n", (unsigned long long)h, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
