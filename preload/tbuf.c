/* tbuf.c - per-thread buffers of chain records, chain ids (see tbuf.h). */
#define _GNU_SOURCE
#include "tbuf.h"

#include "gp_format.h"
#include "gp_record.h"
#include "gp_segcols.h"
#include "flusher.h"
#include "ialloc.h"

#include <string.h>

struct slot_info *gp_tb_slots;
struct gp_tbuf *gp_tbufs[MAX_TB];
uint32_t gp_ntbufs;
int gp_tb_off;
int gp_tb_finishing;
static uint32_t next_tnum;

/* Free chain ids of no buffer, a list threaded through their own (unused) slots: the next
 * free id is in the slot's origin field. ids_mu is a leaf lock. */
static volatile int ids_mu;
static uint32_t free_head; /* 0: none */
static uint32_t next_id = 1, overflow_id = SLOT_IDS + 1;

static inline uint32_t tnum(void)
{
	if (!gp_tls.tnum)
		gp_tls.tnum = __atomic_add_fetch(&next_tnum, 1, __ATOMIC_RELAXED);
	return gp_tls.tnum;
}

void gp_tb_ids_give(const uint32_t *ids, uint32_t n)
{
	spin_lock(&ids_mu);
	for (uint32_t i = 0; i < n; i++) {
		gp_tb_slots[ids[i] - 1] = (struct slot_info){ .origin = free_head };
		free_head = ids[i];
	}
	spin_unlock(&ids_mu);
}

/* The scratch of gp_segcols_encode, for a buffer's segment (trace lock held): its pages
 * are only touched as far as the columns reach. */
static uint8_t *scratch;
static int segcols_scratch(void)
{
	if (!scratch)
		scratch = gp_imap(GP_SEGCOLS_SCRATCH(TB_CAP));
	return scratch != NULL;
}

/*
 * Move the buffer's records to the trace (its lock and the trace lock held). A segment of
 * mostly STEPs (long chains growing in turn: a synthetic's string builders) goes by
 * columns, which zstd compresses about twice as fast as the records one after the other,
 * where every chain id breaks the matches between steps; other segments (short chains
 * begun, stepped and ended over and over: an interpreter's, a database's) stay as they
 * are: their records repeat whole, and compress to half the bytes of their columns.
 */
static void tb_move_locked(struct gp_tbuf *tb)
{
	if (tb->len) {
		int cols = (uint64_t)tb->nstep * 4 >= (uint64_t)tb->nrec * 3 && segcols_scratch();
		uint8_t *p = gp_trace_reserve(tb->len + (cols ? GP_SEGCOLS_SLACK : 0));
		if (p) {
			size_t n = cols ? gp_segcols_encode(tb->data, tb->len, p, scratch) : 0;
			if (!n) {
				memcpy(p, tb->data, tb->len);
				n = tb->len;
			}
			gp_trace_commit(n);
		}
		tb->len = 0;
		tb->nrec = tb->nstep = 0;
	}
	__atomic_store_n(&tb->seq, tb->seq + 1, __ATOMIC_RELEASE);
}

/* Trace lock held: move every other idle buffer holding records, then flush the trace. */
static void flush_all_locked(struct gp_tbuf *self)
{
	for (uint32_t i = 0; i < gp_ntbufs; i++) {
		struct gp_tbuf *t = gp_tbufs[i];
		if (t == self || !__atomic_load_n(&t->len, __ATOMIC_RELAXED) || !spin_trylock(&t->mu))
			continue;
		tb_move_locked(t);
		spin_unlock(&t->mu);
	}
	gp_trace_flush_locked(0);
}

/* Move the buffer's records to the trace (its lock held); flush the trace when due. */
void gp_tb_move(struct gp_tbuf *tb)
{
	gp_trace_lock();
	tb_move_locked(tb);
	if (gp_trace_flush_due())
		flush_all_locked(tb);
	gp_trace_unlock();
}

GP_COLD struct gp_tbuf *gp_tb_get_slow(void)
{
	struct gp_tls *t = &gp_tls;
	if (!t->tb && !t->tb_gone && !gp_tb_off && gp_tbufs[0]) {
		uint32_t me = tnum();
		gp_trace_lock();
		struct gp_tbuf *nb = NULL;
		for (uint32_t i = 1; i < gp_ntbufs && !nb; i++)
			if (!gp_tbufs[i]->used)
				nb = gp_tbufs[i];
		if (!nb && gp_ntbufs < MAX_TB && (nb = gp_ialloc(sizeof *nb))) {
			memset(nb, 0, offsetof(struct gp_tbuf, data));
			gp_codec_init(&nb->codec, GP_FORMAT_VERSION);
			nb->idx = gp_ntbufs;
			gp_tbufs[gp_ntbufs++] = nb;
		}
		if (nb) {
			nb->used = 1;
			nb->tnum = me;
		}
		gp_trace_unlock();
		t->tb = nb;
		if (nb)
			return nb;
	}
	return gp_tbufs[0];
}

/* The shared buffer: one thread per segment. */
GP_COLD void gp_tb_enter_shared(struct gp_tbuf *tb)
{
	uint32_t me = tnum();
	if (tb->tnum != me) {
		if (tb->len)
			gp_tb_move(tb);
		tb->tnum = me;
	}
}

GP_COLD uint8_t *gp_tb_room_slow(struct gp_tbuf *tb, size_t max)
{
	gp_trace_flusher_due(); /* stopped for a fork: the first record after it brings it back */
	if (tb->len + max > TB_CAP)
		gp_tb_move(tb);
	if (!tb->len) {
		tb->len = gp_enc_segment(tb->data, &tb->codec, tb->tnum);
		tb->first_time = tb->now;
	}
	return tb->data + tb->len;
}

