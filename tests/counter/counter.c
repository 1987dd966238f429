/* counter.so: an independent counting allocator interposer for growprof's tests.
 *
 * Stacked in front of the profiler:
 *     LD_PRELOAD="counter.so libgrowprof.so" ./prog
 * it forwards every allocator call to the next definition (dlsym(RTLD_NEXT)) and counts
 * what the program did, with the words of shared/SPEC.md: allocs, frees, steps, failed,
 * grows, shrinks, moves, remaps, bytes_copied, chains, max_chain_steps.  At exit it writes
 * them as one JSON line to $GPCOUNT_OUTPUT ("%p" is replaced by the pid).
 *
 * Rules it follows so that its numbers are an independent reference:
 *  - it never calls the allocator it intercepts: its table lives in mmap'ed memory, its
 *    output is written with open/write;
 *  - only the outermost allocator call of a thread is counted: a call made while another
 *    one is being forwarded on the same thread (libc's reallocarray calling realloc, an
 *    allocator behind us calling malloc) is forwarded without being counted;
 *  - dlsym's own malloc/calloc during bootstrap are served from a static arena whose blocks
 *    are never forwarded to the next free;
 *  - errno is what the forwarded call left;
 *  - remaps are glibc's only: the mmapped bit of a block's chunk header is read only when
 *    the allocator behind the profiler (the first object after us, profilers skipped, that
 *    defines malloc) is libc; jemalloc, tcmalloc and mimalloc blocks have no such header;
 *  - after fork() the child starts counting from zero (it keeps the table of live blocks,
 *    with their step counts reset: a chain that steps in the child is counted in the
 *    child) and writes its own file; a process that did not come from our fork() wrapper
 *    (getpid() differs from the recorded pid) writes nothing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

/* The variable naming the output (a second copy built with another name can be stacked
 * behind the first one to check that each call is forwarded exactly once). */
#ifndef GPCOUNT_ENV
#define GPCOUNT_ENV "GPCOUNT_OUTPUT"
#endif

#define EXPORT __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---------------------------------------------------------------- next definitions */

typedef void *(*malloc_fn)(size_t);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef void *(*reallocarray_fn)(void *, size_t, size_t);
typedef void (*free_fn)(void *);
typedef int (*posix_memalign_fn)(void **, size_t, size_t);
typedef void *(*aligned_fn)(size_t, size_t);
typedef void *(*valloc_fn)(size_t);
typedef pid_t (*fork_fn)(void);

static struct {
    malloc_fn malloc;
    calloc_fn calloc;
    realloc_fn realloc;
    reallocarray_fn reallocarray;
    free_fn free;
    posix_memalign_fn posix_memalign;
    aligned_fn aligned_alloc;
    aligned_fn memalign;
    valloc_fn valloc;
    valloc_fn pvalloc;
    fork_fn fork;
} next;

/* 0: not started, 1: resolving (dlsym may call malloc/calloc), 2: ready */
static volatile int init_state;
static pid_t init_pid;

/* Depth of allocator calls being forwarded on this thread: only depth 0 calls count. */
static __thread int depth __attribute__((tls_model("initial-exec")));

/* ---------------------------------------------------------------- bootstrap arena */

#define ARENA_SIZE (256 * 1024)
static _Alignas(64) unsigned char arena[ARENA_SIZE];
static size_t arena_used;
static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;

static int in_arena(const void *p)
{
    return (const unsigned char *)p >= arena && (const unsigned char *)p < arena + ARENA_SIZE;
}

/* Blocks carry their size in the 16 bytes before them; the arena is never reused, so its
 * memory is zero (calloc needs nothing more). */
static void *arena_alloc(size_t n, size_t align)
{
    if (align < 16)
        align = 16;
    pthread_mutex_lock(&arena_lock);
    size_t start = (arena_used + 16 + align - 1) & ~(align - 1);
    void *p = NULL;
    if (n <= ARENA_SIZE && start <= ARENA_SIZE - n) {
        ((size_t *)(arena + start))[-1] = n;
        arena_used = start + n;
        p = arena + start;
    }
    pthread_mutex_unlock(&arena_lock);
    if (!p)
        errno = ENOMEM;
    return p;
}

static size_t arena_size(const void *p)
{
    return ((const size_t *)p)[-1];
}

/* ---------------------------------------------------------------- diagnostics */

static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

static void die(const char *msg)
{
    write_all(2, "counter.so: ", 12);
    write_all(2, msg, strlen(msg));
    write_all(2, "\n", 1);
    abort();
}

