/* pt-exec: one pid, three images.
 *   pt-exec 0   grows a buffer in stage0_grow (+32, 300 steps) and keeps a second one grown
 *               in stage0_keep (+100, 100 steps) alive across the exec (its chain ends with
 *               the image); writes its truth (tag 0); execv("/proc/self/exe", "1");
 *   pt-exec 1   grows in stage1_grow (+64, 250 steps); writes its truth (tag 1);
 *               execl("/bin/true");
 *   /bin/true   the last image.
 *   pt-exec f   a failed exec: grows in stage0_grow, frees everything, execv of a path
 *               that does not exist (must fail with ENOENT), then grows in after_failed
 *               (+16, 150 steps) and returns 0; truth tag f.
 * Each image prints one line (flushed before the exec).
 */
#define _GNU_SOURCE
#include "proc.h"

static gp_truth T;

static void declare_all(void)
{
    gp_declare(&T, "stage0_grow");
    gp_declare(&T, "stage0_keep");
    gp_declare(&T, "stage1_grow");
    gp_declare(&T, "after_failed");
}

#define GROW_FN(name, add, steps, seed)                                                        \
    GP_SITE static uint64_t name(gp_block *keep)                                               \
    {                                                                                          \
        gp_block local = {0};                                                                  \
        gp_block *b = keep ? keep : &local;                                                    \
        for (int i = 0; i < (steps) + 1; i++) {                                                \
            size_t old = b->size;                                                              \
            if (GP_REALLOC(&T, b, old + (add)) == NULL)                                        \
                abort();                                                                       \
            pt_fill(b->p, old, b->size, (seed));                                               \
        }                                                                                      \
        uint64_t h = pt_hash(b->p, b->size, PT_HASH0);                                         \
        if (!keep) {                                                                           \
            free(b->p);                                                                        \
            gp_freed(&T, b);                                                                   \
        }                                                                                      \
        return h;                                                                              \
    }

GROW_FN(stage0_grow, 32, 300, 1)
GROW_FN(stage0_keep, 100, 100, 2)
GROW_FN(stage1_grow, 64, 250, 3)
GROW_FN(after_failed, 16, 150, 4)

int main(int argc, char **argv)
{
    const char *stage = argc > 1 ? argv[1] : "0";
    gp_init(&T);
    declare_all();

    if (strcmp(stage, "0") == 0) {
        static gp_block keep; /* still allocated when the image goes */
        uint64_t h = stage0_grow(NULL) ^ stage0_keep(&keep);
        pt_write(&T, "exec", "0");
        printf("stage 0: %016llx\n", (unsigned long long)h);
        fflush(stdout);
        char *args[] = {argv[0], "1", NULL};
        execv("/proc/self/exe", args);
        perror("execv /proc/self/exe");
        return 2;
    }
    if (strcmp(stage, "1") == 0) {
        uint64_t h = stage1_grow(NULL);
        pt_write(&T, "exec", "1");
        printf("stage 1: %016llx\n", (unsigned long long)h);
        fflush(stdout);
        execl("/bin/true", "true", (char *)NULL);
        perror("execl /bin/true");
        return 2;
    }
    if (strcmp(stage, "f") == 0) {
        uint64_t h = stage0_grow(NULL);
        char *args[] = {"nothing", NULL};
        errno = 0;
        int rc = execv("/nonexistent/growprof/no-such-program", args);
        int e = errno;
        if (rc != -1 || e != ENOENT) {
            printf("execv returned %d, errno %d (expected -1, ENOENT %d)\n", rc, e, ENOENT);
            return 1;
        }
        h ^= after_failed(NULL);
        pt_write(&T, "exec", "f");
        printf("failed exec: %016llx\n", (unsigned long long)h);
        return 0;
    }
    fprintf(stderr, "usage: pt-exec 0|1|f\n");
    return 2;
}
