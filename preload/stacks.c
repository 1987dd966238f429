/* stacks.c - unwind, intern and write call stacks (see stacks.h). */
#define UNW_LOCAL_ONLY
#include "stacks.h"

#include "options.h"
#include "trace.h"
#include "gp_codec.h"
#include "gp_format.h"
#include "gp_record.h"
#include "ialloc.h"
#include "modules.h"
#include "tramp.h"

#include <fcntl.h>
#include <libunwind.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <string.h>

/* uthash allocates through our own allocator and never exits on failure. */
static int intern_oom;
#define HASH_NONFATAL_OOM 1
#define uthash_malloc(sz) gp_ialloc(sz)
#define uthash_free(ptr, sz) gp_ifree(ptr)
#define uthash_nonfatal_oom(obj) (intern_oom = 1)
#include <uthash.h>

struct stack {
	uint32_t id;
	unsigned gen;   /* trace generation in which its record was last written */
	unsigned epoch; /* module-map epoch it was interned in (see check_modules) */
	unsigned n;
	uint64_t hash;
	UT_hash_handle hh;
	uint64_t ips[]; /* the key */
};

static struct stack *table;
static unsigned epoch; /* bumped when an address range changed owner: intern anew */
static struct stack **by_id; /* by_id[id] */
static uint32_t nids, cap_ids;
static uintptr_t self_lo, self_hi;

/* A few recent stacks per thread: a hit costs no lock. */
#define CACHE_SIZE 64
struct cache_ent {
	uint64_t hash;
	struct stack *s;
};
static __thread struct cache_ent cache[CACHE_SIZE] __attribute__((tls_model("initial-exec")));

/* Call sites (return addresses of allocation calls); lock-free insert-only table. */
#define CS_BITS 14 /* call site index + 1 must fit GP_SH_CS_MASK (shadow.h) */
#define CS_CAP (1u << CS_BITS)
#define FIRST_STACKS 2

struct callsite {
	uint64_t ra;
	uint32_t hot;    /* it began a chain: capture full stacks of its allocations... */
	uint32_t chains; /* ...while chains are not too rare among them (counts are racy: */
	uint64_t allocs; /*  a policy, not a number we report) */
	uint64_t origin; /* its one-frame stack's id, with the trace and module epoch it is
	                  * valid in (origin_stamp()): chains begun there ask for it */
};
static struct callsite *cs_tab;

static inline uint64_t mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

/*
 * libunwind opens a pipe (to probe memory) the first time it unwinds: do that now, with the
 * standard descriptors occupied if the program started without them, so the pipe never
 * becomes the program's stdin, stdout or stderr.
 */
static void warm_unwinder(void)
{
	int held[3], nheld = 0;
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0) {
			int p = open("/dev/null", O_RDWR | O_CLOEXEC);
			if (p >= 0)
				held[nheld++] = p;
		}
	void *ips[4];
	unw_backtrace(ips, 4);
	for (int i = 0; i < nheld; i++)
		close(held[i]);
}

void gp_stacks_init(uintptr_t lo, uintptr_t hi)
{
	warm_unwinder();
	self_lo = lo;
	self_hi = hi;

	if (!cs_tab)
		cs_tab = gp_imap(CS_CAP * sizeof *cs_tab);
}

/*
 * libunwind's locks (its caches of unwind info) are not fork-safe: a fork while another
 * thread unwinds leaves them held in the child, whose first unwind then hangs. Unwinders
 * count themselves in, and a fork waits until none is inside (gp_stacks_fork_*).
 */
static volatile int unwinders, forking;

void gp_stacks_fork_prepare(void)
{
	__atomic_store_n(&forking, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&unwinders, __ATOMIC_SEQ_CST))
		sched_yield();
}

void gp_stacks_fork_done(int child)
{
	if (child)
		unwinders = 0;
	__atomic_store_n(&forking, 0, __ATOMIC_RELEASE);
}

