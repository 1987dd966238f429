/* collector.c - blocks, chains and steps become trace records (see collector.h). */
#define _GNU_SOURCE
#include "collector.h"

#include "counts.h"
#include "gp_codec.h"
#include "gp_format.h"
#include "gp_record.h"
#include "options.h"
#include "shadow.h"
#include "stacks.h"
#include "tbuf.h"
#include "tls.h"
#include "trace.h"

#include <errno.h>
#include <string.h>

#define ORIGIN_CALLSITE 0x80000000u

/* The origin stack of an allocation at a hot call site. Out of line: its 4 KiB frame (the
 * unwound stack) stays off the common path. */
static __attribute__((noinline)) uint32_t origin_capture(uint64_t ra, uint64_t cfa)
{
	unsigned depth = gp_depth < GP_ORIGIN_DEPTH ? gp_depth : GP_ORIGIN_DEPTH;
	uint32_t id = gp_stack_hit(ra, cfa, depth);
	if (id)
		return id;
	struct gp_stack_ref sr;
	gp_stack_get(ra, cfa, depth, &sr);
	return gp_stack_ref_id(&sr);
}

/* The stack of a step (gp_depth frames): the thread's cache, else the unwinder. Out of line
 * for the latter: its 4 KiB frame stays off the common path. */
static GP_COLD uint32_t step_stack_slow(uint64_t ra, uint64_t cfa)
{
	struct gp_stack_ref sr;
	gp_stack_get(ra, cfa, gp_depth, &sr);
	return gp_stack_ref_id(&sr);
}

static inline uint32_t step_stack(uint64_t ra, uint64_t cfa)
{
	uint32_t id = gp_stack_hit(ra, cfa, gp_depth);
	return id ? id : step_stack_slow(ra, cfa);
}

/* gp_on_alloc's other cases (collector.h has the common one): a call site to look up, an
 * origin stack to capture, a part of the shadow to reserve, details that do not fit the
 * entry, or a thread yet to be counted. */
void gp_on_alloc_slow(void *p, size_t size, uint64_t ra, uint64_t cfa)
{
	gp_count_alloc();
	gp_reloc_settle();
	uint32_t csh = gp_callsite(ra);
	uint32_t cs = csh & ~GP_CALLSITE_HOT;
	int hot = !!(csh & GP_CALLSITE_HOT);
	uint32_t *sh = gp_shadow_slot_t(&gp_tls, (uint64_t)p);
	uint64_t slack = gp_usable(p) - size;
	uint32_t id = hot ? origin_capture(ra, cfa) : 0;
	if (sh && slack <= GP_SH_SLACK_MAX && id <= GP_SH_STACK_MAX) {
		/* The common case: four bytes in the shadow, no lock, no hashing. */
		uint32_t payload = id ? GP_SH_STACK | id : cs == GP_CALLSITE_NONE ? 0 : cs + 1;
		*sh = GP_SH_KNOWN | (uint32_t)slack << GP_SH_SLACK_SHIFT | payload;
		return;
	}
	struct gp_block b = { .ptr = (uint64_t)p, .size = size,
	                      .ref = id ? id : ORIGIN_CALLSITE | cs, .kind = GP_BLOCK_ORIGIN };
	if (!sh || gp_blocks_put(&b)) {
		gp_fail("out of memory for the block table", ENOMEM);
		return;
	}
	gp_shadow_put(sh, (uint64_t)p, GP_SH_SIDE, 0);
}

/* What block_read() says of block p whose entry e is KNOWN and not SIDE, from e and the
 * block's size (the block itself may be gone by now). */
static void block_of_entry(uint64_t p, uint32_t e, uint64_t size, struct gp_block *b)
{
	*b = (struct gp_block){ .ptr = p, .size = size };
	if (e & GP_SH_CHAIN) {
		uint32_t slot = e & GP_SH_SLOT_MASK;
		b->ref = slot + 1;
		b->kind = e & GP_SH_RELOC ? GP_BLOCK_RCHAIN : GP_BLOCK_CHAIN;
		b->origin = gp_tb_slots[slot].origin;
		b->gen = gp_tb_slots[slot].gen;
	} else {
		uint32_t payload = e & GP_SH_PAYLOAD;
		if (payload & GP_SH_STACK)
			b->ref = payload & GP_SH_STACK_MAX;
		else
			b->ref = ORIGIN_CALLSITE | (payload ? payload - 1 : GP_CALLSITE_NONE);
		b->kind = GP_BLOCK_ORIGIN;
	}
}