/* ---------------------------------------------------------------- live block table */

struct ent {
    uintptr_t key;  /* 0 = empty */
    size_t size;    /* size the program asked for */
    uint64_t steps; /* steps of this block's chain so far */
};

static struct ent *tab;
static size_t tab_cap; /* power of two */
static size_t tab_used;

static struct {
    uint64_t allocs, frees, steps, failed, grows, shrinks, moves, remaps, bytes_copied;
    uint64_t chains, max_chain_steps, in_place;
    uint64_t unknown_reallocs, unknown_frees;
} cnt;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(uintptr_t key, size_t cap)
{
    uint64_t h = (uint64_t)key;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (size_t)h & (cap - 1);
}

static struct ent *map_table(size_t cap)
{
    void *m = mmap(NULL, cap * sizeof(struct ent), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        die("cannot mmap its block table");
    return m;
}

static void raw_insert(struct ent *t, size_t cap, uintptr_t key, size_t size, uint64_t steps)
{
    size_t i = slot_of(key, cap);
    while (t[i].key != 0 && t[i].key != key)
        i = (i + 1) & (cap - 1);
    t[i].key = key;
    t[i].size = size;
    t[i].steps = steps;
}

/* lock held */
static void tab_insert(uintptr_t key, size_t size, uint64_t steps)
{
    if (UNLIKELY((tab_used + 1) * 2 > tab_cap)) {
        size_t ncap = tab_cap ? tab_cap * 2 : (size_t)1 << 16;
        struct ent *nt = map_table(ncap);
        for (size_t i = 0; i < tab_cap; i++)
            if (tab[i].key)
                raw_insert(nt, ncap, tab[i].key, tab[i].size, tab[i].steps);
        if (tab)
            munmap(tab, tab_cap * sizeof(struct ent));
        tab = nt;
        tab_cap = ncap;
    }
    size_t i = slot_of(key, tab_cap);
    while (tab[i].key != 0 && tab[i].key != key)
        i = (i + 1) & (tab_cap - 1);
    if (tab[i].key == 0)
        tab_used++;
    tab[i].key = key;
    tab[i].size = size;
    tab[i].steps = steps;
}

/* lock held; removes key, copying its entry to *out. Returns 0 if unknown. */
static int tab_remove(uintptr_t key, struct ent *out)
{
    if (tab_cap == 0)
        return 0;
    size_t mask = tab_cap - 1;
    size_t i = slot_of(key, tab_cap);
    while (tab[i].key != key) {
        if (tab[i].key == 0)
            return 0;
        i = (i + 1) & mask;
    }
    if (out)
        *out = tab[i];
    /* backward-shift deletion keeps linear probing free of tombstones */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (tab[j].key == 0)
            break;
        size_t home = slot_of(tab[j].key, tab_cap);
        /* can the entry at j move to the hole at i? yes unless home lies in (i, j] */
        int stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            tab[i] = tab[j];
            i = j;
        }
    }
    tab[i].key = 0;
    tab_used--;
    return 1;
}

/* ---------------------------------------------------------------- init */

static void *resolve(const char *name, int required)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f && required)
        die("dlsym(RTLD_NEXT) found no next allocator function");
    return f;
}

/* Does the allocator serving the blocks come from libc? The first object after counter.so in
 * lookup order (the initial objects' link map order) that defines malloc itself, skipping
 * libgrowprof.so, which forwards. Called while resolving: dlsym's allocations go to the
 * arena. */
static int blocks_are_glibc;

static void find_allocator(void)
{
    struct link_map *self = NULL, *def = NULL;
    Dl_info info;
    if (!dladdr1((void *)find_allocator, &info, (void **)&self, RTLD_DL_LINKMAP) || !self)
        die("dladdr1 does not know counter.so");
    for (struct link_map *l = self->l_next; l; l = l->l_next) {
        /* not the vdso (no scope to search), nor the profiler */
        if (!l->l_name || l->l_name[0] != '/' || strstr(l->l_name, "libgrowprof"))
            continue;
        /* a handle of its own (a link map not dlopen'ed has no scope): malloc is searched in
         * l first, then in its dependencies */
        void *h = dlopen(l->l_name, RTLD_LAZY | RTLD_NOLOAD);
        void *f = h ? dlsym(h, "malloc") : NULL;
        int here = f && dladdr1(f, &info, (void **)&def, RTLD_DL_LINKMAP) && def == l;
        if (h)
            dlclose(h);
        if (here)
            break;
        def = NULL;
    }
    blocks_are_glibc = !def || (def->l_name && strstr(def->l_name, "/libc.so"));
}

