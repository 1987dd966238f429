/* proc.h: the truth of the process tests (tests/process), on top of tests/targets/truth.h.
 *
 * A process test program may be several processes (fork, exec) and several stages: each
 * process (or each stage of an image that execs) writes what it did itself to
 *     $PT_DIR/truth.<pid>.<tag>.json
 * as one JSON object:
 *   {"program": NAME, "tag": TAG, "pid": P, "ppid": PP,
 *    "functions": {FN: {steps, grows, shrinks, moves, in_place, remaps, bytes_copied,
 *                       chains}},
 *    "totals": {allocs, frees, steps, failed, grows, shrinks, moves, in_place, remaps,
 *               bytes_copied, chains, max_chain_steps},
 *    "notes": {KEY: integer, ...}}
 * "functions" and "totals" are those of truth.h (the program's own blocks only); "notes"
 * are facts the checker needs (child pids, how many signals arrived, ...). Nothing here
 * allocates: the file is written with open/write from a static buffer, so that writing the
 * truth changes neither the program's counts nor its errno.
 * Without $PT_DIR nothing is written.
 */
#ifndef PT_PROC_H
#define PT_PROC_H

#include "truth.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>

#define PT_MAX_NOTES 32

static struct {
    int n;
    const char *key[PT_MAX_NOTES];
    long long val[PT_MAX_NOTES];
} pt_notes;

/* Record (or replace) a note; keys are string literals. */
static inline void pt_note(const char *key, long long val)
{
    for (int i = 0; i < pt_notes.n; i++)
        if (strcmp(pt_notes.key[i], key) == 0) {
            pt_notes.val[i] = val;
            return;
        }
    if (pt_notes.n == PT_MAX_NOTES)
        abort();
    pt_notes.key[pt_notes.n] = key;
    pt_notes.val[pt_notes.n] = val;
    pt_notes.n++;
}

/* Forget the notes (a fork child starts its own). */
static inline void pt_notes_reset(void) { pt_notes.n = 0; }

static inline void pt_puti(gp_out *o, long long v)
{
    if (v < 0) {
        gp_puts(o, "-");
        gp_putu(o, (uint64_t)(-(v + 1)) + 1);
    } else {
        gp_putu(o, (uint64_t)v);
    }
}

/* Write the truth of this process (see above). Returns 0, or -1 if it could not. */
static inline int pt_write(gp_truth *t, const char *program, const char *tag)
{
    static char buf[1 << 16];
    gp_out o = {buf, sizeof buf, 0};
    int first;
    int saved = errno;

    const char *dir = getenv("PT_DIR");
    if (!dir || !*dir)
        return 0;

    pthread_mutex_lock(&t->mu);
    gp_puts(&o, "{\"program\":\"");
    gp_puts(&o, program);
    gp_puts(&o, "\",\"tag\":\"");
    gp_puts(&o, tag);
    gp_puts(&o, "\",\"pid\":");
    gp_putu(&o, (uint64_t)getpid());
    gp_puts(&o, ",\"ppid\":");
    gp_putu(&o, (uint64_t)getppid());
    gp_puts(&o, ",");
    gp_put_counts(&o, t);
    gp_puts(&o, "},\"notes\":{");
    first = 1;
    for (int i = 0; i < pt_notes.n; i++) {
        gp_put_key(&o, pt_notes.key[i], &first);
        pt_puti(&o, pt_notes.val[i]);
    }
    gp_puts(&o, "}}\n");
    pthread_mutex_unlock(&t->mu);
    if (o.len + 1 >= o.cap) {
        errno = saved;
        return -1;
    }

    char path[4096];
    gp_out p = {path, sizeof path, 0};
    gp_puts(&p, dir);
    gp_puts(&p, "/truth.");
    gp_putu(&p, (uint64_t)getpid());
    gp_puts(&p, ".");
    gp_puts(&p, tag);
    gp_puts(&p, ".json");
    path[p.len] = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        errno = saved;
        return -1;
    }
    gp_write_all(fd, buf, o.len);
    close(fd);
    errno = saved;
    return 0;
}

/* A buffer grown by `add` bytes per step from `first` to at least `limit` at the caller's
 * site is written as a loop around GP_REALLOC in the site function itself (the site must be
 * the function that calls realloc); these helpers only fill and hash. */
/* The number of threads of this process ("Threads:" of /proc/self/status; -1 if unknown),
 * read without allocating. */
static inline int pt_threads(void)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    const char *t = strstr(buf, "\nThreads:");
    return t ? atoi(t + 9) : -1;
}

static inline void pt_fill(void *p, size_t from, size_t to, unsigned seed)
{
    unsigned char *c = p;
    for (size_t i = from; i < to; i++)
        c[i] = (unsigned char)(seed + i * 13);
}

static inline uint64_t pt_hash(const void *p, size_t n, uint64_t h)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211ULL;
    return h;
}

#define PT_HASH0 1469598103934665603ULL

#endif