/*
 * What we know of block `p` whose shadow entry is `e`: from the entry itself, or from the
 * block table (taken out of it if `take`). @return 1 if the block is known.
 */
static int block_read(uint64_t p, uint32_t e, int take, struct gp_block *b)
{
	if (e & GP_SH_SIDE) {
		*b = (struct gp_block){ .ptr = p };
		return take ? gp_blocks_take(p, b) : gp_blocks_get(p, b);
	}
	if (!(e & GP_SH_KNOWN)) {
		*b = (struct gp_block){ .ptr = p };
		return 0;
	}
	block_of_entry(p, e, gp_usable((const void *)p) - (e >> GP_SH_SLACK_SHIFT & GP_SH_SLACK_MAX), b);
	return 1;
}

/* Is chain `b` (a chain block) one of this trace's? */
static inline int chain_ours(const struct gp_block *b)
{
	return (uint16_t)b->gen == (uint16_t)gp_gen;
}

/* Write the CHAIN_END of chain block `b` (if it is this trace's) and free its id. */
static void end_chain_in(struct gp_tbuf *tb, const struct gp_block *b)
{
	if (chain_ours(b)) { /* else it began in the parent's trace (before fork) */
		uint8_t *p = tb_room(tb, GP_CHAIN_END_REC_MAX);
		tb->len += gp_enc_chain_end(p, &tb->codec, b->ref);
		note_chain(tb, b->ref);
		tb->nrec++;
	}
	chain_id_release(tb, b->ref);
}

static void end_chain(const struct gp_block *b)
{
	struct gp_tbuf *tb = tb_get();
	claim(tb, b->ref);
	if (!tb_enter(tb))
		return;
	end_chain_in(tb, b);
	tb_leave(tb);
}

/* The origin stack id of a block about to start a chain (no lock held). */
static uint32_t origin_of(const struct gp_block *b)
{
	uint32_t origin;
	if (b->kind != GP_BLOCK_ORIGIN) { /* a chain of the other kind, or of before fork */
		if (!b->origin || chain_ours(b))
			return b->origin; /* written in this trace when its chain began */
		gp_trace_lock();
		origin = gp_stack_intern_id_locked(b->origin);
		gp_trace_unlock();
		return origin;
	}
	if (b->ref & ORIGIN_CALLSITE) {
		uint32_t cs = b->ref & ~ORIGIN_CALLSITE;
		if (cs == GP_CALLSITE_NONE)
			return 0;
		return gp_callsite_origin(cs);
	}
	gp_trace_lock();
	origin = gp_stack_intern_id_locked(b->ref);
	gp_callsite_chain(gp_stack_first(origin));
	gp_trace_unlock();
	return origin;
}

/* Write a CHAIN record for a new chain of a block of `size` bytes (lock held). @return its
 * id. */
static GP_HOT uint32_t begin_chain_in(struct gp_tbuf *tb, uint64_t size, unsigned kind,
                                      uint32_t origin)
{
	uint32_t chain = chain_id_new(tb, origin);
	struct gp_chain_rec x = {
		.chain = chain, .origin = origin, .size = size, .time = tb->now, .kind = kind,
	};
	uint8_t *p = tb_room(tb, GP_CHAIN_REC_MAX);
	tb->len += gp_enc_chain(p, &tb->codec, &x);
	note_chain(tb, chain);
	tb->nrec++;
	return chain;
}

static ALWAYS_INLINE void put_step_in(struct gp_tbuf *tb, uint32_t chain, uint32_t sid, uint64_t old,
                        uint64_t n, unsigned flags, const uint64_t *copied)
{
	struct gp_step_rec x = {
		.chain = chain, .stack = sid, .delta = (int64_t)(n - old), .flags = flags,
		.time = tb->now, .with_copied = copied != NULL, .copied = copied ? *copied : 0,
	};
	uint8_t *p = tb_room(tb, GP_STEP_REC_MAX);
	tb->len += gp_enc_step(p, &tb->codec, &x);
	note_chain(tb, chain);
	tb->nrec++;
	tb->nstep++;
}

