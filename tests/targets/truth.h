/* truth.h: how the test targets know their own truth.
 *
 * A target does its realloc work in named functions and keeps, per function and in total,
 * the figures that shared/SPEC.md defines (steps, grows, shrinks, moves, in place, remaps,
 * bytes copied, chains; allocs, frees, failed, max_chain_steps). The realloc call itself is
 * written in the named function through the GP_* macros below, so that the function is the
 * call's site; the bookkeeping runs after the call and never calls the allocator.
 *
 * What a target knows by itself, before the call: the old address (kept as an integer, so
 * that the compiler cannot reason about the freed pointer), the old size (its own record),
 * glibc's mmapped bit (((size_t *)p)[-1] & 2).
 *
 * At the end gp_write() prints JSON to $GPTRUTH_OUTPUT (stdout if unset):
 *   {"program": NAME,
 *    "functions": {FN: {steps, grows, shrinks, moves, in_place, remaps, bytes_copied,
 *                       chains}},
 *    "totals": {allocs, frees, steps, failed, grows, shrinks, moves, in_place, remaps,
 *               bytes_copied, chains, max_chain_steps},
 *    "expected": {"totals": {...}, "functions": {FN: {...}}}}
 * "expected" holds the figures that follow from the program's parameters alone (closed
 * forms that do not depend on where glibc places blocks); the others are measured.
 * A function's "chains" are summed over its call sites (each GP_REALLOC* line), as the
 * report's per-site chains are when its sites in that function are added up: a chain that
 * steps at two lines of a function counts twice. (One GP_REALLOC* per line.)
 * If $GPTRUTH_LOG is set, every event is also written there, one line each:
 *   A id size | F id | S fn id old new moved mmapped line | X fn id (failed) |
 *   Z fn id (realloc 0)
 *
 * Everything here is static inline: a target and a shared library it loads each include it
 * and share one gp_truth through a pointer.
 */
#ifndef GP_TRUTH_H
#define GP_TRUTH_H

#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A function that is a site: never inlined, cloned or split, so that its name is the
 * frame's name. */
#if defined(__clang__)
#define GP_SITE __attribute__((noinline, used))
#else
#define GP_SITE __attribute__((noipa, used))
#endif

enum {
    GP_STEPS,
    GP_GROWS,
    GP_SHRINKS,
    GP_MOVES,
    GP_IN_PLACE,
    GP_REMAPS,
    GP_BYTES_COPIED,
    GP_CHAINS,
    GP_NFN_FIELDS
};

enum {
    GP_T_ALLOCS,
    GP_T_FREES,
    GP_T_STEPS,
    GP_T_FAILED,
    GP_T_GROWS,
    GP_T_SHRINKS,
    GP_T_MOVES,
    GP_T_IN_PLACE,
    GP_T_REMAPS,
    GP_T_BYTES_COPIED,
    GP_T_CHAINS,
    GP_T_MAX_CHAIN_STEPS,
    GP_NT_FIELDS
};

static const char *const gp_fn_field_names[GP_NFN_FIELDS] = {
    "steps", "grows", "shrinks", "moves", "in_place", "remaps", "bytes_copied", "chains"};
static const char *const gp_t_field_names[GP_NT_FIELDS] = {
    "allocs", "frees",    "steps",  "failed",       "grows",  "shrinks",
    "moves",  "in_place", "remaps", "bytes_copied", "chains", "max_chain_steps"};

#define GP_MAX_FN 16
#define GP_MAX_SITES 64
#define GP_MAX_EXPECT 64

typedef struct {
    const char *name;
    uint64_t v[GP_NFN_FIELDS];
} gp_fn_truth;

typedef struct {
    const char *fn; /* NULL: a total */
    const char *key;
    uint64_t value;
} gp_expect_entry;

typedef struct gp_truth {
    pthread_mutex_t mu;
    int nfn;
    gp_fn_truth fn[GP_MAX_FN];
    uint64_t t[GP_NT_FIELDS];
    int nsite;
    struct {
        const char *fn;
        int line;
    } site[GP_MAX_SITES];
    uint64_t next_id;
    int log_fd;
    int nexpect;
    gp_expect_entry expect[GP_MAX_EXPECT];
} gp_truth;

