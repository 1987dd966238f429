/* pt-threads300: 300 short-lived threads, at most BATCH alive at a time, each growing a
 * buffer of its own in thread_grow (+40 bytes, 200 + (i % 50) steps) and freeing it.
 * Odd-numbered threads are detached (main waits for them on a counter); even ones are
 * joined. Before it exits, main waits until it is the process's only thread: a detached
 * thread still on its way out frees memory of its own (thread teardown), and the counter
 * and the trace would count those frees at different moments.
 * Truth tag main.
 */
#define _GNU_SOURCE
#include "proc.h"

#define NTHREADS 300
#define BATCH 30

static gp_truth T;
static uint64_t hashes[NTHREADS];
static int done_count;
static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;

GP_SITE static uint64_t thread_grow(unsigned idx)
{
    gp_block b = {0};
    int steps = 200 + (int)(idx % 50);
    for (int i = 0; i < steps + 1; i++) {
        size_t old = b.size;
        if (GP_REALLOC(&T, &b, old + 40) == NULL)
            abort();
        pt_fill(b.p, old, b.size, idx);
    }
    uint64_t h = pt_hash(b.p, b.size, PT_HASH0);
    free(b.p);
    gp_freed(&T, &b);
    return h;
}

static void *run(void *arg)
{
    unsigned idx = (unsigned)(uintptr_t)arg;
    hashes[idx] = thread_grow(idx);
    pthread_mutex_lock(&done_mu);
    done_count++;
    pthread_cond_signal(&done_cv);
    pthread_mutex_unlock(&done_mu);
    return NULL;
}

int main(void)
{
    gp_init(&T);
    gp_declare(&T, "thread_grow");
    uint64_t expect_steps = 0;

    for (int base = 0; base < NTHREADS; base += BATCH) {
        pthread_t th[BATCH];
        for (int k = 0; k < BATCH; k++) {
            unsigned idx = (unsigned)(base + k);
            expect_steps += 200 + idx % 50;
            int rc;
            while ((rc = pthread_create(&th[k], NULL, run, (void *)(uintptr_t)idx)) == EAGAIN)
                usleep(1000);
            if (rc != 0) {
                fprintf(stderr, "pthread_create: %s\n", strerror(rc));
                return 2;
            }
            if (idx % 2)
                pthread_detach(th[k]);
        }
        for (int k = 0; k < BATCH; k++)
            if ((base + k) % 2 == 0)
                pthread_join(th[k], NULL);
        pthread_mutex_lock(&done_mu);
        while (done_count < base + BATCH)
            pthread_cond_wait(&done_cv, &done_mu);
        pthread_mutex_unlock(&done_mu);
    }
    /* the detached threads' exits: /proc/self/task lists only live threads */
    for (int tries = 0; tries < 5000 && pt_threads() > 1; tries++)
        usleep(1000);
    uint64_t h = 0;
    for (int i = 0; i < NTHREADS; i++)
        h ^= hashes[i] + (uint64_t)i;
    gp_expect(&T, "thread_grow", "steps", expect_steps);
    pt_note("expect_steps", (long long)expect_steps);
    pt_write(&T, "threads300", "main");
    printf("threads300: %d threads, %llu steps, %016llx\n", NTHREADS,
           (unsigned long long)expect_steps, (unsigned long long)h);
    return 0;
}