/*
 * A step of block `b` (now `n` bytes) by the call whose stack is `sid`: of its chain of `kind`
 * if it has one of this trace, else of a new one (ending a chain of the other kind).
 * @return the chain id and its origin in *origin, or 0 if tracing stopped.
 */
static GP_COLD uint32_t record_step(const struct gp_block *b, unsigned kind, uint32_t sid,
                            uint64_t n, unsigned flags, const uint64_t *copied,
                            uint32_t *origin)
{
	uint32_t bkind = kind == GP_CHAIN_REALLOC ? GP_BLOCK_CHAIN : GP_BLOCK_RCHAIN;
	int cont = b->kind == bkind && chain_ours(b);
	*origin = cont ? b->origin : origin_of(b);
	struct gp_tbuf *tb = tb_get();
	if (b->kind != GP_BLOCK_ORIGIN)
		claim(tb, b->ref);
	if (!tb_enter(tb))
		return 0;
	uint32_t chain;
	if (cont) {
		chain = b->ref;
	} else {
		if (b->kind != GP_BLOCK_ORIGIN) /* a chain of the other kind, or a parent's */
			end_chain_in(tb, b);
		chain = begin_chain_in(tb, b->size, kind, *origin);
	}
	put_step_in(tb, chain, sid, b->size, n, flags, copied);
	tb_leave(tb);
	if (!cont && kind == GP_CHAIN_REALLOC)
		COUNT(chains);
	return chain;
}

/*
 * Make `q` (size n) a block of chain `chain` of `kind`, begun at stack `origin`: in its
 * shadow entry when slack and id fit, else in the block table. `side` tells whether q has
 * a block table entry now (to drop it or replace it).
 */
static GP_COLD void chain_block(uint64_t q, uint64_t n, uint32_t chain, uint32_t kind,
                                uint32_t origin,
                        int side)
{
	uint32_t *sh = gp_shadow_slot_t(&gp_tls, q);
	uint64_t slack = gp_usable((const void *)q) - n;
	if (sh && slack <= GP_SH_SLACK_MAX && chain <= SLOT_IDS) {
		if (side) {
			struct gp_block stale;
			gp_blocks_take(q, &stale);
		}
		gp_shadow_put(sh, q,
		              GP_SH_KNOWN | GP_SH_CHAIN | (uint32_t)slack << GP_SH_SLACK_SHIFT |
		                      (kind == GP_BLOCK_RCHAIN ? GP_SH_RELOC : 0) | (chain - 1),
		              0);
		return;
	}
	struct gp_block nb = { .ptr = q, .size = n, .ref = chain, .kind = kind, .origin = origin,
	                       .gen = gp_gen };
	if (!sh || gp_blocks_put(&nb)) {
		gp_fail("out of memory for the block table", ENOMEM);
		return;
	}
	gp_shadow_put(sh, q, GP_SH_SIDE, 0);
}

/*
 * Relocations, seen at the copy. A copy into the thread's watched block q (the one it
 * allocated last) at offset off <= GP_RELOC_HDR, from the same offset of a live block old
 * that is smaller than q and holds at least GP_RELOC_MIN bytes, is a candidate: the data
 * moves house, whether old is freed now (malloc + memcpy + free), later (a garbage
 * collector, a reference count) or never. The stack is taken then, at the copy: the code
 * that grows the buffer, never the free path. Copies with the same translation add to it
 * (element-wise moves: a std::vector<std::string> moves each short string's characters,
 * a few bytes out of every 32); once they reach across a quarter of what old holds past
 * off (jq copies a string's length into twice as much room: half of its old block, less
 * its header), 64 bytes at least, the thread's next allocator call records it. A
 * candidate that never gets there is dropped. A copy to another offset
 * than it came from (a payload framed behind a header) is not one, nor a copy into a
 * block of no more bytes than its source (a duplicate), nor a few bytes taken from a
 * larger block, nor the first piece of a join (the new block is more than GP_RELOC_RATIO
 * times larger: growth multiplies a size by 2 or 4, and a join of a hundred lines by a
 * hundred). Once moved, old is no source again (reloc_forget): copied again, it is a
 * template, not a buffer that grows.
 */
/* Do copies that reach across `span` bytes of an old block move what it holds past their
 * offset, `held` bytes? A quarter of it, and at least GP_RELOC_MIN bytes: an interpreter
 * building a string from pieces (a path, an f-string) copies a few bytes out of an object
 * it keeps, a hundred times at start-up. */
