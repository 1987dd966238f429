/* pt-fds MODE FILE: the profiler's descriptors must not be the program's.
 *   close12    closes fd 1 and 2, grows buffers for 0.7 s (so that the preload flushes
 *              its trace meanwhile), opens FILE: it must get fd 1, as without the profiler;
 *   close012   the same after closing fd 0, 1 and 2: FILE must get fd 0;
 *   closed     started with fd 0, 1, 2 already closed (by the checker): opens FILE first.
 * In every mode it then writes "fd=N\n" and a checksum into FILE through the descriptor it
 * got, checks that fds 0-2 other than FILE's are still closed (fcntl F_GETFD fails), and
 * writes "others closed: yes|no" too. Exit status 0, or 1 if FILE's fd was not the lowest.
 */
#define _GNU_SOURCE
#include "proc.h"

#include <time.h>

static gp_truth T;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

GP_SITE static uint64_t fds_grow(double seconds)
{
    uint64_t h = PT_HASH0;
    double t0 = now();
    unsigned r = 0;
    do {
        gp_block b = {0};
        for (int i = 0; i < 301; i++) {
            size_t old = b.size;
            if (GP_REALLOC(&T, &b, old + 40) == NULL)
                abort();
            pt_fill(b.p, old, b.size, r);
        }
        if (r < 3) /* how many rounds fit in the time varies: not in the output */
            h = pt_hash(b.p, b.size, h);
        free(b.p);
        gp_freed(&T, &b);
        r++;
    } while (now() - t0 < seconds || r < 3);
    return h;
}

static void put(int fd, const char *s)
{
    gp_write_all(fd, s, strlen(s));
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const char *mode = argv[1], *file = argv[2];
    gp_init(&T);
    gp_declare(&T, "fds_grow");
    int expect;
    if (strcmp(mode, "close12") == 0) {
        close(1);
        close(2);
        expect = 1;
    } else if (strcmp(mode, "close012") == 0) {
        close(0);
        close(1);
        close(2);
        expect = 0;
    } else if (strcmp(mode, "closed") == 0) {
        expect = 0;
    } else {
        return 2;
    }
    uint64_t h = 0;
    if (strcmp(mode, "closed") != 0)
        h = fds_grow(0.7);
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return 3;
    if (strcmp(mode, "closed") == 0)
        h = fds_grow(0.7);
    int others = 1;
    for (int i = 0; i < 3; i++)
        if (i != fd && i >= expect && fcntl(i, F_GETFD) != -1)
            others = 0;
    char line[128];
    gp_out o = {line, sizeof line, 0};
    gp_puts(&o, "fd=");
    gp_putu(&o, (uint64_t)fd);
    gp_puts(&o, "\nhash=");
    gp_putu(&o, h);
    gp_puts(&o, "\nothers closed: ");
    gp_puts(&o, others ? "yes\n" : "no\n");
    line[o.len] = 0;
    put(fd, line);
    pt_note("fd", fd);
    pt_write(&T, "fds", mode);
    close(fd);
    return fd == expect ? 0 : 1;
}
