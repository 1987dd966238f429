/* handoff: blocks change threads in the middle of their chains. Producers start and grow
 * chains, hand the blocks through a queue to consumers, which grow them further and free
 * them. Each thread writes its records to a buffer of its own, so a chain's records are in
 * two threads' buffers and must still reach the trace in order.
 *
 * handoff_start:  per block, 3 + (i + producer) % 5 grows of +24 bytes (3 to 7 steps).
 * handoff_finish: per block, 2 doublings.
 * 4 producers x 5000 blocks: 20000 chains; steps, grows: sum of the above; every chain
 * steps at both functions (chains 20000 each); longest chain 9 steps.
 */
#define _GNU_SOURCE
#include "truth.h"

#include <pthread.h>
#include <stdio.h>

#define NPROD 4
#define NCONS 4
#define PER_PROD 5000
#define QN 64

static gp_truth T;
static gp_block queue[QN];
static int qh, qt, qc;
static pthread_mutex_t qmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER, not_full = PTHREAD_COND_INITIALIZER;

static void put(const gp_block *b)
{
    pthread_mutex_lock(&qmu);
    while (qc == QN)
        pthread_cond_wait(&not_full, &qmu);
    queue[qt] = *b;
    qt = (qt + 1) % QN;
    qc++;
    pthread_cond_signal(&not_empty);
    pthread_mutex_unlock(&qmu);
}

static void get(gp_block *b)
{
    pthread_mutex_lock(&qmu);
    while (qc == 0)
        pthread_cond_wait(&not_empty, &qmu);
    *b = queue[qh];
    qh = (qh + 1) % QN;
    qc--;
    pthread_cond_signal(&not_full);
    pthread_mutex_unlock(&qmu);
}

GP_SITE static void handoff_start(gp_block *b)
{
    size_t old = b->size;
    if (GP_REALLOC(&T, b, old + 24) == NULL)
        abort();
    memset((char *)b->p + old, 'a', 24);
}

GP_SITE static void handoff_finish(gp_block *b)
{
    size_t old = b->size;
    if (GP_REALLOC(&T, b, old * 2) == NULL)
        abort();
    memset((char *)b->p + old, 'b', old);
}

static void *producer(void *arg)
{
    long k = (long)arg;
    for (int i = 0; i < PER_PROD; i++) {
        gp_block b;
        size_t n = 16 + (size_t)(i % 7);
        void *p = malloc(n);
        if (!p)
            abort();
        gp_alloced(&T, &b, p, n);
        memset(p, 'x', n);
        for (int j = 0; j < 3 + (i + k) % 5; j++)
            handoff_start(&b);
        put(&b);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < NPROD * PER_PROD / NCONS; i++) {
        gp_block b;
        get(&b);
        handoff_finish(&b);
        handoff_finish(&b);
        free(b.p);
        gp_freed(&T, &b);
    }
    return NULL;
}

int main(void)
{
    gp_init(&T);
    gp_declare(&T, "handoff_start");
    gp_declare(&T, "handoff_finish");
    pthread_t th[NPROD + NCONS];
    for (long i = 0; i < NPROD; i++)
        if (pthread_create(&th[i], NULL, producer, (void *)i) != 0)
            abort();
    for (int i = 0; i < NCONS; i++)
        if (pthread_create(&th[NPROD + i], NULL, consumer, NULL) != 0)
            abort();
    for (int i = 0; i < NPROD + NCONS; i++)
        pthread_join(th[i], NULL);

    uint64_t start_steps = 0;
    for (long k = 0; k < NPROD; k++)
        for (int i = 0; i < PER_PROD; i++)
            start_steps += 3 + (uint64_t)((i + k) % 5);
    const uint64_t blocks = NPROD * PER_PROD, finish_steps = 2 * blocks;
    gp_expect(&T, "handoff_start", "steps", start_steps);
    gp_expect(&T, "handoff_start", "grows", start_steps);
    gp_expect(&T, "handoff_start", "chains", blocks);
    gp_expect(&T, "handoff_finish", "steps", finish_steps);
    gp_expect(&T, "handoff_finish", "grows", finish_steps);
    gp_expect(&T, "handoff_finish", "chains", blocks);
    gp_expect(&T, NULL, "allocs", blocks);
    gp_expect(&T, NULL, "frees", blocks);
    gp_expect(&T, NULL, "steps", start_steps + finish_steps);
    gp_expect(&T, NULL, "shrinks", 0);
    gp_expect(&T, NULL, "failed", 0);
    gp_expect(&T, NULL, "chains", blocks);
    gp_expect(&T, NULL, "max_chain_steps", 9);

    printf("handoff: %d blocks through %d threads\n", (int)blocks, NPROD + NCONS);
    fflush(stdout);
    return gp_write(&T, "handoff") == 0 ? 0 : 2;
}