static inline int reloc_reach(uint64_t span, uint64_t held)
{
	return span * 4 >= held && span >= GP_RELOC_MIN;
}

/* A plain block of no known call site: one whose data moved (reloc_forget), or one the
 * call-site table had no room for. */
#define REF_MOVED (ORIGIN_CALLSITE | GP_CALLSITE_NONE)

/* old's data moved into a new block: old stays a plain block, its size exact (for a realloc
 * of it later), of no known origin, which also says that it is not a relocation's source
 * again. Its entry at sh was e, known as *b. */
static void reloc_forget(uint64_t old, uint32_t *sh, uint32_t e, const struct gp_block *b)
{
	if (e & GP_SH_SIDE) {
		struct gp_block gone, plain = { .ptr = old, .size = b->size, .ref = REF_MOVED,
		                                .kind = GP_BLOCK_ORIGIN };
		if (gp_blocks_take(old, &gone) && gp_blocks_put(&plain))
			gp_fail("out of memory for the block table", ENOMEM);
		return;
	}
	gp_shadow_put(sh, old, GP_SH_KNOWN | (e & GP_SH_SLACK_MAX << GP_SH_SLACK_SHIFT),
	              gp_marked(sh, old));
}

/* A relocation chain's block old (entry at sh, known as *b) moves into the watched block
 * now, at the copy, rather than when the step is settled: a garbage collector on another
 * thread may free old before that, and would end the chain. The copy alone already makes
 * it a relocation (its span only grows). */
static void reloc_move_chain(struct gp_tls *t, uint32_t *sh, const struct gp_block *b)
{
	uint32_t *qsh = gp_shadow_find(t->rq), qe = qsh ? *qsh : 0;
	if (!(qe & GP_SH_SIDE) && (qe & (GP_SH_KNOWN | GP_SH_CHAIN)) != GP_SH_KNOWN)
		return;
	reloc_forget(t->cold, sh, t->ce, b);
	chain_block(t->rq, t->rqsize, b->ref, GP_BLOCK_RCHAIN, b->origin, !!(qe & GP_SH_SIDE));
	t->cmoved = 1;
}

/* The candidate's copies reach across enough of old (reloc_reach) with this one, whose
 * caller returns to ra with its stack pointer at cfa: its stack is the step's (taken only
 * now: most candidates of an interpreter never get there), and a relocation chain moves. */
static GP_COLD void reloc_reached(struct gp_tls *t, uint32_t *sh, uint64_t ra, uint64_t cfa)
{
	int *ep = &errno, err = *ep;
	t->busy = 1;
	t->csid = step_stack(ra, cfa);
	t->sh_li = 0; /* the next allocator call takes its slow path, which settles it */
	if (t->cb.kind == GP_BLOCK_RCHAIN && chain_ours(&t->cb) && sh)
		reloc_move_chain(t, sh, &t->cb);
	t->busy = 0;
	*ep = err;
}

static GP_COLD void reloc_candidate(struct gp_tls *t, uint64_t dst, uint64_t src, uint64_t n,
                                    uint64_t ra, uint64_t cfa)
{
	uint64_t off = dst - t->rq, old = src - off;
	if ((old & 15) || old == t->rq || src < off)
		return;
	uint32_t *sh = gp_shadow_find_t(t, old), e = sh ? *sh : 0;
	if (!(e & (GP_SH_KNOWN | GP_SH_SIDE)))
		return;
	struct gp_block b;
	if (!block_read(old, e, 0, &b) || b.ref == REF_MOVED || b.size < GP_RELOC_MIN ||
	    b.size >= t->rqsize || t->rqsize / GP_RELOC_RATIO > b.size || src + n > old + b.size)
		return;
	t->cold = old;
	t->cb = b;
	t->coldsize = b.size;
	t->ce = e;
	t->cq = t->rq;
	t->cqsize = t->rqsize;
	t->coff = off;
	t->cdelta = dst - src;
	t->cbytes = n;
	t->clo = src;
	t->chi = src + n;
	t->csid = 0;
	t->cmoved = 0;
	if (reloc_reach(n, b.size - off))
		reloc_reached(t, sh, ra, cfa);
}

