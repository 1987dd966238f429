/*
 * tbuf.h - per-thread buffers of chain records (CHAIN, STEP, CHAIN_END) and the chain ids
 * they hand out, below the collector and above the trace (trace.h), which they move their
 * records to. The fast parts are inline here: every step writes through them.
 */
#ifndef GP_TBUF_H
#define GP_TBUF_H

#include <stddef.h>
#include <stdint.h>

#include "gp_codec.h"
#include "shadow.h"
#include "tls.h"
#include "trace.h"

/* Declared hidden as they are defined (-fvisibility=hidden): reached directly, not
 * through the GOT. */
#pragma GCC visibility push(hidden)

/*
 * Chain ids are recycled slots: a chain's id is free again once its CHAIN_END is written, so
 * the ids of live chains stay small enough to sit in a block's shadow entry next to its
 * slack (no table lookup for a step). Ids past the slots (more than 8M live chains) are
 * never reused and kept in the block table. A chain belongs to this trace if it began in
 * this trace generation (a fork child inherits its parent's blocks, not its chains).
 */
#define SLOT_IDS GP_SH_SLOT_MASK
struct slot_info { /* 8 bytes: a million live chains take 8 MiB */
	uint32_t origin;
	uint16_t gen;   /* low bits of the trace generation */
	uint16_t where; /* (buffer its last record went to: index + 1, 0 for none) << 4 | the low
	                 * 4 bits of that buffer's seq then (a match may be stale: harmless) */
};
#define WHERE(tb) ((uint16_t)(((tb)->idx + 1) << 4 | ((tb)->seq & 15)))
extern struct slot_info *gp_tb_slots;

/*
 * CHAIN, STEP and CHAIN_END records are written to a buffer of the thread's own, under a lock
 * only it takes in the common case, and move to the trace in segments (a SEGMENT record
 * naming the thread, then its records) when the buffer fills, when its oldest record is
 * FLUSH_EVERY old, and when the trace is flushed or finished. Other records (STACK, MODULE,
 * COUNTS...) go to the trace at once, so whatever a chain record refers to precedes it.
 *
 * The records of one chain must stay in order, and a chain id must not begin again before
 * its CHAIN_END. So each chain slot remembers the buffer its last record went to and that
 * buffer's seq then: a thread about to write of a chain whose last record may still sit in
 * another thread's buffer moves that buffer to the trace first (claim), and a freed id is
 * reused by the thread that freed it, or by anyone once its buffer has moved.
 *
 * Lock order: a buffer's lock, then the trace lock (others' buffers only by trylock then);
 * never two buffer locks at once. Threads without a buffer of their own (exiting, too many)
 * share gp_tbufs[0], which moves to the trace whenever another thread starts writing to it.
 */
#define TB_CAP (16u << 10)
#define TB_IDS 256
#define MAX_TB 4095 /* index + 1 fits 12 bits (struct slot_info) */

struct gp_tbuf {
	volatile int mu;
	uint32_t idx;          /* gp_tbufs[idx] */
	uint32_t seq;          /* bumped every time its records move to the trace */
	uint32_t tnum;         /* the thread of the current segment */
	int used;              /* a thread owns it (gp_tbufs[0]: always) */
	struct gp_codec codec; /* of the segment: chain ids and times are deltas */
	uint64_t now, first_time;
	size_t len;
	uint32_t nrec, nstep;  /* records of the segment, and of them STEPs */
	uint32_t nids;         /* free chain ids this buffer's threads may reuse */
	uint32_t ids[TB_IDS];
	uint8_t data[TB_CAP];
};
extern struct gp_tbuf *gp_tbufs[MAX_TB];
extern uint32_t gp_ntbufs;  /* trace lock */
extern int gp_tb_off;       /* chain slots ran out: everyone writes to gp_tbufs[0] */
extern int gp_tb_finishing;    /* gp_finish is moving the buffers out: write no more */

/* ns: a thread's buffer older than this moves to the trace on its next record, in case the
 * flusher keeps finding it busy. */
#define TB_MAX_AGE ((uint64_t)GP_FLUSH_TICK / 2)

/* The slow halves of the inline functions below (tbuf.c). */
struct gp_tbuf *gp_tb_get_slow(void);
void gp_tb_enter_shared(struct gp_tbuf *tb);
uint8_t *gp_tb_room_slow(struct gp_tbuf *tb, size_t max);
void gp_tb_claim_slow(uint32_t where);
/* Move the buffer's records to the trace (its lock held); flush the trace when due. */
void gp_tb_move(struct gp_tbuf *tb);
/* Free chain ids for everyone (ids_mu taken). */
void gp_tb_ids_give(const uint32_t *ids, uint32_t n);
/* A free chain id of no buffer's, or a new one; 0 if the slots ran out. */
uint32_t gp_tb_id_take(void);
/* The slots ran out: an id that is never reused. */
uint32_t gp_tb_id_overflow(void);

