/* pt-forkmt: fork while other threads realloc. WORKERS threads (more than this machine's
 * cores, so that they are often preempted while they hold a lock) grow and free buffers
 * (worker_grow, +24 bytes per step, 256 steps per buffer) until told to stop, while the main
 * thread forks children one after the other: at least MIN_FORKS, and on for at least
 * MIN_SECONDS (so that the preload's periodic flushes happen in the workers while the main
 * thread forks; argv[1] if given), at most MAX_FORKS. Note "forks": how many. Each child, with only the forking thread
 * left, grows a buffer of its own (forkchild_grow, +40, 300 steps) and leaves with exit(0),
 * or, for every third child, _exit(0) after writing its truth (no counter file then).
 * The workers always run at least MIN_ROUNDS buffers each, so that the forks do happen
 * while they realloc. Truth tags: parent, child.
 */
#define _GNU_SOURCE
#include "proc.h"

#include <sys/wait.h>
#include <time.h>

#define MIN_FORKS 40
#define MAX_FORKS 150
#define MIN_SECONDS 2.0
#define WORKERS 4
#define MIN_ROUNDS 200

static gp_truth T;
static volatile int stop;
static uint64_t worker_rounds[WORKERS];

GP_SITE static uint64_t worker_grow(unsigned seed)
{
    gp_block b = {0};
    for (int i = 0; i < 257; i++) {
        size_t old = b.size;
        if (GP_REALLOC(&T, &b, old + 24) == NULL)
            abort();
        pt_fill(b.p, old, b.size, seed);
    }
    uint64_t h = pt_hash(b.p, b.size, PT_HASH0);
    free(b.p);
    gp_freed(&T, &b);
    return h;
}

GP_SITE static uint64_t forkchild_grow(unsigned seed)
{
    gp_block b = {0};
    for (int i = 0; i < 301; i++) {
        size_t old = b.size;
        if (GP_REALLOC(&T, &b, old + 40) == NULL)
            abort();
        pt_fill(b.p, old, b.size, seed);
    }
    uint64_t h = pt_hash(b.p, b.size, PT_HASH0);
    free(b.p);
    gp_freed(&T, &b);
    return h;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
    int w = (int)(intptr_t)arg;
    uint64_t h = 0, n = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED) || n < MIN_ROUNDS) {
        h ^= worker_grow((unsigned)(w * 7 + n));
        n++;
    }
    worker_rounds[w] = n;
    return (void *)(uintptr_t)h;
}

int main(int argc, char **argv)
{
    double min_seconds = argc > 1 ? atof(argv[1]) : MIN_SECONDS;
    gp_init(&T);
    gp_declare(&T, "worker_grow");
    gp_declare(&T, "forkchild_grow");

    pthread_t th[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) != 0)
            abort();

    int failures = 0, k;
    fflush(stdout);
    double t0 = now();
    for (k = 0; k < MAX_FORKS && (k < MIN_FORKS || now() - t0 < min_seconds); k++) {
        pid_t c = fork();
        if (c < 0) {
            perror("fork");
            return 2;
        }
        if (c == 0) {
            /* the workers' blocks, as the truth knows them, stay in the parent's truth */
            gp_init(&T);
            pt_notes_reset();
            gp_declare(&T, "worker_grow");
            gp_declare(&T, "forkchild_grow");
            pt_note("index", k);
            uint64_t h = forkchild_grow((unsigned)k);
            pt_note("exit_kind", k % 3 == 2 ? 1 : 0); /* 1: _exit */
            pt_write(&T, "forkmt", "child");
            if (k % 3 == 2)
                _exit(h ? 0 : 1);
            exit(h ? 0 : 1);
        }
        int st;
        while (waitpid(c, &st, 0) < 0)
            if (errno != EINTR) {
                perror("waitpid");
                return 2;
            }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failures++;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(th[i], NULL);
    uint64_t rounds = 0;
    for (int i = 0; i < WORKERS; i++)
        rounds += worker_rounds[i];
    pt_note("worker_rounds", (long long)rounds);
    pt_note("failures", failures);
    pt_note("forks", k);
    pt_write(&T, "forkmt", "parent");
    printf("forkmt: %d children failed\n", failures);
    return failures ? 1 : 0;
}