GP_HOT void gp_reloc_copy(uint64_t dst, uint64_t src, uint64_t n, uint64_t ra, uint64_t cfa)
{
	struct gp_tls *t = &gp_tls;
	if (!n || t->busy)
		return;
	if (t->cold) {
		if (t->cq == t->rq) { /* more of the candidate's copies? */
			if (dst - src == t->cdelta && src >= t->cold &&
			    src + n <= t->cold + t->coldsize) {
				t->cbytes += n;
				t->clo = src < t->clo ? src : t->clo;
				t->chi = src + n > t->chi ? src + n : t->chi;
				if (!t->csid && reloc_reach(t->chi - t->clo, t->coldsize - t->coff))
					reloc_reached(t, gp_shadow_find(t->cold), ra, cfa);
			}
			return;
		}
		if (!t->csid) /* an earlier block's, that never reached far enough: gone */
			t->cold = 0;
	}
	if (dst - t->rq > GP_RELOC_HDR)
		return;
	if (t->rnq != t->rq) { /* the first copy into this block */
		t->rnq = t->rq;
		t->rnotes = 0;
	}
	if (++t->rnotes >= GP_RELOC_NOTES)
		t->rwin = 0; /* an assembly of pieces: enough */
	if (t->cold || gp_state != GP_STATE_ON) /* one of an earlier block, not settled yet */
		return;
	reloc_candidate(t, dst, src, n, ra, cfa);
}

GP_COLD void gp_reloc_settle_slow(void)
{
	struct gp_tls *t = &gp_tls;
	uint64_t old = t->cold, q = t->cq, copied = t->cbytes;
	t->cold = 0;
	uint32_t origin;
	if (!t->csid) /* its copies never reached across enough of old */
		return;
	if (t->cmoved) { /* the chain is in q already: only its step to write */
		if (gp_state == GP_STATE_ON)
			record_step(&t->cb, GP_CHAIN_RELOCATION, t->csid, t->cqsize, GP_STEP_MOVED,
			            &copied, &origin);
		return;
	}
	if (gp_state != GP_STATE_ON || !reloc_reach(t->chi - t->clo, t->coldsize - t->coff))
		return;
	/* q as it was at the copy: another thread may have freed it since. */
	uint32_t qe = gp_shadow_get(q);
	if (!((qe & GP_SH_SIDE) || (qe & (GP_SH_KNOWN | GP_SH_CHAIN)) == GP_SH_KNOWN))
		return;
	/* old is forgotten, if it is still there; if another thread freed it since (and its
	 * address may hold another block now), the copy moved it all the same, unless it was
	 * a chain's: that thread ended the chain. */
	struct gp_block b = t->cb;
	uint32_t *sh = gp_shadow_find(old);
	if (sh && *sh == t->ce) /* (its header is not read again: b has its size) */
		reloc_forget(old, sh, t->ce, &b);
	else if (b.kind != GP_BLOCK_ORIGIN)
		return;
	uint32_t chain = record_step(&b, GP_CHAIN_RELOCATION, t->csid, t->cqsize, GP_STEP_MOVED,
	                             &copied, &origin);
	if (chain) /* the new block carries the chain on */
		chain_block(q, t->cqsize, chain, GP_BLOCK_RCHAIN, origin, !!(qe & GP_SH_SIDE));
}

GP_HOT int gp_free_chain_fast(void *p)
{
	struct gp_tls *t = &gp_tls;
	uint64_t old = (uint64_t)p;
	struct gp_tbuf *tb = t->tb;
	if (!tb || gp_tb_off || t->cold || t->reg <= 0)
		return 0;
	uint32_t *leaf = gp_leaf(t, old);
	if (!leaf)
		return 0;
	uint32_t *sh = gp_leaf_entry(leaf, old), e = *sh;
	if ((e & (GP_SH_KNOWN | GP_SH_CHAIN | GP_SH_SIDE)) != (GP_SH_KNOWN | GP_SH_CHAIN))
		return 0;
	uint32_t slot = e & GP_SH_SLOT_MASK, where = gp_tb_slots[slot].where >> 4;
	if (gp_tb_slots[slot].gen != (uint16_t)gp_gen ||
	    (where && where != tb->idx + 1 && where <= gp_ntbufs))
		return 0; /* a parent's chain, or claim() needed */
	if (!tb_enter(tb))
		return 0;
	uint8_t *rec = tb_room(tb, GP_CHAIN_END_REC_MAX);
	tb->len += gp_enc_chain_end(rec, &tb->codec, slot + 1);
	note_chain(tb, slot + 1);
	tb->nrec++;
	chain_id_release(tb, slot + 1);
	tb_leave(tb);
	if (old == t->rq)
		gp_watch_reset(t);
	gp_shadow_put(sh, old, 0, 1); /* before the real free: see record_free() */
	gp_tls_bump(&t->frees);
	return 1;
}