unsigned gp_stack_capture(uint64_t *ips, unsigned depth)
{
	/* libunwind probes memory with write() to a pipe, a cancellation point: a thread
	 * cancelled in there would stay counted as unwinding (and fork would wait for it
	 * forever), and die in the middle of an allocator call. */
	int cancel;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	for (;;) {
		while (__atomic_load_n(&forking, __ATOMIC_ACQUIRE))
			sched_yield();
		__atomic_fetch_add(&unwinders, 1, __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&forking, __ATOMIC_SEQ_CST))
			break;
		__atomic_fetch_sub(&unwinders, 1, __ATOMIC_SEQ_CST);
	}
	/* Frames of the profiler itself come first; ask for enough to drop them. */
	int want = (int)(depth + 8 < GP_DEPTH_MAX ? depth + 8 : GP_DEPTH_MAX);
	int n = unw_backtrace((void **)ips, want);
	/* A stack through a CPython perf trampoline is unwound again, the slow way, stepping
	 * over it (tramp.h). Costs a compare per stack in a program without them. */
	if (gp_tramp_in(ips, n, n < want))
		n = gp_tramp_backtrace(ips, want);
	__atomic_fetch_sub(&unwinders, 1, __ATOMIC_RELEASE);
	pthread_setcancelstate(cancel, NULL);
	if (n <= 0)
		return 0;
	int skip = 0;
	while (skip < n && ips[skip] >= self_lo && ips[skip] < self_hi)
		skip++;
	unsigned keep = (unsigned)(n - skip);
	if (keep > depth)
		keep = depth;
	memmove(ips, ips + skip, keep * sizeof *ips);
	return keep;
}

static uint64_t hash_ips(const uint64_t *ips, unsigned n)
{
	uint64_t h = n;
	for (unsigned i = 0; i < n; i++)
		h = mix(h ^ ips[i]);
	return h;
}

/* Stacks interned so far may name addresses of an unloaded object: forget them (they stay
 * valid for ids already handed out) so the same addresses are interned and written anew. */
static void new_epoch(void)
{
	epoch++;
	table = NULL; /* the old entries stay reachable through by_id */
}

/* After a dlclose: sync the module map before trusting any interned stack. */
static void check_modules(void)
{
	if (gp_modules_dirty && gp_modules_sync_locked())
		new_epoch();
}

/* Write the STACK record of `s` (trace lock held). */
static void emit(struct stack *s)
{
	int unknown = 0;
	for (unsigned i = 0; i < s->n && !unknown; i++)
		unknown = !gp_modules_known_locked(s->ips[i]);
	/* A library was loaded or unloaded since we last looked (dlopen, NSS, iconv...): an
	 * address may now belong to another object, even within a known range. */
	if ((unknown || gp_modules_changed_locked()) && gp_modules_sync_locked())
		new_epoch();
	uint8_t *p = gp_trace_reserve(GP_STACK_REC_MAX(s->n));
	if (!p)
		return;
	struct gp_stack_rec x = { .id = s->id, .n = s->n, .addrs = s->ips };
	gp_trace_commit(gp_enc_stack(p, &x));
	s->gen = gp_gen;
}

static struct stack *lookup_cache(const uint64_t *ips, unsigned n, uint64_t h)
{
	struct cache_ent *c = &cache[h % CACHE_SIZE];
	struct stack *s = c->s;
	if (s && c->hash == h && s->epoch == epoch && s->n == n &&
	    memcmp(s->ips, ips, n * sizeof *ips) == 0)
		return s;
	return NULL;
}

static struct stack *intern_stack_locked(const uint64_t *ips, unsigned n)
{
	check_modules();
	uint64_t h = hash_ips(ips, n);
	struct stack *s = lookup_cache(ips, n, h);
	if (!s) {
		/* our hash, computed already: uthash's own would read the whole key again */
		HASH_FIND_BYHASHVALUE(hh, table, ips, n * sizeof *ips, (unsigned)h, s);
		if (!s) {
			if (nids + 1 >= cap_ids) {
				uint32_t cap = cap_ids ? cap_ids * 2 : 4096;
				struct stack **b = gp_ialloc(cap * sizeof *b);
				if (!b)
					return NULL;
				if (by_id)
					memcpy(b, by_id, cap_ids * sizeof *b);
				gp_ifree(by_id);
				by_id = b;
				cap_ids = cap;
			}
			s = gp_ialloc(sizeof *s + n * sizeof *ips);
			if (!s)
				return NULL;
			s->id = ++nids;
			s->epoch = epoch;
			s->n = n;
			s->hash = h;
			memcpy(s->ips, ips, n * sizeof *ips);
			intern_oom = 0;
			HASH_ADD_KEYPTR_BYHASHVALUE(hh, table, s->ips, n * sizeof *ips, (unsigned)h, s);
			if (intern_oom) {
				gp_ifree(s);
				nids--;
				return NULL;
			}
			by_id[s->id] = s;
		}
		cache[h % CACHE_SIZE] = (struct cache_ent){ h, s };
	}
	return s;
}

