/*
 * gp_codec.h - every record of gp_format.h, typed, encoded and decoded in this one place.
 *
 * A format change is made here and nowhere else: the preload, the test trace builder
 * (tests/unit/tb.c), the fuzz corpus generator and the reader all go through it. SEGCOLS is
 * gp_segcols' (it rearranges whole records, not fields).
 *
 * Fields hold what the record means, not how it is written: chain ids are absolute (the
 * codec writes and reads the segment's zigzag deltas), times are absolute nanoseconds (the
 * codec writes the segment's increments, v1's absolute times, and decides a v3+ STEP's
 * GP_STEP_TIMED bit), stack frames are addresses. struct gp_codec carries what the deltas
 * are relative to; one per segment writer (a preload thread buffer) or per reader.
 *
 * Encoders of the current version are inline and build the record with gp_rec_begin_small
 * where the payload is known to be short, as cheap as hand-written gp_rec_* sequences: the
 * preload's hot path (CHAIN, STEP, CHAIN_END) may use them. gp_codec_put also writes older
 * versions, for the tests' fixtures of them. No I/O, no allocation.
 */
#ifndef GP_CODEC_H
#define GP_CODEC_H

#include "gp_format.h"
#include "gp_record.h"

#include <stddef.h>
#include <stdint.h>

/* Where the deltas of a segment (or, in version 1, of the whole file) stand. */
struct gp_codec {
	unsigned version; /* of the trace: how STEP, chain ids and times are written */
	uint64_t chain;   /* the last chain id written or read */
	uint64_t time;    /* the last time of the segment (versions 2+) */
};

static inline void gp_codec_init(struct gp_codec *c, unsigned version)
{
	c->version = version;
	c->chain = 0;
	c->time = 0;
}

/* A SEGMENT record was written or read: chain ids and times count from 0 again. */
static inline void gp_codec_segment(struct gp_codec *c)
{
	c->chain = 0;
	c->time = 0;
}

struct gp_process_rec {
	uint64_t pid, ppid, start_realtime, start_mono;
	const uint8_t *exe, *cmdline; /* not NUL-terminated; cmdline: args joined by NUL */
	size_t exe_len, cmdline_len;
	uint64_t depth;
};

struct gp_module_rec {
	uint64_t id, bias, lo, hi;
	const uint8_t *path, *build_id;
	size_t path_len, build_id_len;
};

struct gp_stack_rec {
	uint64_t id, n;
	const uint64_t *addrs;    /* encode: the n frames, innermost first */
	struct gp_cursor frames;  /* decode: read them with gp_stack_rec_next */
	uint64_t last;            /* decode: the previous frame read */
	uint64_t i;               /* decode: frames read so far */
};

struct gp_chain_rec {
	uint64_t chain, origin, size, time;
	unsigned kind;            /* GP_CHAIN_*: written when not GP_CHAIN_REALLOC or with_kind */
	int with_kind;            /* decode: the field was present; encode: write it anyway */
};

struct gp_step_rec {
	uint64_t chain, stack;
	int64_t delta;            /* new size - old size */
	unsigned flags;           /* GP_STEP_MOVED, GP_STEP_REMAP (GP_STEP_TIMED is the codec's) */
	uint64_t time;
	int with_copied;
	uint64_t copied;          /* with_copied: bytes seen copied (relocation steps) */
	uint64_t thread;          /* version 1 only */
};

struct gp_chain_end_rec { uint64_t chain; };
struct gp_counts_rec {
	uint64_t allocs, frees, failed, steps, chains;
	uint64_t own;             /* of allocs, those for the profiler's own flusher thread */
	int with_own;             /* decode: the field was present; encode: write it */
};
struct gp_end_rec { uint64_t reason, time; };
struct gp_segment_rec { uint64_t thread; };

/* One record of any kind: `tag` says which member is valid. */
struct gp_record {
	unsigned tag;
	union {
		struct gp_process_rec process;
		struct gp_module_rec module;
		struct gp_stack_rec stack;
		struct gp_chain_rec chain;
		struct gp_step_rec step;
		struct gp_chain_end_rec chain_end;
		struct gp_counts_rec counts;
		struct gp_end_rec end;
		struct gp_segment_rec segment;
	} u;
};

/* Largest encodings of the small records (header included): room to reserve. */
#define GP_CHAIN_REC_MAX (GP_REC_HEADER + 5 * GP_VARINT_MAX)
#define GP_STEP_REC_MAX (GP_REC_HEADER + 6 * GP_VARINT_MAX)
#define GP_CHAIN_END_REC_MAX (GP_REC_HEADER + GP_VARINT_MAX)
#define GP_SEGMENT_REC_MAX (GP_REC_HEADER + GP_VARINT_MAX)
#define GP_COUNTS_REC_MAX (GP_REC_HEADER + 6 * GP_VARINT_MAX)
#define GP_END_REC_MAX (GP_REC_HEADER + 2 * GP_VARINT_MAX)
/* PROCESS, MODULE, STACK: these many bytes plus their strings / frames. */
#define GP_PROCESS_REC_MAX(exe_len, cmd_len) (GP_REC_HEADER + 7 * GP_VARINT_MAX + (exe_len) + (cmd_len))
#define GP_MODULE_REC_MAX(path_len, bid_len) (GP_REC_HEADER + 6 * GP_VARINT_MAX + (path_len) + (bid_len))
#define GP_STACK_REC_MAX(n) (GP_REC_HEADER + (2 + (size_t)(n)) * GP_VARINT_MAX)

/* A chain id as the segment's zigzag delta from the previous one. */
static inline __attribute__((always_inline)) void gp_codec_put_chain(struct gp_rec *r, struct gp_codec *c, uint64_t chain)
{
	gp_rec_z(r, (int64_t)(chain - c->chain));
	c->chain = chain;
}