/*
 * The chain's last record may still be in another buffer: move that one to the trace first.
 * Called holding no buffer lock. A chain is used by one thread at a time (the program hands
 * a block over), so nobody adds to its records meanwhile.
 */
GP_COLD void gp_tb_claim_slow(uint32_t where)
{
	struct gp_tbuf *o = gp_tbufs[(where >> 4) - 1];
	if ((__atomic_load_n(&o->seq, __ATOMIC_ACQUIRE) & 15) != (where & 15))
		return; /* it moved since */
	spin_lock(&o->mu);
	if ((o->seq & 15) == (where & 15) && o->len)
		gp_tb_move(o);
	spin_unlock(&o->mu);
}

uint32_t gp_tb_id_take(void)
{
	uint32_t id = 0;
	spin_lock(&ids_mu);
	if (free_head) {
		id = free_head;
		free_head = gp_tb_slots[id - 1].origin;
	}
	else if (next_id <= SLOT_IDS &&
	         (gp_tb_slots || (gp_tb_slots = gp_imap((size_t)SLOT_IDS * sizeof *gp_tb_slots))))
		id = next_id++;
	spin_unlock(&ids_mu);
	return id;
}

uint32_t gp_tb_id_overflow(void)
{
	/* Out of slots (8M live chains): ids are never reused, and the chains' blocks keep
	 * them in the block table, which has no room for where their records are. From now
	 * on every record goes through the shared buffer, and this one goes now. */
	__atomic_store_n(&gp_tb_off, 1, __ATOMIC_RELAXED);
	return __atomic_fetch_add(&overflow_id, 1, __ATOMIC_RELAXED);
}

void gp_tbuf_thread_exit(void)
{
	struct gp_tbuf *tb = gp_tls.tb;
	gp_tls.tb_gone = 1;
	if (!tb)
		return;
	spin_lock(&tb->mu);
	gp_tb_move(tb);
	gp_tb_ids_give(tb->ids, tb->nids);
	tb->nids = 0;
	gp_tls.tb = NULL;
	__atomic_store_n(&tb->used, 0, __ATOMIC_RELEASE);
	spin_unlock(&tb->mu);
}

/*
 * The flusher's tick (flusher.h): every buffer holding records goes to the trace, unless its
 * thread is writing to it right now (that thread moves it itself once it is TB_MAX_AGE
 * old), and the trace goes to the file if it holds anything new, records or counts. What a
 * process recorded is then in the file within about one tick, busy or idle.
 */
void gp_trace_drain(void)
{
	if (!gp_trace_started())
		return;
	if (gp_flusher_self() && gp_trace_fd_lost())
		return; /* the program closed it: its next flush reopens (write_out) */
	uint32_t n = __atomic_load_n(&gp_ntbufs, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n; i++) {
		struct gp_tbuf *t = __atomic_load_n(&gp_tbufs[i], __ATOMIC_ACQUIRE);
		if (!t || !__atomic_load_n(&t->len, __ATOMIC_RELAXED))
			continue;
		int locked = 0;
		for (int spins = 0; spins < 256 && !(locked = spin_trylock(&t->mu)); spins++)
			__builtin_ia32_pause(); /* its thread holds it for one record: wait a bit */
		if (!locked)
			continue;
		if (t->len && !gp_tb_finishing) {
			gp_trace_lock();
			tb_move_locked(t);
			gp_trace_unlock();
		}
		spin_unlock(&t->mu);
	}
	gp_trace_lock();
	if (gp_state == GP_STATE_ON && !gp_tb_finishing)
		gp_trace_flush_new_locked();
	gp_trace_unlock(); /* compresses what gp_trace_flush_locked handed over */
}

int gp_tbuf_init(void)
{
	gp_tbufs[0] = gp_ialloc(sizeof *gp_tbufs[0]); /* the shared buffer */
	if (!gp_tbufs[0])
		return 0;
	memset(gp_tbufs[0], 0, offsetof(struct gp_tbuf, data));
	gp_codec_init(&gp_tbufs[0]->codec, GP_FORMAT_VERSION);
	gp_tbufs[0]->used = 1;
	gp_ntbufs = 1;
	return 1;
}

void gp_tbuf_move_all(void)
{
	for (uint32_t i = 0; i < gp_ntbufs; i++) {
		spin_lock(&gp_tbufs[i]->mu);
		gp_tb_move(gp_tbufs[i]);
		spin_unlock(&gp_tbufs[i]->mu);
	}
}

void gp_tbuf_ids_lock(void) { spin_lock(&ids_mu); }

void gp_tbuf_ids_unlock(void) { spin_unlock(&ids_mu); }

void gp_tbuf_fork_child(void)
{
	ids_mu = 0;
	/* The buffers hold the parent's records, and the other threads are gone: their
	 * buffers are free, and so are the ids they kept. */
	for (uint32_t i = 0; i < gp_ntbufs; i++) {
		struct gp_tbuf *t = gp_tbufs[i];
		t->mu = 0;
		t->len = 0;
		t->nrec = t->nstep = 0;
		t->seq++;
		if (i && t != gp_tls.tb) {
			gp_tb_ids_give(t->ids, t->nids);
			t->nids = 0;
			t->used = 0;
		}
	}
	if (gp_tls.tb)
		gp_tls.tb->tnum = tnum();
}