uint32_t gp_stack_intern_locked(const uint64_t *ips, unsigned n)
{
	struct stack *s = intern_stack_locked(ips, n);
	if (!s)
		return 0;
	if (s->gen != gp_gen)
		emit(s);
	return s->id;
}

uint32_t gp_stack_intern(const uint64_t *ips, unsigned n)
{
	uint64_t h = hash_ips(ips, n);
	struct stack *s = lookup_cache(ips, n, h);
	if (s && s->gen == gp_gen && !gp_modules_dirty)
		return s->id; /* seen and written in this trace: no lock needed */
	gp_trace_lock();
	uint32_t id = gp_stack_intern_locked(ips, n);
	gp_trace_unlock();
	return id;
}

uint32_t gp_stack_intern_id_locked(uint32_t id)
{
	if (id == 0 || id > nids)
		return 0;
	struct stack *s = by_id[id];
	if (s->gen != gp_gen)
		emit(s);
	return id;
}

/* ---- the per-thread unwind cache ---- */

#define UCACHE 64
struct ucache_ent {
	struct stack *s; /* NULL: the call was only noted */
	unsigned n;      /* s->n */
	/* For frame i < n: where its return address was stored, and that address (s->ips[i]),
	 * side by side: checking a stack reads one stream. */
	uint64_t sv[];
};
/* The keys apart from the entries, a set's in one cache line: (ra, cfa | depth << 48). */
struct ucache_tag {
	uint64_t ra, key;
};
#define UKEY(cfa, depth) ((cfa) | (uint64_t)(depth) << 48)
static __thread char *ucache __attribute__((tls_model("initial-exec")));
static __thread unsigned ucache_depth __attribute__((tls_model("initial-exec")));

static inline size_t ent_size(unsigned depth)
{
	return sizeof(struct ucache_ent) + depth * 2 * sizeof(uint64_t);
}

/* The cache is set-associative: the same call (ra, cfa) made from different callers keeps
 * up to UCACHE_WAYS stacks. */
#define UCACHE_WAYS 4
#define UCACHE_SETS (UCACHE / UCACHE_WAYS)
static __thread uint8_t ucache_next[UCACHE_SETS] __attribute__((tls_model("initial-exec")));
static __thread struct ucache_tag utag[UCACHE]
	__attribute__((tls_model("initial-exec"), aligned(64)));

static inline unsigned ucache_set(uint64_t ra, uint64_t cfa)
{
	/* one multiply: this is on every step's path */
	return (unsigned)(((ra ^ (cfa >> 4)) * 0x9E3779B97F4A7C15ull) >> 60) % UCACHE_SETS;
}

static inline struct ucache_ent *ucache_ent(unsigned set, unsigned way)
{
	return (struct ucache_ent *)(ucache + (set * UCACHE_WAYS + way) * ent_size(ucache_depth));
}

/* Take an entry of the set for (ra, key): one only noting this call, else the next in
 * turn. */
static struct ucache_ent *ucache_take(unsigned set, uint64_t ra, uint64_t key)
{
	unsigned way = UCACHE_WAYS;
	for (unsigned w = 0; w < UCACHE_WAYS && way == UCACHE_WAYS; w++) {
		const struct ucache_tag *t = &utag[set * UCACHE_WAYS + w];
		if (t->ra == ra && t->key == key && !ucache_ent(set, w)->s)
			way = w;
	}
	if (way == UCACHE_WAYS)
		way = ucache_next[set]++ % UCACHE_WAYS;
	utag[set * UCACHE_WAYS + way] = (struct ucache_tag){ ra, key };
	return ucache_ent(set, way);
}

extern void *__libc_stack_end;

/* Highest address of the stack holding `sp` that may be read (exclusive). glibc puts a
 * thread's descriptor just above its stack; the main thread's stack ends a little above
 * __libc_stack_end (environment and auxiliary vector), at a page boundary we stay below. */
