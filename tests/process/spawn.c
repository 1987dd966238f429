/* pt-spawn: children made with vfork and posix_spawn, between growth in the parent.
 *   spawn_pre   grows a block (+32, 200 steps) kept alive across all the spawns;
 *   vfork + execv("/bin/true")                 child pid noted as vfork_exec_pid
 *   vfork + _exit(0) without exec              child pid noted as vfork_exit_pid
 *   vfork + execv of a missing file, _exit(0)  child pid noted as vfork_fail_pid
 *   posix_spawn("/bin/true")                   child pid noted as spawn_pid
 *   posix_spawnp("true")                       child pid noted as spawnp_pid
 *   spawn_post  steps the kept block 100 more times (its chain goes on: one chain of 300
 *               steps), and grows a second one (+64, 150 steps); both freed.
 * All children are waited for; the parent writes its truth (tag parent) and exits 0.
 * The vfork children call nothing but exec and _exit.
 */
#define _GNU_SOURCE
#include "proc.h"

#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

static gp_truth T;

GP_SITE static void spawn_pre(gp_block *b)
{
    for (int i = 0; i < 201; i++) {
        size_t old = b->size;
        if (GP_REALLOC(&T, b, old + 32) == NULL)
            abort();
        pt_fill(b->p, old, b->size, 1);
    }
}

GP_SITE static void spawn_post(gp_block *b)
{
    for (int i = 0; i < 100; i++) {
        size_t old = b->size;
        if (GP_REALLOC(&T, b, old + 32) == NULL)
            abort();
        pt_fill(b->p, old, b->size, 2);
    }
}

GP_SITE static uint64_t spawn_post2(void)
{
    gp_block b = {0};
    for (int i = 0; i < 151; i++) {
        size_t old = b.size;
        if (GP_REALLOC(&T, &b, old + 64) == NULL)
            abort();
        pt_fill(b.p, old, b.size, 3);
    }
    uint64_t h = pt_hash(b.p, b.size, PT_HASH0);
    free(b.p);
    gp_freed(&T, &b);
    return h;
}

static int wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(void)
{
    gp_init(&T);
    gp_declare(&T, "spawn_pre");
    gp_declare(&T, "spawn_post");
    gp_declare(&T, "spawn_post2");

    gp_block keep = {0};
    spawn_pre(&keep);
    int bad = 0;
    fflush(stdout);

    static char *true_args[] = {"true", NULL};
    static char *missing_args[] = {"missing", NULL};

    pid_t c = vfork();
    if (c == 0) {
        execv("/bin/true", true_args);
        _exit(127);
    }
    pt_note("vfork_exec_pid", c);
    bad |= wait_status(c) != 0;

    c = vfork();
    if (c == 0)
        _exit(0);
    pt_note("vfork_exit_pid", c);
    bad |= (wait_status(c) != 0) << 1;

    c = vfork();
    if (c == 0) {
        execv("/nonexistent/growprof/missing", missing_args);
        _exit(errno == ENOENT ? 0 : 1);
    }
    pt_note("vfork_fail_pid", c);
    bad |= (wait_status(c) != 0) << 2;

    pid_t s;
    if (posix_spawn(&s, "/bin/true", NULL, NULL, true_args, environ) != 0)
        bad |= 8;
    else {
        pt_note("spawn_pid", s);
        bad |= (wait_status(s) != 0) << 3;
    }
    if (posix_spawnp(&s, "true", NULL, NULL, true_args, environ) != 0)
        bad |= 16;
    else {
        pt_note("spawnp_pid", s);
        bad |= (wait_status(s) != 0) << 4;
    }

    spawn_post(&keep);
    uint64_t h = pt_hash(keep.p, keep.size, PT_HASH0) ^ spawn_post2();
    free(keep.p);
    gp_freed(&T, &keep);
    pt_note("bad", bad);
    pt_write(&T, "spawn", "parent");
    printf("spawn: %016llx bad=%d\n", (unsigned long long)h, bad);
    return bad ? 1 : 0;
}