/* One block of the program, as the program itself knows it. */
typedef struct gp_block {
    void *p;
    size_t size;     /* size last asked for */
    uint64_t steps;  /* steps of its chain so far */
    uint64_t sitemask; /* call sites where its chain already stepped */
    uint64_t id;     /* for the event log */
} gp_block;

/* What is known before a realloc call. */
typedef struct gp_pre {
    uintptr_t old;
    size_t oldsz;
    int mmapped;
} gp_pre;

/* ---------------------------------------------------------------- small output helpers */

typedef struct {
    char *buf;
    size_t cap, len;
} gp_out;

static inline void gp_puts(gp_out *o, const char *s)
{
    while (*s && o->len + 1 < o->cap)
        o->buf[o->len++] = *s++;
}

static inline void gp_putu(gp_out *o, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n > 0 && o->len + 1 < o->cap)
        o->buf[o->len++] = tmp[--n];
}

static inline void gp_write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* ---------------------------------------------------------------- setup */

static inline void gp_init(gp_truth *t)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    t->log_fd = -1;
    const char *log = getenv("GPTRUTH_LOG");
    if (log && *log)
        t->log_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

/* index of a function's record, created on first use (lock held) */
static inline int gp_fn_locked(gp_truth *t, const char *name)
{
    for (int i = 0; i < t->nfn; i++)
        if (strcmp(t->fn[i].name, name) == 0)
            return i;
    if (t->nfn == GP_MAX_FN)
        abort();
    t->fn[t->nfn].name = name;
    return t->nfn++;
}

/* Declare a function of the program (so that it appears in the truth even with zeros). */
static inline void gp_declare(gp_truth *t, const char *name)
{
    pthread_mutex_lock(&t->mu);
    gp_fn_locked(t, name);
    pthread_mutex_unlock(&t->mu);
}

/* A figure that follows from the program's parameters (fn NULL: a run total). */
static inline void gp_expect(gp_truth *t, const char *fn, const char *key, uint64_t value)
{
    pthread_mutex_lock(&t->mu);
    if (t->nexpect == GP_MAX_EXPECT)
        abort();
    t->expect[t->nexpect].fn = fn;
    t->expect[t->nexpect].key = key;
    t->expect[t->nexpect].value = value;
    t->nexpect++;
    pthread_mutex_unlock(&t->mu);
}

/* ---------------------------------------------------------------- events */

static inline void gp_log(gp_truth *t, const char *tag, const char *fn, uint64_t id,
                          const uint64_t *nums, int nnums)
{
    if (t->log_fd < 0)
        return;
    char buf[256];
    gp_out o = {buf, sizeof buf, 0};
    gp_puts(&o, tag);
    if (fn) {
        gp_puts(&o, " ");
        gp_puts(&o, fn);
    }
    gp_puts(&o, " ");
    gp_putu(&o, id);
    for (int i = 0; i < nnums; i++) {
        gp_puts(&o, " ");
        gp_putu(&o, nums[i]);
    }
    gp_puts(&o, "\n");
    gp_write_all(t->log_fd, buf, o.len);
}

/* lock held */
static inline void gp_alloc_locked(gp_truth *t, gp_block *b, void *p, size_t n)
{
    b->p = p;
    b->size = n;
    b->steps = 0;
    b->sitemask = 0;
    b->id = ++t->next_id;
    t->t[GP_T_ALLOCS]++;
    uint64_t sz = n;
    gp_log(t, "A", NULL, b->id, &sz, 1);
}

/* After a successful malloc/calloc/memalign/... of n bytes (p != NULL). */
static inline void gp_alloced(gp_truth *t, gp_block *b, void *p, size_t n)
{
    pthread_mutex_lock(&t->mu);
    gp_alloc_locked(t, b, p, n);
    pthread_mutex_unlock(&t->mu);
}

/* After free(b->p) with b->p != NULL. */
static inline void gp_freed(gp_truth *t, gp_block *b)
{
    pthread_mutex_lock(&t->mu);
    t->t[GP_T_FREES]++;
    gp_log(t, "F", NULL, b->id, NULL, 0);
    b->p = NULL;
    b->size = 0;
    pthread_mutex_unlock(&t->mu);
}

/* The word just before a glibc block: its chunk size with flag bits (0x2: mmapped). */
__attribute__((noinline, unused)) static size_t gp_chunk_word(const void *p)
{
    const volatile size_t *w = (const volatile size_t *)p;
    return w[-1];
}