static void init(void)
{
    if (init_state == 2)
        return;
    if (__sync_val_compare_and_swap(&init_state, 0, 1) != 0) {
        /* another thread is resolving (or this one, re-entered from dlsym) */
        return;
    }
    next.malloc = (malloc_fn)(uintptr_t)resolve("malloc", 1);
    next.calloc = (calloc_fn)(uintptr_t)resolve("calloc", 1);
    next.realloc = (realloc_fn)(uintptr_t)resolve("realloc", 1);
    next.reallocarray = (reallocarray_fn)(uintptr_t)resolve("reallocarray", 1);
    next.free = (free_fn)(uintptr_t)resolve("free", 1);
    next.posix_memalign = (posix_memalign_fn)(uintptr_t)resolve("posix_memalign", 1);
    next.aligned_alloc = (aligned_fn)(uintptr_t)resolve("aligned_alloc", 1);
    next.memalign = (aligned_fn)(uintptr_t)resolve("memalign", 1);
    next.valloc = (valloc_fn)(uintptr_t)resolve("valloc", 1);
    next.pvalloc = (valloc_fn)(uintptr_t)resolve("pvalloc", 1);
    next.fork = (fork_fn)(uintptr_t)resolve("fork", 1);
    find_allocator();
    init_pid = getpid();
    __sync_synchronize();
    init_state = 2;
}

/* Returns 1 when the caller may forward to next.*, 0 while bootstrapping (use the arena). */
static inline int ready(void)
{
    if (LIKELY(init_state == 2))
        return 1;
    init();
    /* still 1: dlsym re-entered us, or another thread is resolving */
    return init_state == 2;
}

__attribute__((constructor(101))) static void counter_ctor(void)
{
    int e = errno;
    init();
    errno = e;
}

/* ---------------------------------------------------------------- counting */

/* The bookkeeping runs in helpers called before or after the forwarded call, never around
 * it: while the next allocator runs, the only frame of counter.so on the stack is the
 * exported function itself, named like the allocator entry point (a profiler behind us
 * takes such frames for allocator wrappers and looks further for the call site). */

/* lock held */
static void note_alloc(void *p, size_t n)
{
    cnt.allocs++;
    tab_insert((uintptr_t)p, n, 0);
}

/* a successful allocation of n bytes */
__attribute__((noinline)) static void count_alloc(void *p, size_t n)
{
    pthread_mutex_lock(&lock);
    note_alloc(p, n);
    pthread_mutex_unlock(&lock);
}

/* free(p), p != NULL: counted before the call, as afterwards the address may already be
 * reused by another thread */
__attribute__((noinline)) static void count_free(void *p)
{
    pthread_mutex_lock(&lock);
    cnt.frees++;
    if (!tab_remove((uintptr_t)p, NULL))
        cnt.unknown_frees++;
    pthread_mutex_unlock(&lock);
}

/* the mmapped bit of glibc's chunk header, read before the realloc call (another
 * allocator's block has none: never a remap) */
static int is_mmapped(const void *p)
{
    return blocks_are_glibc && (((const size_t *)p)[-1] & 2) != 0;
}

struct pre {
    int mmapped;
    int known;
    struct ent old;
};

/* Before realloc(p, ...), p != NULL: read the mmapped bit, and take the block out of the
 * table: once the next realloc frees or moves it, another thread may get the same address
 * from malloc and insert it. */
__attribute__((noinline)) static void realloc_pre(void *p, struct pre *pre)
{
    pre->mmapped = is_mmapped(p);
    pthread_mutex_lock(&lock);
    pre->known = tab_remove((uintptr_t)p, &pre->old);
    pthread_mutex_unlock(&lock);
}

/* After q = realloc(p, total) (reallocarray: overflow = its product overflowed). */
__attribute__((noinline)) static void realloc_post(void *p, const struct pre *pre, void *q,
                                                   size_t total, int overflow)
{
    pthread_mutex_lock(&lock);
    if (!overflow && total == 0) {
        /* realloc(p, 0): a free (glibc returns NULL); anything returned is a new block */
        cnt.frees++;
        if (!pre->known)
            cnt.unknown_frees++;
        if (q)
            note_alloc(q, 0);
    } else if (q == NULL) {
        cnt.failed++;
        if (pre->known)
            tab_insert((uintptr_t)p, pre->old.size, pre->old.steps);
    } else {
        uint64_t osz = pre->known ? pre->old.size : 0;
        uint64_t steps = pre->known ? pre->old.steps : 0;
        if (!pre->known)
            cnt.unknown_reallocs++;
        cnt.steps++;
        if (total > osz)
            cnt.grows++;
        else if (total < osz)
            cnt.shrinks++;
        if (q != p) {
            cnt.moves++;
            if (pre->mmapped)
                cnt.remaps++;
            else
                cnt.bytes_copied += osz < total ? osz : total;
        } else {
            cnt.in_place++;
        }
        if (steps == 0)
            cnt.chains++;
        steps++;
        if (steps > cnt.max_chain_steps)
            cnt.max_chain_steps = steps;
        tab_insert((uintptr_t)q, total, steps);
    }
    pthread_mutex_unlock(&lock);
}

