/* pt-errno: the profiler must not change errno. Before each successful allocator call
 * errno is set to a value no allocator would use; after it, errno must still hold it.
 * Checked: the first allocation of main, malloc, calloc, realloc (NULL, grow, shrink, grow
 * by a move, mmapped block grown), reallocarray, free, free(NULL), posix_memalign,
 * aligned_alloc, memalign, valloc, realloc(p, 0), and reallocs for 0.7 s (so that the
 * preload's periodic flush happens under one of them), in the main thread, in a thread and
 * in a fork child. Prints one line per context (errno kept or changed; the number of checks,
 * which depends on time, goes to stderr); exits 1 if any failed (the first failures are
 * printed to stderr, prefixed with pt-errno).
 */
#define _GNU_SOURCE
#include "proc.h"

#include <malloc.h>
#include <sys/wait.h>
#include <time.h>

#define MAGIC 4242

static int checks, failures;

static void check(const char *what, int line)
{
    checks++;
    if (errno != MAGIC) {
        failures++;
        if (failures <= 10)
            fprintf(stderr, "pt-errno: errno %d after %s (line %d), expected %d\n", errno,
                    what, line, MAGIC);
    }
}

#define CALL(what, expr)                                                                       \
    __extension__({                                                                            \
        errno = MAGIC;                                                                         \
        __typeof__(expr) r_ = (expr);                                                          \
        check(what, __LINE__);                                                                 \
        r_;                                                                                    \
    })

#define VCALL(what, expr)                                                                      \
    do {                                                                                       \
        errno = MAGIC;                                                                         \
        expr;                                                                                  \
        check(what, __LINE__);                                                                 \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void battery(double seconds)
{
    char *p = CALL("malloc", malloc(100));
    if (!p)
        abort();
    memset(p, 1, 100);
    p = CALL("realloc grow", realloc(p, 200));
    p = CALL("realloc shrink", realloc(p, 50));
    void *blocker = CALL("malloc", malloc(64)); /* makes the next grow likely to move */
    p = CALL("realloc move", realloc(p, 100000));
    VCALL("free", free(blocker));
    char *big = CALL("malloc big", malloc(1 << 20));
    big = CALL("realloc mmapped", realloc(big, 3 << 20));
    VCALL("free big", free(big));
    int *c = CALL("calloc", calloc(100, sizeof(int)));
    c = CALL("reallocarray", reallocarray(c, 400, sizeof(int)));
    VCALL("free", free(c));
    VCALL("free NULL", free(NULL));
    void *q = CALL("realloc NULL", realloc(NULL, 77));
    q = CALL("realloc 0", realloc(q, 0));
    VCALL("free", free(q));
    void *a = NULL;
    int rc = CALL("posix_memalign", posix_memalign(&a, 64, 1000));
    if (rc != 0)
        abort();
    a = CALL("realloc of aligned", realloc(a, 5000));
    VCALL("free", free(a));
    a = CALL("aligned_alloc", aligned_alloc(256, 1024));
    VCALL("free", free(a));
    a = CALL("memalign", memalign(128, 300));
    VCALL("free", free(a));
    a = CALL("valloc", valloc(100));
    VCALL("free", free(a));
    VCALL("free", free(p));

    double t0 = now();
    size_t n = 0;
    char *s = NULL;
    unsigned rounds = 0;
    do {
        for (int i = 0; i < 1000; i++) {
            s = CALL("realloc loop", realloc(s, n + 16));
            if (!s)
                abort();
            memset(s + n, 'x', 16);
            n += 16;
        }
        VCALL("free loop", free(s));
        s = NULL;
        n = 0;
        rounds++;
    } while (now() - t0 < seconds);
}

static void *thread_main(void *arg)
{
    (void)arg;
    battery(0.2);
    return NULL;
}

int main(void)
{
    /* the first allocation made by main (the process may have made some before) */
    void *first = CALL("first malloc of main", malloc(10));
    VCALL("free", free(first));
    battery(0.7);
    printf("main: %s\n", failures ? "errno changed" : "errno kept");

    pthread_t t;
    errno = MAGIC;
    if (pthread_create(&t, NULL, thread_main, NULL) != 0)
        abort();
    pthread_join(t, NULL);
    printf("thread: %s\n", failures ? "errno changed" : "errno kept");

    fflush(stdout);
    errno = MAGIC;
    pid_t c = fork();
    if (c == 0) {
        if (errno != MAGIC) {
            fprintf(stderr, "pt-errno: errno %d in the fork child\n", errno);
            failures++;
        }
        battery(0.1);
        _exit(failures ? 1 : 0);
    }
    if (c < 0)
        abort();
    if (errno != MAGIC) {
        fprintf(stderr, "pt-errno: errno %d in the parent after fork\n", errno);
        failures++;
    }
    int st;
    waitpid(c, &st, 0);
    int child_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    printf("fork child: %s\n", child_ok ? "errno kept" : "errno changed");
    fprintf(stderr, "errno: %d checks in main and thread\n", checks);
    printf("errno: %s\n", failures ? "changed" : "kept");
    return failures || !child_ok ? 1 : 0;
}