/* Not inlined: the compiler must not see the old pointer's value flow past the realloc
 * call (gcc's -Wuse-after-free would flag the next loop iteration's read). */
__attribute__((noinline, unused)) static gp_pre gp_before(const gp_block *b)
{
    gp_pre pre;
    pre.old = (uintptr_t)b->p;
    pre.oldsz = b->size;
    pre.mmapped = b->p ? (int)((gp_chunk_word(b->p) & 2) != 0) : 0;
    return pre;
}

/* index of a call site (lock held) */
static inline int gp_site_locked(gp_truth *t, const char *fn, int line)
{
    for (int i = 0; i < t->nsite; i++)
        if (t->site[i].line == line && strcmp(t->site[i].fn, fn) == 0)
            return i;
    if (t->nsite == GP_MAX_SITES)
        abort();
    t->site[t->nsite].fn = fn;
    t->site[t->nsite].line = line;
    return t->nsite++;
}

/* After q = realloc(old, n) (or reallocarray, overflow = its product overflowed), called
 * in function fn at line `line`. */
static inline void gp_after(gp_truth *t, const char *fn, int line, gp_block *b, gp_pre pre,
                            void *q, size_t n, int overflow)
{
    pthread_mutex_lock(&t->mu);
    int f = gp_fn_locked(t, fn);
    if (pre.old == 0) {
        if (q)
            gp_alloc_locked(t, b, q, n); /* realloc(NULL, n): an allocation */
    } else if (!overflow && n == 0) {
        /* realloc(p, 0): a free */
        t->t[GP_T_FREES]++;
        gp_log(t, "Z", t->fn[f].name, b->id, NULL, 0);
        b->p = NULL;
        b->size = 0;
        if (q)
            gp_alloc_locked(t, b, q, 0);
    } else if (q == NULL) {
        t->t[GP_T_FAILED]++;
        gp_log(t, "X", t->fn[f].name, b->id, NULL, 0);
    } else {
        uint64_t *v = t->fn[f].v;
        int moved = (uintptr_t)q != pre.old;
        uint64_t nums[5] = {pre.oldsz, n, (uint64_t)moved, (uint64_t)pre.mmapped,
                            (uint64_t)line};
        gp_log(t, "S", t->fn[f].name, b->id, nums, 5);
        v[GP_STEPS]++;
        t->t[GP_T_STEPS]++;
        if (n > pre.oldsz) {
            v[GP_GROWS]++;
            t->t[GP_T_GROWS]++;
        } else if (n < pre.oldsz) {
            v[GP_SHRINKS]++;
            t->t[GP_T_SHRINKS]++;
        }
        if (moved) {
            v[GP_MOVES]++;
            t->t[GP_T_MOVES]++;
            if (pre.mmapped) {
                v[GP_REMAPS]++;
                t->t[GP_T_REMAPS]++;
            } else {
                uint64_t c = pre.oldsz < n ? pre.oldsz : n;
                v[GP_BYTES_COPIED] += c;
                t->t[GP_T_BYTES_COPIED] += c;
            }
        } else {
            v[GP_IN_PLACE]++;
            t->t[GP_T_IN_PLACE]++;
        }
        int site = gp_site_locked(t, fn, line);
        if (!(b->sitemask & ((uint64_t)1 << site))) {
            b->sitemask |= (uint64_t)1 << site;
            v[GP_CHAINS]++;
        }
        if (b->steps == 0)
            t->t[GP_T_CHAINS]++;
        b->steps++;
        if (b->steps > t->t[GP_T_MAX_CHAIN_STEPS])
            t->t[GP_T_MAX_CHAIN_STEPS] = b->steps;
        b->p = q;
        b->size = n;
    }
    pthread_mutex_unlock(&t->mu);
}

/* realloc(b->p, n) written in the calling function (its site); evaluates to the result. */
#define GP_REALLOC(t, b, n)                                                                    \
    __extension__({                                                                            \
        gp_block *gp_b_ = (b);                                                                 \
        size_t gp_n_ = (n);                                                                    \
        gp_pre gp_pre_ = gp_before(gp_b_);                                                     \
        void *gp_q_ = realloc(gp_b_->p, gp_n_);                                                \
        gp_after((t), __func__, __LINE__, gp_b_, gp_pre_, gp_q_, gp_n_, 0);                              \
        gp_q_;                                                                                 \
    })