/* The calling thread's buffer (not locked), or the shared one. */
static ALWAYS_INLINE struct gp_tbuf *tb_get(void)
{
	struct gp_tls *t = &gp_tls;
	if (__builtin_expect(t->tb != NULL, 1) && !gp_tb_off)
		return t->tb;
	return gp_tb_get_slow();
}

/* Lock the buffer to write records. @return 0 (unlocked) if tracing is off or finishing. */
static ALWAYS_INLINE int tb_enter(struct gp_tbuf *tb)
{
	if (!tb)
		return 0;
	spin_lock(&tb->mu);
	if (__builtin_expect(gp_state != GP_STATE_ON || gp_tb_finishing, 0)) {
		spin_unlock(&tb->mu);
		return 0;
	}
	tb->now = gp_now();
	if (__builtin_expect(tb->idx == 0, 0))
		gp_tb_enter_shared(tb);
	return 1;
}

static ALWAYS_INLINE void tb_leave(struct gp_tbuf *tb)
{
	if (__builtin_expect(tb->now - tb->first_time > TB_MAX_AGE || (gp_tb_off && tb->idx), 0) &&
	    tb->len)
		gp_tb_move(tb);
	spin_unlock(&tb->mu);
}

/* Room for a record of at most `max` bytes (lock held); a segment begins if it is empty. */
static ALWAYS_INLINE uint8_t *tb_room(struct gp_tbuf *tb, size_t max)
{
	if (__builtin_expect(tb->len && tb->len + max <= TB_CAP, 1))
		return tb->data + tb->len;
	return gp_tb_room_slow(tb, max);
}

/* A record of `chain` is written to `tb`: notes where the chain's records are. */
static inline void note_chain(struct gp_tbuf *tb, uint32_t chain)
{
	if (chain <= SLOT_IDS) {
		/* written once per segment, not per record: slots of two threads' chains share
		 * cache lines */
		uint16_t w = WHERE(tb);
		if (gp_tb_slots[chain - 1].where != w)
			gp_tb_slots[chain - 1].where = w;
	}
}

/*
 * The chain's last record may still be in another buffer: move that one to the trace first.
 * Called holding no buffer lock. A chain is used by one thread at a time (the program hands
 * a block over), so nobody adds to its records meanwhile.
 */
static ALWAYS_INLINE void claim(const struct gp_tbuf *mine, uint32_t chain)
{
	if (chain == 0 || chain > SLOT_IDS || !mine)
		return;
	uint32_t where = gp_tb_slots[chain - 1].where, t = where >> 4;
	if (__builtin_expect(!t || t == mine->idx + 1 || t > gp_ntbufs, 1))
		return;
	gp_tb_claim_slow(where);
}

/* A new chain id for a chain begun at `origin` (buffer lock held). */
static inline uint32_t chain_id_new(struct gp_tbuf *tb, uint32_t origin)
{
	uint32_t id = tb->nids ? tb->ids[--tb->nids] : gp_tb_id_take();
	if (id) {
		gp_tb_slots[id - 1] = (struct slot_info){ .origin = origin, .gen = gp_gen };
		return id;
	}
	return gp_tb_id_overflow();
}

/* The chain's CHAIN_END (if any) is in the buffer: its id may serve again (lock held). */
static inline void chain_id_release(struct gp_tbuf *tb, uint32_t id)
{
	if (id > SLOT_IDS)
		return;
	if (tb->nids == TB_IDS) {
		/* Ids go to everyone only once their CHAIN_END records are in the trace. */
		gp_tb_move(tb);
		gp_tb_ids_give(tb->ids + TB_IDS / 2, TB_IDS / 2);
		tb->nids = TB_IDS / 2;
	}
	tb->ids[tb->nids++] = id;
}

/* ---- for lifecycle.c and the flusher ---- */
/* The shared buffer, gp_tbufs[0]. @return 0 if out of memory. */
int gp_tbuf_init(void);
/* Move every buffer's records to the trace file (the flusher's tick, flusher.h). */
void gp_trace_drain(void);
/* The thread exits: its records go to the trace, its buffer to the next thread. */
void gp_tbuf_thread_exit(void);
/* gp_finish: every buffer's records to the trace (gp_tb_finishing set: nobody adds more). */
void gp_tbuf_move_all(void);
/* fork: the free ids' lock around it (after the block shards'); in the child every buffer
 * begins afresh, the other threads' ones free. */
void gp_tbuf_ids_lock(void);
void gp_tbuf_ids_unlock(void);
void gp_tbuf_fork_child(void);

#pragma GCC visibility pop

#endif