/* ---------------------------------------------------------------- interposed API */

/* The body of an allocating function: forward `call`, count a block of `size` bytes. */
#define FORWARD_ALLOCATION(call, size)                                                         \
    do {                                                                                       \
        if (depth)                                                                             \
            return call;                                                                       \
        depth++;                                                                               \
        void *p_ = call;                                                                       \
        int e_ = errno;                                                                        \
        depth--;                                                                               \
        if (p_)                                                                                \
            count_alloc(p_, size);                                                             \
        errno = e_;                                                                            \
        return p_;                                                                             \
    } while (0)

EXPORT void *malloc(size_t n)
{
    if (UNLIKELY(!ready()))
        return arena_alloc(n, 16);
    FORWARD_ALLOCATION(next.malloc(n), n);
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total))
        total = SIZE_MAX; /* the next calloc fails */
    if (UNLIKELY(!ready())) {
        if (total == SIZE_MAX) {
            errno = ENOMEM;
            return NULL;
        }
        return arena_alloc(total, 16);
    }
    FORWARD_ALLOCATION(next.calloc(nmemb, size), total);
}

EXPORT void free(void *p)
{
    if (p == NULL || in_arena(p))
        return;
    if (UNLIKELY(!ready()))
        return; /* cannot happen: only the arena serves blocks before we are ready */
    if (depth) {
        next.free(p);
        return;
    }
    int e = errno;
    count_free(p);
    depth++;
    next.free(p);
    depth--;
    errno = e;
}

/* realloc of a bootstrap arena block: becomes a real allocation (the arena block stays). */
__attribute__((noinline)) static void *realloc_from_arena(void *p, size_t n)
{
    if (n == 0)
        return NULL;
    void *q = malloc(n);
    if (q) {
        size_t o = arena_size(p);
        memcpy(q, p, o < n ? o : n);
    }
    return q;
}

EXPORT void *realloc(void *p, size_t n)
{
    if (p == NULL)
        return malloc(n);
    if (in_arena(p))
        return realloc_from_arena(p, n);
    if (UNLIKELY(!ready()))
        return NULL;
    if (depth)
        return next.realloc(p, n);
    struct pre pre;
    realloc_pre(p, &pre);
    depth++;
    void *q = next.realloc(p, n);
    int e = errno;
    depth--;
    realloc_post(p, &pre, q, n, 0);
    errno = e;
    return q;
}

EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
    size_t total;
    int overflow = __builtin_mul_overflow(nmemb, size, &total);
    if (in_arena(p)) {
        if (overflow) {
            errno = ENOMEM;
            return NULL;
        }
        return realloc_from_arena(p, total);
    }
    if (UNLIKELY(!ready())) {
        if (p != NULL || overflow) {
            errno = ENOMEM;
            return NULL;
        }
        return arena_alloc(total, 16);
    }
    if (p == NULL) /* an allocation, when it succeeds */
        FORWARD_ALLOCATION(next.reallocarray(NULL, nmemb, size), total);
    if (depth)
        return next.reallocarray(p, nmemb, size);
    struct pre pre;
    realloc_pre(p, &pre);
    depth++;
    void *q = next.reallocarray(p, nmemb, size);
    int e = errno;
    depth--;
    realloc_post(p, &pre, q, total, overflow);
    errno = e;
    return q;
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (UNLIKELY(!ready())) {
        void *p = arena_alloc(n, align);
        if (!p)
            return ENOMEM;
        *out = p;
        return 0;
    }
    if (depth)
        return next.posix_memalign(out, align, n);
    depth++;
    int r = next.posix_memalign(out, align, n);
    int e = errno;
    depth--;
    if (r == 0)
        count_alloc(*out, n);
    errno = e;
    return r;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    if (UNLIKELY(!ready()))
        return arena_alloc(n, align);
    FORWARD_ALLOCATION(next.aligned_alloc(align, n), n);
}