static uint64_t stack_top(uint64_t sp)
{
	uint64_t self = (uint64_t)pthread_self();
	if (sp < self && self - sp < (1ull << 30))
		return self;
	uint64_t end = (uint64_t)__libc_stack_end;
	if (sp < end)
		return (end + 4095) & ~4095ull;
	return sp + 4096 - (sp & 4095); /* unknown stack (sigaltstack, coroutine): its page */
}

/* Does every slot of sv[0..2n) still hold its return address? Nearly every check is a hit
 * of 15-20 frames: compared four at a time, with one branch each, instead of one per frame
 * (a mismatch, as when another caller made the same call, shows within the first few). */
static inline int stack_unchanged(const uint64_t *sv, unsigned n)
{
	const uint64_t *end = sv + 2 * (uint64_t)n;
#define GP_SLOT(k) (*(const volatile uint64_t *)sv[2 * (k)] ^ sv[2 * (k) + 1])
	for (; end - sv >= 8; sv += 8)
		if (GP_SLOT(0) | GP_SLOT(1) | GP_SLOT(2) | GP_SLOT(3))
			return 0;
	for (; sv < end; sv += 2)
		if (GP_SLOT(0))
			return 0;
#undef GP_SLOT
	return 1;
}

GP_HOT uint32_t gp_stack_hit(uint64_t ra, uint64_t cfa, unsigned depth)
{
	if (__builtin_expect(!ucache || gp_modules_dirty, 0))
		return 0;
	unsigned set = ucache_set(ra, cfa);
	uint64_t key = UKEY(cfa, depth);
	const struct ucache_tag *tg = &utag[set * UCACHE_WAYS];
	for (unsigned w = 0; w < UCACHE_WAYS; w++) {
		if (tg[w].ra != ra || tg[w].key != key)
			continue;
		const struct ucache_ent *c = ucache_ent(set, w);
		const struct stack *s = c->s;
		if (s && s->gen == gp_gen && s->epoch == epoch && stack_unchanged(c->sv, c->n))
			return s->id;
	}
	return 0;
}

void gp_stack_get(uint64_t ra, uint64_t cfa, unsigned depth, struct gp_stack_ref *r)
{
	r->cacheable = 0;
	if (!ucache) {
		/* Per-thread memory, released when the thread exits: a few KiB. */
		char *c = gp_ialloc(UCACHE * ent_size(gp_depth));
		if (c) {
			memset(c, 0, UCACHE * ent_size(gp_depth));
			ucache_depth = gp_depth;
			ucache = c;
		}
	}
	int again = 0; /* this call was seen before: worth finding the slots */
	struct ucache_ent *e = NULL; /* ... and a stack found there then, as a hint */
	if (ucache) {
		unsigned set = ucache_set(ra, cfa);
		uint64_t key = UKEY(cfa, depth);
		for (unsigned w = 0; w < UCACHE_WAYS; w++) {
			const struct ucache_tag *t = &utag[set * UCACHE_WAYS + w];
			if (t->ra != ra || t->key != key)
				continue;
			again = 1;
			struct ucache_ent *c = ucache_ent(set, w);
			if (!c->s)
				continue;
			if (stack_unchanged(c->sv, c->n)) {
				r->s = c->s; /* the rest of *r is for a stack not found */
				return;
			}
			e = c;
		}
		if (!again) {
			/* First time here (as far as the cache knows): finding the slots costs
			 * more than unwinding, so only note the call; the next one like it is
			 * made cacheable. */
			ucache_take(set, ra, key)->s = NULL;
		}
	}
	r->s = NULL;
	r->ra = ra;
	r->cfa = cfa;
	r->depth = depth;
	/* Unwind with libunwind's fast path (its own per-thread cache of frame layouts; the
	 * general unw_step path blocks signals with two syscalls per lookup). */
	unsigned n = gp_stack_capture(r->ips, depth);
	r->n = n;
	if (!n || r->ips[0] != ra || !again)
		return;
	/* Find where each return address sits: the first word holding it above the previous
	 * one. Return addresses are pushed by the calls themselves, and a live frame holding a
	 * copy of an outer frame's return address is all but unheard of. The scan never goes
	 * past the top of this thread's stack (below its descriptor, or __libc_stack_end's
	 * region for the main thread), and gives up past 256 KiB of frames. */
	uint64_t top = stack_top(cfa);
	r->slots[0] = cfa - 8;
	if (*(const uint64_t *)r->slots[0] != ra)
		return;
	/* The same call seen before from other callers: the frames mostly sit where they sat
	 * then, so the slots found then are tried first. */
	unsigned nhint = e ? e->n : 0;
	for (unsigned i = 1; i < n; i++) {
		const uint64_t *w = (const uint64_t *)r->slots[i - 1] + 1;
		if (i < nhint) {
			uint64_t h = e->sv[2 * i];
			if (h >= (uint64_t)w && h < top && *(const uint64_t *)h == r->ips[i]) {
				r->slots[i] = h;
				continue;
			}
		}
		const uint64_t *end = w + (256u << 10) / sizeof *w;
		if ((uint64_t)end > top)
			end = (const uint64_t *)top;
		while (w < end && *w != r->ips[i])
			w++;
		if (w >= end)
			return;
		r->slots[i] = (uint64_t)w;
	}
	r->cacheable = 1;
}