void gp_on_free_slow(void *p, uint64_t ra, uint64_t cfa)
{
	(void)ra;
	(void)cfa;
	gp_count_free();
	uint64_t old = (uint64_t)p;
	struct gp_tls *t = &gp_tls;
	gp_reloc_settle(); /* first: it may move a chain off this very block */
	if (old == t->rq) /* the watched block itself goes away */
		gp_watch_reset(t);
	uint32_t *sh = gp_shadow_find_t(t, old);
	if (!sh) /* never seen */
		return;
	int marked = gp_marked(sh, old);
	if (!marked)
		return; /* the common case, a plain block: nothing to record, and its entry is
		         * left for the next allocation there to overwrite */
	uint32_t e = *sh;
	struct gp_block b;
	int have = block_read(old, e, 1, &b);
	/* the block is gone: a relocation from another thread sees that */
	if (e && !gp_alloc_entry_shared(e, have, b.size))
		gp_shadow_put(sh, old, 0, marked);
	if (have && b.kind != GP_BLOCK_ORIGIN)
		end_chain(&b);
}

/* gp_realloc_begin of block p whose size word (alloc.h) is h. */
static inline __attribute__((always_inline)) void realloc_begin(void *p, struct gp_realloc *r,
                                                                 uint64_t h)
{
	struct gp_tls *t = &gp_tls;
	if ((uint64_t)p == t->rq) { /* the watched block is resized: no longer a fresh block */
		gp_reloc_settle(); /* (first: a relocation may have moved into it) */
		gp_watch_reset(t);
	}
	uint32_t *she = gp_shadow_find_t(t, (uint64_t)p), e = she ? *she : 0;
	r->e = e;
	/* glibc's IS_MMAPPED bit (never another allocator's). Read it now: after a move the old
	 * block is gone. */
	r->mmapped = (int)(h & GP_CHUNK_MMAPPED);
	if ((e & (GP_SH_KNOWN | GP_SH_SIDE)) == GP_SH_KNOWN) { /* the common case */
		r->lazy = 1;
		r->known = 1;
		r->side = 0;
		r->b.size = gp_chunk_usable(h) - (e >> GP_SH_SLACK_SHIFT & GP_SH_SLACK_MAX);
		return;
	}
	r->lazy = 0;
	/* A table entry is left in place: an in-place step replaces it with one operation. */
	r->known = block_read((uint64_t)p, e, 0, &r->b);
	r->side = !!(e & GP_SH_SIDE) && r->known;
	if (!r->known) {
		/* Not seen allocated (before we were loaded?): the best size we have. */
		r->b.size = gp_usable(p);
		r->b.ref = ORIGIN_CALLSITE | GP_CALLSITE_NONE;
		r->b.kind = GP_BLOCK_ORIGIN;
	}
}

static __attribute__((noinline)) void realloc_begin_foreign(void *p, struct gp_realloc *r)
{
	realloc_begin(p, r, gp_alloc_word_foreign(p));
}

/* Another allocator's size word is a call away: asked out of line (a tail call), so that
 * glibc's path stays as it was. */
GP_HOT void gp_realloc_begin(void *p, struct gp_realloc *r)
{
	if (__builtin_expect(!gp_alloc_glibc, 0)) {
		realloc_begin_foreign(p, r);
		return;
	}
	realloc_begin(p, r, gp_glibc_word(p));
}

/*
 * The common step, in one go: p's entry says everything (a chain of this trace whose last
 * records are in this thread's buffer or in the trace, or a plain block whose call site is
 * known), and q's entry can say it all too. @return 1 if done, 0 if nothing was written
 * and the general path must do it.
 */