EXPORT void *memalign(size_t align, size_t n)
{
    if (UNLIKELY(!ready()))
        return arena_alloc(n, align);
    FORWARD_ALLOCATION(next.memalign(align, n), n);
}

EXPORT void *valloc(size_t n)
{
    if (UNLIKELY(!ready()))
        return arena_alloc(n, 4096);
    FORWARD_ALLOCATION(next.valloc(n), n);
}

EXPORT void *pvalloc(size_t n)
{
    if (UNLIKELY(!ready()))
        return arena_alloc((n + 4095) & ~(size_t)4095, 4096);
    FORWARD_ALLOCATION(next.pvalloc(n), n);
}

/* fork: hold the table lock across it so that the child's copy is consistent, then give
 * the child its own counts. Allocations made by atfork handlers are forwarded uncounted. */
EXPORT pid_t fork(void)
{
    if (UNLIKELY(!ready()))
        die("fork() during bootstrap");
    pthread_mutex_lock(&lock);
    depth++;
    pid_t r = next.fork();
    int e = errno;
    depth--;
    if (r == 0) {
        memset(&cnt, 0, sizeof cnt);
        for (size_t i = 0; i < tab_cap; i++)
            tab[i].steps = 0;
        init_pid = getpid();
    }
    pthread_mutex_unlock(&lock);
    errno = e;
    return r;
}

/* ---------------------------------------------------------------- output at exit */

struct out {
    char buf[1024];
    size_t len;
};

static void put_str(struct out *o, const char *s)
{
    while (*s && o->len < sizeof o->buf - 1)
        o->buf[o->len++] = *s++;
}

static void put_u64(struct out *o, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n > 0 && o->len < sizeof o->buf - 1)
        o->buf[o->len++] = tmp[--n];
}

static void put_field(struct out *o, const char *key, uint64_t v, int first)
{
    if (!first)
        put_str(o, ",");
    put_str(o, "\"");
    put_str(o, key);
    put_str(o, "\":");
    put_u64(o, v);
}

/* path with %p replaced by the pid and %% by %; 0 if it does not fit */
static int expand_path(const char *pat, pid_t pid, char *dst, size_t cap)
{
    size_t n = 0;
    for (const char *s = pat; *s; s++) {
        if (s[0] == '%' && s[1] == 'p') {
            struct out num = {.len = 0};
            put_u64(&num, (uint64_t)pid);
            if (n + num.len >= cap)
                return 0;
            memcpy(dst + n, num.buf, num.len);
            n += num.len;
            s++;
            continue;
        }
        if (s[0] == '%' && s[1] == '%')
            s++;
        if (n + 1 >= cap)
            return 0;
        dst[n++] = *s;
    }
    dst[n] = 0;
    return 1;
}

__attribute__((destructor(101))) static void counter_dtor(void)
{
    int e = errno;
    pid_t pid = getpid();
    const char *pat = getenv(GPCOUNT_ENV);
    if (init_state != 2 || pid != init_pid || pat == NULL || *pat == 0) {
        errno = e;
        return;
    }
    char path[4096];
    if (!expand_path(pat, pid, path, sizeof path)) {
        errno = e;
        return;
    }

    struct out o = {.len = 0};
    pthread_mutex_lock(&lock);
    put_str(&o, "{");
    put_field(&o, "allocs", cnt.allocs, 1);
    put_field(&o, "frees", cnt.frees, 0);
    put_field(&o, "steps", cnt.steps, 0);
    put_field(&o, "failed", cnt.failed, 0);
    put_field(&o, "grows", cnt.grows, 0);
    put_field(&o, "shrinks", cnt.shrinks, 0);
    put_field(&o, "moves", cnt.moves, 0);
    put_field(&o, "remaps", cnt.remaps, 0);
    put_field(&o, "bytes_copied", cnt.bytes_copied, 0);
    put_field(&o, "chains", cnt.chains, 0);
    put_field(&o, "max_chain_steps", cnt.max_chain_steps, 0);
    put_field(&o, "in_place", cnt.in_place, 0);
    put_field(&o, "live_blocks", tab_used, 0);
    put_field(&o, "unknown_reallocs", cnt.unknown_reallocs, 0);
    put_field(&o, "unknown_frees", cnt.unknown_frees, 0);
    put_field(&o, "pid", (uint64_t)pid, 0);
    pthread_mutex_unlock(&lock);
    put_str(&o, "}\n");

    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        write_all(fd, o.buf, o.len);
        close(fd);
    }
    errno = e;
}