void gp_stacks_thread_exit(void)
{
	char *c = ucache;
	ucache = NULL;
	gp_ifree(c);
}

static void ucache_put(struct gp_stack_ref *r, struct stack *st)
{
	if (!r->cacheable || st->n < 1)
		return;
	if (!ucache || st->n > ucache_depth)
		return;
	struct ucache_ent *e = ucache_take(ucache_set(r->ra, r->cfa), r->ra, UKEY(r->cfa, r->depth));
	e->s = st;
	e->n = st->n;
	for (unsigned i = 0; i < st->n; i++)
		e->sv[2 * i] = r->slots[i], e->sv[2 * i + 1] = st->ips[i];
}

static struct stack *intern_stack_locked(const uint64_t *ips, unsigned n);

uint32_t gp_stack_ref_id_locked(struct gp_stack_ref *r)
{
	check_modules();
	struct stack *st = r->s;
	if (st && st->epoch != epoch) { /* cached before the module map changed */
		r->n = st->n;
		memcpy(r->ips, st->ips, st->n * sizeof *r->ips);
		st = r->s = NULL;
	}
	if (!st) {
		if (!r->n)
			return 0;
		st = intern_stack_locked(r->ips, r->n);
		if (!st)
			return 0;
		ucache_put(r, st);
		r->s = st;
	}
	if (st->gen != gp_gen)
		emit(st);
	return st->id;
}

uint32_t gp_stack_ref_id(struct gp_stack_ref *r)
{
	struct stack *st = r->s;
	if (st && st->gen == gp_gen && st->epoch == epoch && !gp_modules_dirty)
		return st->id;
	gp_trace_lock();
	uint32_t id = gp_stack_ref_id_locked(r);
	gp_trace_unlock();
	return id;
}

void gp_stacks_new_trace(void)
{
	/* Nothing to clear: every stack's gen is now older than gp_gen, so each is written
	 * again before its first use in the new trace. */
}

/* The last call sites this thread allocated from: a hit skips the table's probe. Entries
 * of the table never move, so an index stays valid for good. Each counts down the
 * allocations until the table is consulted again (gp_callsite_policy), so that most
 * allocations do not read the shared table at all. Only found call sites are cached: an
 * entry never holds GP_CALLSITE_NONE. */
#define cs_tcache gp_tls.cs

/*
 * Whether this allocation at call site i gets a full stack. The first two allocations of
 * every call site do: when the call site is a wrapper (operator new, alloc::alloc::alloc)
 * the return address alone would name the wrapper as the origin of an early chain. After
 * that, only call sites seen to start chains do: their next HOT_FIRST allocations, then
 * one block in 64 (unwinding at a new stack costs microseconds: an interpreter's start-up
 * made thousands of such captures with 8 and 256), and only while chains
 * are not rare among their blocks: a wrapper like PyMem_Malloc or sqlite3Malloc serves
 * millions of blocks. A chain begun at a block without a stack still has its call site, and
 * the viewer takes the site of its first step when that call site is only a wrapper.
 * A thread looks at a cold call site again one allocation in 256 (it may have become hot)
 * and counts a hot one's allocations one in 64: threads allocating at the same place
 * rarely touch its cache line, and never write it while it is cold.
 */