static int step_fast(uint64_t p, uint64_t q, uint64_t n, const struct gp_realloc *r,
                     uint32_t sid)
{
	struct gp_tls *t = &gp_tls;
	struct gp_tbuf *tb = t->tb;
	uint32_t e = r->e, chain, origin;
	if (__builtin_expect(!tb || gp_tb_off, 0))
		return 0;
	uint32_t *qsh = gp_shadow_slot_t(t, q);
	uint64_t qslack = gp_usable((const void *)q) - n;
	if (__builtin_expect(!qsh || qslack > GP_SH_SLACK_MAX, 0))
		return 0;
	if (e & GP_SH_CHAIN) {
		uint32_t slot = e & GP_SH_SLOT_MASK, where = gp_tb_slots[slot].where >> 4;
		if (__builtin_expect((e & GP_SH_RELOC) || gp_tb_slots[slot].gen != (uint16_t)gp_gen, 0))
			return 0;
		if (__builtin_expect(where && where != tb->idx + 1 && where <= gp_ntbufs, 0))
			return 0; /* another thread's buffer may hold its last records: claim() */
		chain = slot + 1;
		origin = gp_tb_slots[slot].origin;
	} else {
		uint32_t pl = e & GP_SH_PAYLOAD;
		if (__builtin_expect(!pl || (pl & GP_SH_STACK), 0))
			return 0;
		chain = 0;
		origin = gp_callsite_origin(pl - 1);
	}
	if (!tb_enter(tb))
		return 0;
	int begun = !chain;
	if (begun)
		chain = begin_chain_in(tb, r->b.size, GP_CHAIN_REALLOC, origin);
	unsigned flags = q == p ? 0 : GP_STEP_MOVED | (r->mmapped ? GP_STEP_REMAP : 0);
	put_step_in(tb, chain, sid, r->b.size, n, flags, NULL);
	tb_leave(tb);
	if (begun)
		COUNT(chains);
	if (q != p) {
		/* glibc freed p: forget it, unless it was handed out again meanwhile (see
		 * gp_realloc_end) */
		uint32_t *sh = gp_shadow_find_t(t, p), old = e;
		if (sh)
			__atomic_compare_exchange_n(sh, &old, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
	if (__builtin_expect(chain <= SLOT_IDS, 1))
		gp_shadow_put(qsh, q, GP_SH_KNOWN | GP_SH_CHAIN | (uint32_t)qslack << GP_SH_SLACK_SHIFT |
		                              (chain - 1), 0);
	else /* out of slots: the block table */
		chain_block(q, n, chain, GP_BLOCK_CHAIN, origin, 0);
	return 1;
}

GP_HOT void gp_realloc_end(void *p, void *q, size_t n, struct gp_realloc *r, uint64_t ra,
                    uint64_t cfa)
{
	if (!q) { /* failed: the block and its chain go on unchanged */
		COUNT(failed); /* its entries were left as they were */
		return;
	}
	COUNT(steps);
	uint32_t sid = step_stack(ra, cfa);
	if (r->lazy) {
		if (step_fast((uint64_t)p, (uint64_t)q, n, r, sid))
			return;
		block_of_entry((uint64_t)p, r->e, r->b.size, &r->b);
	}
	unsigned flags = 0;
	if (q != p)
		flags = GP_STEP_MOVED | (r->mmapped ? GP_STEP_REMAP : 0);
	uint32_t origin;
	uint32_t chain = record_step(&r->b, GP_CHAIN_REALLOC, sid, n, flags, NULL, &origin);
	int side = r->side;
	if (q != p) {
		/* glibc freed p: forget it, unless it was handed out again meanwhile (then its
		 * entries are the new block's). A stale chain entry left at p could later be
		 * read for a block allocated there behind our back and end a live chain. */
		uint32_t *sh = gp_shadow_find_t(&gp_tls, (uint64_t)p), e = r->e;
		if (sh && e && !gp_alloc_entry_shared(e, r->known, r->b.size)) /* its mark stays: a
			 * spare mark only costs that free a look */
			__atomic_compare_exchange_n(sh, &e, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
		if (side)
			gp_blocks_drop(&r->b);
		side = 0;
	}
	if (!chain) { /* tracing stopped: q is just a block we know nothing of */
		uint32_t *sh = gp_shadow_find((uint64_t)q);
		if (side)
			gp_blocks_drop(&r->b);
		if (sh)
			gp_shadow_put(sh, (uint64_t)q, 0, 1);
		return;
	}
	chain_block((uint64_t)q, n, chain, GP_BLOCK_CHAIN, origin, side);
}

