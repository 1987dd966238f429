/* pt-cancel: threads grow buffers in cancel_grow and are cancelled (deferred, at
 * pthread_testcancel between two rounds) while others run: 40 batches of 3 threads. A
 * cancelled thread's records must still reach the trace, and no lock may stay held: at the
 * end main forks (a fork waits for threads inside the unwinder; one cancelled in there
 * would make it wait forever) and the child grows a buffer of its own.
 * Truth tag main.
 */
#define _GNU_SOURCE
#include "proc.h"

#include <pthread.h>
#include <sys/wait.h>

#define BATCHES 40
#define PER_BATCH 3

static gp_truth T;

GP_SITE static void cancel_grow(void)
{
    gp_block b = {0};
    for (int i = 0; i < 300; i++) {
        size_t old = b.size;
        if (GP_REALLOC(&T, &b, old + 24) == NULL)
            abort();
        pt_fill(b.p, old, b.size, (unsigned)i);
    }
    free(b.p);
    gp_freed(&T, &b);
}

static void *run(void *arg)
{
    (void)arg;
    for (;;) {
        cancel_grow();
        pthread_testcancel();
    }
    return NULL;
}

int main(void)
{
    gp_init(&T);
    gp_declare(&T, "cancel_grow");
    for (int r = 0; r < BATCHES; r++) {
        pthread_t t[PER_BATCH];
        for (int i = 0; i < PER_BATCH; i++)
            if (pthread_create(&t[i], NULL, run, NULL) != 0)
                abort();
        usleep(5000);
        for (int i = 0; i < PER_BATCH; i++) {
            pthread_cancel(t[i]);
            pthread_join(t[i], NULL);
        }
    }
    pid_t pid = fork();
    if (pid == 0) {
        char *p = NULL;
        for (int i = 1; i <= 100; i++)
            p = realloc(p, (size_t)i * 40);
        free(p);
        _exit(0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 3;
    pt_write(&T, "cancel", "main");
    printf("cancel: %d threads cancelled\n", BATCHES * PER_BATCH);
    return 0;
}