#define HOT_EVERY 64
#define HOT_FIRST 32 /* allocations of a call site that all get stacks once it is hot */
uint32_t gp_callsite_policy(uint32_t i, unsigned slot)
{
	struct callsite *c = &cs_tab[i];
	uint32_t *left = &cs_tcache[slot].left;
	uint64_t n = c->allocs;
	if (!__atomic_load_n(&c->hot, __ATOMIC_RELAXED)) {
		if (n < FIRST_STACKS) {
			c->allocs = n + 1;
			*left = 1;
			return i | GP_CALLSITE_HOT;
		}
		*left = 256;
		return i;
	}
	if (n < HOT_FIRST) {
		c->allocs = n + 1;
		*left = 1;
		return i | GP_CALLSITE_HOT;
	}
	*left = HOT_EVERY;
	c->allocs = n + HOT_EVERY;
	return (uint64_t)c->chains * 16 >= n ? i | GP_CALLSITE_HOT : i;
}

uint32_t gp_callsite_slow(uint64_t ra)
{
	if (!cs_tab)
		return GP_CALLSITE_NONE;
	unsigned slot = gp_cs_slot(ra);
	uint32_t i = (uint32_t)mix(ra) & (CS_CAP - 1);
	for (unsigned probe = 0; probe < 128; probe++, i = (i + 1) & (CS_CAP - 1)) {
		if (i == CS_CAP - 1)
			continue; /* its index + 1 would not fit the shadow's field */
		uint64_t cur = __atomic_load_n(&cs_tab[i].ra, __ATOMIC_ACQUIRE);
		if (cur == ra) {
			cs_tcache[slot].ra = ra;
			cs_tcache[slot].pl = i + 1;
			return gp_callsite_policy(i, slot);
		}
		if (cur == 0) {
			uint64_t expect = 0;
			if (__atomic_compare_exchange_n(&cs_tab[i].ra, &expect, ra, 0,
			                                __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
				cs_tab[i].allocs = 1;
				return i | GP_CALLSITE_HOT;
			}
			if (expect == ra)
				return i;
		}
	}
	return GP_CALLSITE_NONE;
}

static uint64_t callsite_heat(uint32_t idx)
{
	__atomic_store_n(&cs_tab[idx].hot, 1, __ATOMIC_RELAXED);
	cs_tab[idx].chains++;
	return cs_tab[idx].ra;
}

/* The trace generation and module epoch a remembered origin id is valid in. */
static inline uint64_t origin_stamp(void)
{
	return ((uint64_t)(gp_gen & 0xffff) << 16 | (epoch & 0xffff)) << 32;
}

GP_HOT uint32_t gp_callsite_origin(uint32_t idx)
{
	uint64_t ra = callsite_heat(idx), stamp = origin_stamp();
	uint64_t o = __atomic_load_n(&cs_tab[idx].origin, __ATOMIC_RELAXED);
	if (o && (o & ~0xffffffffull) == stamp && !gp_modules_dirty)
		return (uint32_t)o; /* interned and written in this trace, as gp_stack_intern's
		                     * own cache would find it */
	uint32_t id = gp_stack_intern(&ra, 1);
	if (id)
		__atomic_store_n(&cs_tab[idx].origin, origin_stamp() | id, __ATOMIC_RELAXED);
	return id;
}

void gp_callsite_chain(uint64_t ra)
{
	if (!cs_tab)
		return;
	uint32_t i = (uint32_t)mix(ra) & (CS_CAP - 1);
	for (unsigned probe = 0; probe < 128; probe++, i = (i + 1) & (CS_CAP - 1)) {
		uint64_t cur = __atomic_load_n(&cs_tab[i].ra, __ATOMIC_ACQUIRE);
		if (cur == ra) {
			cs_tab[i].chains++;
			__atomic_store_n(&cs_tab[i].hot, 1, __ATOMIC_RELAXED);
			return;
		}
		if (cur == 0)
			return;
	}
}

uint64_t gp_stack_first(uint32_t id)
{
	return id && id <= nids && by_id[id]->n ? by_id[id]->ips[0] : 0;
}
