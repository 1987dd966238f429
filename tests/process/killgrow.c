/* pt-killgrow MODE NTHREADS: a process the checker kills (SIGTERM or SIGKILL) while it sits
 * idle or while it grows buffers, in one or several threads; it says what it did before.
 *   idle N  N threads (the main one among them) each grow, in kg_idle_grow, one buffer by +16
 *           for 4,999 steps that is never freed (its chain is still open when the process
 *           dies) and four of 249 steps that are freed. Then the truth (tag idle) is
 *           written, "ready" printed, and every thread waits for good (pause, a condition).
 *   busy N  N threads (the main one among them) grow buffers in kg_busy_grow (+32, 200
 *           steps, freed) until killed. Between two of its rounds, at most every 2 ms, the
 *           main thread appends "T S\n" to $PT_DIR/progress.<pid>.txt: S steps were made by
 *           all threads before T (CLOCK_MONOTONIC ns; the counters are read before the
 *           clock). "ready" after 0.5 s.
 *   work N  busy, with 50 us of computing after each step: a process that is busy, yet
 *           records slowly enough that its buffers take seconds to fill.
 *   mainexit  the main thread starts one that grows like idle's (kg_idle_grow), sleeps
 *           0.2 s, writes the truth (tag mainexit) and returns, and calls pthread_exit:
 *           the process ends when that thread does, with status 0 (glibc's exit(0)).
 *   forkcount  twice: grows like idle's, forks, and the parent prints how many threads
 *           /proc/self/stat says it has right after the fork (CPython 3.12 warns when
 *           there are more than one); the child exits at once. Truth tag forkcount.
 *   closefds  forks a child that grows (kg_idle_grow), closes every descriptor from 3 up
 *           (as a subprocess child does before exec, the trace's among them), waits 0.15 s
 *           (the flusher's ticks come and go), grows again, writes its truth (tag
 *           closefds-child) and execs /bin/true. The parent waits and exits 0.
 */
#define _GNU_SOURCE
#include "proc.h"

#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

static gp_truth T;
static int nthreads;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- idle ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int done;
static gp_block kept[64];

GP_SITE static void kg_idle_grow(int me)
{
    for (int c = 0; c < 4; c++) {
        gp_block b = {0};
        for (int i = 0; i < 250; i++)
            if (GP_REALLOC(&T, &b, b.size + 16) == NULL)
                abort();
        free(b.p);
        gp_freed(&T, &b);
    }
    for (int i = 0; i < 5000; i++) /* an allocation, then 4,999 steps */
        if (GP_REALLOC(&T, &kept[me], kept[me].size + 16) == NULL)
            abort();
}

static void *idle_thread(void *arg)
{
    kg_idle_grow((int)(intptr_t)arg);
    pthread_mutex_lock(&mu);
    done++;
    pthread_cond_broadcast(&cv);
    for (;;) /* idle for good: nothing of ours runs in this thread again */
        pthread_cond_wait(&cv, &mu);
    return NULL;
}

static void idle(void)
{
    pthread_t t;
    for (int i = 1; i < nthreads; i++)
        if (pthread_create(&t, NULL, idle_thread, (void *)(intptr_t)i) != 0)
            abort();
    kg_idle_grow(0);
    pthread_mutex_lock(&mu);
    while (done < nthreads - 1)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    pt_note("threads", nthreads);
    pt_write(&T, "killgrow", "idle");
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}

/* ---- busy ---- */

static uint64_t steps[64]; /* per thread, relaxed atomics */
static uint64_t work_ns;   /* computing after each step */

static void work(void)
{
    uint64_t t = now_ns();
    while (now_ns() - t < work_ns)
        ;
}

GP_SITE static void kg_busy_grow(int me)
{
    void *p = NULL;
    for (int i = 1; i <= 200; i++) {
        void *q = realloc(p, (size_t)i * 32);
        if (!q)
            abort();
        p = q;
        ((volatile char *)p)[i * 32 - 1] = (char)i;
        __atomic_fetch_add(&steps[me], i > 1, __ATOMIC_RELAXED); /* the first is an alloc */
        if (work_ns)
            work();
    }
    free(p);
}

static void *busy_thread(void *arg)
{
    for (;;)
        kg_busy_grow((int)(intptr_t)arg);
    return NULL;
}

static void busy(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/progress.%d.txt", getenv("PT_DIR"), (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        abort();
    pthread_t t;
    for (int i = 1; i < nthreads; i++)
        if (pthread_create(&t, NULL, busy_thread, (void *)(intptr_t)i) != 0)
            abort();
    uint64_t t0 = now_ns(), last = 0;
    int ready = 0;
    for (;;) {
        kg_busy_grow(0);
        uint64_t s = 0;
        for (int i = 0; i < nthreads; i++)
            s += __atomic_load_n(&steps[i], __ATOMIC_RELAXED);
        uint64_t tn = now_ns();
        if (tn - last < 2000000)
            continue;
        last = tn;
        char line[64];
        int n = snprintf(line, sizeof line, "%llu %llu\n", (unsigned long long)tn,
                         (unsigned long long)s);
        gp_write_all(fd, line, (size_t)n);
        if (!ready && tn - t0 > 500000000) {
            ready = 1;
            printf("ready\n");
            fflush(stdout);
        }
    }
}

static long threads_now(void)
{
    char s[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, s, sizeof s - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return -1;
    s[n] = 0;
    char *p = strrchr(s, ')');
    for (int field = 2; p && field < 20; field++) /* field 20: num_threads */
        p = strchr(p + 1, ' ');
    return p ? strtol(p + 1, NULL, 10) : -1;
}

static void forkcount(void)
{
    for (int round = 0; round < 2; round++) {
        kg_idle_grow(round);
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        long n = threads_now();
        printf("round %d: %ld thread(s) after fork\n", round, n);
        fflush(stdout);
        if (pid < 0 || waitpid(pid, NULL, 0) != pid)
            abort();
    }
    pt_write(&T, "killgrow", "forkcount");
    exit(0);
}

static void closefds(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        gp_init(&T); /* the child's own truth */
        pt_notes_reset();
        gp_declare(&T, "kg_idle_grow");
        kg_idle_grow(1);
        if (syscall(SYS_close_range, 3u, ~0u, 0) != 0)
            for (int fd = 3; fd < 65536; fd++)
                close(fd);
        usleep(150000);
        kg_idle_grow(2);
        pt_write(&T, "killgrow", "closefds-child");
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        abort();
    printf("child ok\n");
    exit(0);
}

static void *last_thread(void *arg)
{
    (void)arg;
    kg_idle_grow(0);
    usleep(200000);
    pt_write(&T, "killgrow", "mainexit");
    printf("last thread done\n");
    fflush(stdout);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "idle";
    nthreads = argc > 2 ? atoi(argv[2]) : 1;
    if (nthreads < 1 || nthreads > 64)
        abort();
    gp_init(&T);
    gp_declare(&T, "kg_idle_grow");
    if (strcmp(mode, "closefds") == 0)
        closefds();
    if (strcmp(mode, "forkcount") == 0)
        forkcount();
    if (strcmp(mode, "mainexit") == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, last_thread, NULL) != 0)
            abort();
        pthread_exit(NULL);
    }
    if (strcmp(mode, "work") == 0)
        work_ns = 50000;
    if (strcmp(mode, "busy") == 0 || work_ns)
        busy();
    idle();
    return 0;
}