/* reallocarray(b->p, nmemb, size) written in the calling function. */
#define GP_REALLOCARRAY(t, b, nmemb, size)                                                     \
    __extension__({                                                                            \
        gp_block *gp_b_ = (b);                                                                 \
        size_t gp_nm_ = (nmemb), gp_sz_ = (size), gp_n_ = 0;                                   \
        int gp_ovf_ = __builtin_mul_overflow(gp_nm_, gp_sz_, &gp_n_);                          \
        gp_pre gp_pre_ = gp_before(gp_b_);                                                     \
        void *gp_q_ = reallocarray(gp_b_->p, gp_nm_, gp_sz_);                                  \
        gp_after((t), __func__, __LINE__, gp_b_, gp_pre_, gp_q_, gp_n_, gp_ovf_);                        \
        gp_q_;                                                                                 \
    })

/* ---------------------------------------------------------------- output */

static inline void gp_put_key(gp_out *o, const char *key, int *first)
{
    if (!*first)
        gp_puts(o, ",");
    *first = 0;
    gp_puts(o, "\"");
    gp_puts(o, key);
    gp_puts(o, "\":");
}

/* "functions":{FN:{...},...},"totals":{... (the totals' object left open). */
static inline void gp_put_counts(gp_out *o, const gp_truth *t)
{
    int first;
    gp_puts(o, "\"functions\":{");
    for (int i = 0; i < t->nfn; i++) {
        if (i)
            gp_puts(o, ",");
        gp_puts(o, "\"");
        gp_puts(o, t->fn[i].name);
        gp_puts(o, "\":{");
        first = 1;
        for (int k = 0; k < GP_NFN_FIELDS; k++) {
            gp_put_key(o, gp_fn_field_names[k], &first);
            gp_putu(o, t->fn[i].v[k]);
        }
        gp_puts(o, "}");
    }
    gp_puts(o, "},\"totals\":{");
    first = 1;
    for (int k = 0; k < GP_NT_FIELDS; k++) {
        gp_put_key(o, gp_t_field_names[k], &first);
        gp_putu(o, t->t[k]);
    }
}

/* Writes the truth JSON to $GPTRUTH_OUTPUT, or stdout. Returns 0, or -1 if it could not. */
static inline int gp_write(gp_truth *t, const char *program)
{
    static char buf[1 << 16];
    gp_out o = {buf, sizeof buf, 0};
    int first;

    pthread_mutex_lock(&t->mu);
    gp_puts(&o, "{\"program\":\"");
    gp_puts(&o, program);
    gp_puts(&o, "\",");
    gp_put_counts(&o, t);
    gp_puts(&o, "},\"expected\":{\"totals\":{");
    first = 1;
    for (int e = 0; e < t->nexpect; e++) {
        if (t->expect[e].fn)
            continue;
        gp_put_key(&o, t->expect[e].key, &first);
        gp_putu(&o, t->expect[e].value);
    }
    gp_puts(&o, "},\"functions\":{");
    int fn_first = 1;
    for (int i = 0; i < t->nfn; i++) {
        first = 1;
        for (int e = 0; e < t->nexpect; e++) {
            if (!t->expect[e].fn || strcmp(t->expect[e].fn, t->fn[i].name) != 0)
                continue;
            if (first) {
                if (!fn_first)
                    gp_puts(&o, ",");
                fn_first = 0;
                gp_puts(&o, "\"");
                gp_puts(&o, t->fn[i].name);
                gp_puts(&o, "\":{");
            }
            gp_put_key(&o, t->expect[e].key, &first);
            gp_putu(&o, t->expect[e].value);
        }
        if (!first)
            gp_puts(&o, "}");
    }
    gp_puts(&o, "}}}\n");
    pthread_mutex_unlock(&t->mu);

    if (o.len + 1 >= o.cap)
        return -1;
    const char *path = getenv("GPTRUTH_OUTPUT");
    int fd = 1;
    if (path && *path) {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            return -1;
    }
    gp_write_all(fd, buf, o.len);
    if (fd != 1)
        close(fd);
    if (t->log_fd >= 0) {
        close(t->log_fd);
        t->log_fd = -1;
    }
    return 0;
}

#endif