/* A time as the segment's increment (times never decrease: an earlier one writes 0). */
static inline __attribute__((always_inline)) void gp_codec_put_time(struct gp_rec *r, struct gp_codec *c, uint64_t time)
{
	uint64_t d = 0;
	if (time > c->time) {
		d = time - c->time;
		c->time = time;
	}
	gp_rec_u(r, d);
}

/* ---- encoders of the current version: @return the record's size at `buf` ---------------- */

/* The preload's hot path inlines these whatever the compiler's size heuristics say: a call
 * to gp_enc_step from record_step costs more than the record (the fields are in registers). */
#define GP_ENC_HOT static inline __attribute__((always_inline))

GP_ENC_HOT size_t gp_enc_chain(uint8_t *buf, struct gp_codec *c, const struct gp_chain_rec *x)
{
	struct gp_rec r;
	gp_rec_begin_small(&r, buf);
	gp_codec_put_chain(&r, c, x->chain);
	gp_rec_u(&r, x->origin);
	gp_rec_u(&r, x->size);
	gp_codec_put_time(&r, c, x->time);
	if (x->kind != GP_CHAIN_REALLOC || x->with_kind)
		gp_rec_u(&r, x->kind);
	return gp_rec_end_small(&r, GP_TAG_CHAIN);
}

GP_ENC_HOT size_t gp_enc_step(uint8_t *buf, struct gp_codec *c, const struct gp_step_rec *x)
{
	struct gp_rec r;
	gp_rec_begin_small(&r, buf);
	gp_codec_put_chain(&r, c, x->chain);
	int timed = x->time > c->time; /* the coarse clock ticks every few ms */
	gp_rec_u(&r, x->stack << 3 | x->flags | (timed ? GP_STEP_TIMED : 0));
	gp_rec_z(&r, x->delta);
	if (timed)
		gp_codec_put_time(&r, c, x->time);
	if (x->with_copied)
		gp_rec_u(&r, x->copied);
	return gp_rec_end_small(&r, GP_TAG_STEP);
}

GP_ENC_HOT size_t gp_enc_chain_end(uint8_t *buf, struct gp_codec *c, uint64_t chain)
{
	struct gp_rec r;
	gp_rec_begin_small(&r, buf);
	gp_codec_put_chain(&r, c, chain);
	return gp_rec_end_small(&r, GP_TAG_CHAIN_END);
}

/* Begins a segment: also resets `c`. */
static inline size_t gp_enc_segment(uint8_t *buf, struct gp_codec *c, uint64_t thread)
{
	struct gp_rec r;
	gp_rec_begin_small(&r, buf);
	gp_rec_u(&r, thread);
	gp_codec_segment(c);
	return gp_rec_end_small(&r, GP_TAG_SEGMENT);
}

static inline size_t gp_enc_counts(uint8_t *buf, const struct gp_counts_rec *x)
{
	struct gp_rec r;
	gp_rec_begin_small(&r, buf);
	gp_rec_u(&r, x->allocs);
	gp_rec_u(&r, x->frees);
	gp_rec_u(&r, x->failed);
	gp_rec_u(&r, x->steps);
	gp_rec_u(&r, x->chains);
	if (x->with_own)
		gp_rec_u(&r, x->own);
	return gp_rec_end_small(&r, GP_TAG_COUNTS);
}

static inline size_t gp_enc_end(uint8_t *buf, const struct gp_end_rec *x)
{
	struct gp_rec r;
	gp_rec_begin_small(&r, buf);
	gp_rec_u(&r, x->reason);
	gp_rec_u(&r, x->time);
	return gp_rec_end_small(&r, GP_TAG_END);
}

/* The records with strings or frames, of any length (gp_codec.c). */
size_t gp_enc_process(uint8_t *buf, const struct gp_process_rec *x);
size_t gp_enc_module(uint8_t *buf, const struct gp_module_rec *x);
size_t gp_enc_stack(uint8_t *buf, const struct gp_stack_rec *x);

/*
 * Any record `x` in c->version's encoding (versions 1 to GP_FORMAT_VERSION) at `buf`, which
 * has room for it (GP_*_REC_MAX). @return its size, or 0 for a tag this codec does not
 * write (SEGCOLS, unknown tags).
 */
size_t gp_codec_put(struct gp_codec *c, uint8_t *buf, const struct gp_record *x);

/*
 * Decode the payload of a record `tag` of c->version's encoding into `out` (strings and
 * frames point into the payload), advancing `c` (a SEGMENT resets it).
 * @return 1 when decoded, 0 for a tag the format does not define here (a newer minor
 * addition: skip it; out->tag is still set), -1 when the payload is damaged (truncated
 * fields, more frames than bytes or than GP_STACK_FRAMES_MAX, a chain kind or step flags
 * the format does not have, a SEGMENT in version 1).
 */
int gp_codec_decode(struct gp_codec *c, unsigned tag, const uint8_t *payload, size_t len,
                    struct gp_record *out);

/* The next frame of a decoded STACK (sets s->frames.bad past the end or on damage). */
static inline uint64_t gp_stack_rec_next(struct gp_stack_rec *s)
{
	if (s->i >= s->n) {
		s->frames.bad = 1;
		return 0;
	}
	s->last = s->i++ == 0 ? gp_get_varint(&s->frames)
	                      : s->last + (uint64_t)gp_get_zvarint(&s->frames);
	return s->last;
}

/* @return the record kind's name, for messages ("step", "chain-end"; "?" if unknown). */
const char *gp_codec_tag_name(unsigned tag);

#endif
