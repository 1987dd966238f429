/* pt-signals MODE: heavy reallocs while an interval timer fires every 200 us.
 *   prof-restart    ITIMER_PROF -> SIGPROF, handler installed with SA_RESTART
 *   real-norestart  ITIMER_REAL -> SIGALRM, handler installed without SA_RESTART
 *   both            both timers and handlers at once
 * The main thread and WORKERS threads each grow ROUNDS buffers in sig_grow (+48 bytes,
 * 400 steps each, freed). The handlers count, save and restore errno, and do nothing else.
 * Along the way the main thread also sleeps and reads a pipe, retrying on EINTR as a
 * careful program does. Notes: how many signals arrived (sigprof, sigalrm).
 */
#define _GNU_SOURCE
#include "proc.h"

#include <signal.h>
#include <sys/time.h>
#include <time.h>

#define WORKERS 2
#define ROUNDS 250

static gp_truth T;
static volatile sig_atomic_t n_prof, n_alrm;

static void on_prof(int sig)
{
    int e = errno;
    (void)sig;
    n_prof++;
    errno = e;
}

static void on_alrm(int sig)
{
    int e = errno;
    (void)sig;
    n_alrm++;
    errno = e;
}

GP_SITE static uint64_t sig_grow(unsigned seed)
{
    gp_block b = {0};
    for (int i = 0; i < 401; i++) {
        size_t old = b.size;
        if (GP_REALLOC(&T, &b, old + 48) == NULL)
            abort();
        pt_fill(b.p, old, b.size, seed);
    }
    uint64_t h = pt_hash(b.p, b.size, PT_HASH0);
    free(b.p);
    gp_freed(&T, &b);
    return h;
}

static void *worker(void *arg)
{
    unsigned w = (unsigned)(uintptr_t)arg;
    uint64_t h = 0;
    for (unsigned r = 0; r < ROUNDS; r++)
        h ^= sig_grow(w * 1000 + r);
    return (void *)(uintptr_t)h;
}

static void install(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0)
        abort();
}

static void arm(int which)
{
    struct itimerval it = {{0, 200}, {0, 200}};
    if (setitimer(which, &it, NULL) != 0)
        abort();
}

static void disarm(int which)
{
    struct itimerval it = {{0, 0}, {0, 0}};
    setitimer(which, &it, NULL);
}

/* A short sleep and a pipe round trip, retrying on EINTR. */
static void syscalls(unsigned r)
{
    struct timespec ts = {0, 100000}, rem;
    while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
        ts = rem;
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    unsigned char c = (unsigned char)r, d = 0;
    ssize_t n;
    while ((n = write(fds[1], &c, 1)) < 0 && errno == EINTR)
        ;
    while ((n = read(fds[0], &d, 1)) < 0 && errno == EINTR)
        ;
    if (n != 1 || d != c)
        abort();
    close(fds[0]);
    close(fds[1]);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "both";
    int prof = strcmp(mode, "prof-restart") == 0 || strcmp(mode, "both") == 0;
    int real = strcmp(mode, "real-norestart") == 0 || strcmp(mode, "both") == 0;
    if (!prof && !real) {
        fprintf(stderr, "usage: pt-signals prof-restart|real-norestart|both\n");
        return 2;
    }
    gp_init(&T);
    gp_declare(&T, "sig_grow");
    if (prof) {
        install(SIGPROF, on_prof, SA_RESTART);
        arm(ITIMER_PROF);
    }
    if (real) {
        install(SIGALRM, on_alrm, 0);
        arm(ITIMER_REAL);
    }

    pthread_t th[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        int rc;
        while ((rc = pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1))) == EAGAIN)
            ;
        if (rc != 0)
            abort();
    }
    uint64_t h = 0;
    for (unsigned r = 0; r < ROUNDS; r++) {
        h ^= sig_grow(r);
        if (r % 25 == 0)
            syscalls(r);
    }
    for (int i = 0; i < WORKERS; i++) {
        void *ret;
        while (pthread_join(th[i], &ret) == EINTR)
            ;
        h ^= (uint64_t)(uintptr_t)ret;
    }
    if (prof)
        disarm(ITIMER_PROF);
    if (real)
        disarm(ITIMER_REAL);
    pt_note("sigprof", n_prof);
    pt_note("sigalrm", n_alrm);
    pt_write(&T, "signals", mode);
    printf("signals %s: %016llx\n", mode, (unsigned long long)h);
    return 0;
}
