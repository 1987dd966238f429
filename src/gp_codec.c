/* gp_codec.c - the records with strings or frames, older versions, and decoding. */
#include "gp_codec.h"

size_t gp_enc_process(uint8_t *buf, const struct gp_process_rec *x)
{
	struct gp_rec r;
	gp_rec_begin(&r, buf);
	gp_rec_u(&r, x->pid);
	gp_rec_u(&r, x->ppid);
	gp_rec_u(&r, x->start_realtime);
	gp_rec_u(&r, x->start_mono);
	gp_rec_bytes(&r, x->exe, x->exe_len);
	gp_rec_bytes(&r, x->cmdline, x->cmdline_len);
	gp_rec_u(&r, x->depth);
	return gp_rec_end(&r, GP_TAG_PROCESS);
}

size_t gp_enc_module(uint8_t *buf, const struct gp_module_rec *x)
{
	struct gp_rec r;
	gp_rec_begin(&r, buf);
	gp_rec_u(&r, x->id);
	gp_rec_u(&r, x->bias);
	gp_rec_u(&r, x->lo);
	gp_rec_u(&r, x->hi);
	gp_rec_bytes(&r, x->path, x->path_len);
	gp_rec_bytes(&r, x->build_id, x->build_id_len);
	return gp_rec_end(&r, GP_TAG_MODULE);
}

size_t gp_enc_stack(uint8_t *buf, const struct gp_stack_rec *x)
{
	struct gp_rec r;
	gp_rec_begin(&r, buf);
	gp_rec_u(&r, x->id);
	gp_rec_u(&r, x->n);
	for (uint64_t i = 0; i < x->n; i++) {
		if (i == 0)
			gp_rec_u(&r, x->addrs[0]);
		else
			gp_rec_z(&r, (int64_t)(x->addrs[i] - x->addrs[i - 1]));
	}
	return gp_rec_end(&r, GP_TAG_STACK);
}

/* Version 1 wrote times absolute: an increment from 0. */
static void v1_times(struct gp_codec *c)
{
	if (c->version < 2)
		c->time = 0;
}

static size_t put_chain_v(uint8_t *buf, struct gp_codec *c, const struct gp_chain_rec *x)
{
	v1_times(c);
	return gp_enc_chain(buf, c, x);
}

/* Versions 1 and 2: "c chain, v stack, z delta, v flags, t time, [v thread (1)], [v copied]". */
static size_t put_step_v(uint8_t *buf, struct gp_codec *c, const struct gp_step_rec *x)
{
	if (c->version >= 3)
		return gp_enc_step(buf, c, x);
	struct gp_rec r;
	gp_rec_begin_small(&r, buf);
	gp_codec_put_chain(&r, c, x->chain);
	gp_rec_u(&r, x->stack);
	gp_rec_z(&r, x->delta);
	gp_rec_u(&r, x->flags);
	v1_times(c);
	gp_codec_put_time(&r, c, x->time);
	if (c->version < 2)
		gp_rec_u(&r, x->thread);
	if (x->with_copied)
		gp_rec_u(&r, x->copied);
	return gp_rec_end_small(&r, GP_TAG_STEP);
}

size_t gp_codec_put(struct gp_codec *c, uint8_t *buf, const struct gp_record *x)
{
	switch (x->tag) {
	case GP_TAG_PROCESS: return gp_enc_process(buf, &x->u.process);
	case GP_TAG_MODULE: return gp_enc_module(buf, &x->u.module);
	case GP_TAG_STACK: return gp_enc_stack(buf, &x->u.stack);
	case GP_TAG_CHAIN: return put_chain_v(buf, c, &x->u.chain);
	case GP_TAG_STEP: return put_step_v(buf, c, &x->u.step);
	case GP_TAG_CHAIN_END: return gp_enc_chain_end(buf, c, x->u.chain_end.chain);
	case GP_TAG_COUNTS: return gp_enc_counts(buf, &x->u.counts);
	case GP_TAG_END: return gp_enc_end(buf, &x->u.end);
	case GP_TAG_SEGMENT: return gp_enc_segment(buf, c, x->u.segment.thread);
	default: return 0;
	}
}

/* ---- decoding --------------------------------------------------------------------------- */

static uint64_t get_chain(struct gp_cursor *k, struct gp_codec *c)
{
	c->chain += (uint64_t)gp_get_zvarint(k);
	return c->chain;
}

static uint64_t get_time(struct gp_cursor *k, struct gp_codec *c)
{
	uint64_t t = gp_get_varint(k);
	if (c->version < 2)
		return t;
	c->time += t;
	return c->time;
}

/* A trailing field that readers never needed (PROCESS's depth, END's time):
 * 0 when absent, and its damage is not the record's. */
static uint64_t get_extra(struct gp_cursor *k)
{
	if (k->p >= k->end)
		return 0;
	struct gp_cursor e = *k;
	uint64_t v = gp_get_varint(&e);
	k->p = e.p;
	return e.bad ? 0 : v;
}

static int dec_process(struct gp_cursor *k, struct gp_process_rec *x)
{
	x->pid = gp_get_varint(k);
	x->ppid = gp_get_varint(k);
	x->start_realtime = gp_get_varint(k);
	x->start_mono = gp_get_varint(k);
	x->exe = gp_get_bytes(k, &x->exe_len);
	x->cmdline = gp_get_bytes(k, &x->cmdline_len);
	x->depth = get_extra(k);
	return 0;
}

static int dec_module(struct gp_cursor *k, struct gp_module_rec *x)
{
	x->id = gp_get_varint(k);
	x->bias = gp_get_varint(k);
	x->lo = gp_get_varint(k);
	x->hi = gp_get_varint(k);
	x->path = gp_get_bytes(k, &x->path_len);
	x->build_id = gp_get_bytes(k, &x->build_id_len);
	return 0;
}

static int dec_stack(struct gp_cursor *k, struct gp_stack_rec *x)
{
	x->id = gp_get_varint(k);
	x->n = gp_get_varint(k);
	x->addrs = NULL;
	x->frames = *k;
	x->last = 0;
	x->i = 0;
	/* every frame takes at least one byte; the writer caps depth */
	return x->n > (uint64_t)(k->end - k->p) || x->n > GP_STACK_FRAMES_MAX ? -1 : 0;
}

static int dec_chain(struct gp_cursor *k, struct gp_codec *c, struct gp_chain_rec *x)
{
	x->chain = get_chain(k, c);
	x->origin = gp_get_varint(k);
	x->size = gp_get_varint(k);
	x->time = get_time(k, c);
	x->with_kind = k->p < k->end;
	uint64_t kind = x->with_kind ? gp_get_varint(k) : GP_CHAIN_REALLOC;
	x->kind = (unsigned)kind;
	return kind > GP_CHAIN_RELOCATION ? -1 : 0;
}

static int dec_step(struct gp_cursor *k, struct gp_codec *c, struct gp_step_rec *x)
{
	x->chain = get_chain(k, c);
	x->thread = 0;
	uint64_t flags;
	if (c->version >= 3) {
		uint64_t sf = gp_get_varint(k);
		x->stack = sf >> 3;
		flags = sf & (GP_STEP_MOVED | GP_STEP_REMAP);
		x->delta = gp_get_zvarint(k);
		x->time = sf & GP_STEP_TIMED ? get_time(k, c) : c->time;
	} else {
		x->stack = gp_get_varint(k);
		x->delta = gp_get_zvarint(k);
		flags = gp_get_varint(k);
		x->time = get_time(k, c);
		if (c->version < 2)
			x->thread = gp_get_varint(k);
	}
	x->flags = (unsigned)flags;
	x->with_copied = k->p < k->end;
	x->copied = x->with_copied ? gp_get_varint(k) : 0;
	/* A remap is a move; (version 2 flags may carry only these two bits.) */
	return flags & GP_STEP_REMAP && !(flags & GP_STEP_MOVED) ? -1 : 0;
}

int gp_codec_decode(struct gp_codec *c, unsigned tag, const uint8_t *payload, size_t len,
                    struct gp_record *out)
{
	struct gp_cursor k = { payload, payload + len, 0 };
	int rc = 0;
	out->tag = tag;
	switch (tag) {
	case GP_TAG_PROCESS: rc = dec_process(&k, &out->u.process); break;
	case GP_TAG_MODULE: rc = dec_module(&k, &out->u.module); break;
	case GP_TAG_STACK: rc = dec_stack(&k, &out->u.stack); break;
	case GP_TAG_CHAIN: rc = dec_chain(&k, c, &out->u.chain); break;
	case GP_TAG_STEP: rc = dec_step(&k, c, &out->u.step); break;
	case GP_TAG_CHAIN_END: out->u.chain_end.chain = get_chain(&k, c); break;
	case GP_TAG_COUNTS:
		out->u.counts.allocs = gp_get_varint(&k);
		out->u.counts.frees = gp_get_varint(&k);
		out->u.counts.failed = gp_get_varint(&k);
		/* steps and chains, then own, came later: absent, they read as 0 */
		out->u.counts.steps = out->u.counts.chains = out->u.counts.own = 0;
		out->u.counts.with_own = 0;
		if (k.p < k.end) {
			out->u.counts.steps = gp_get_varint(&k);
			out->u.counts.chains = gp_get_varint(&k);
			out->u.counts.with_own = k.p < k.end;
			out->u.counts.own = out->u.counts.with_own ? gp_get_varint(&k) : 0;
		}
		break;
	case GP_TAG_END:
		out->u.end.reason = gp_get_varint(&k);
		out->u.end.time = get_extra(&k);
		break;
	case GP_TAG_SEGMENT:
		out->u.segment.thread = gp_get_varint(&k);
		if (c->version < 2)
			rc = -1;
		gp_codec_segment(c);
		break;
	default: return 0;
	}
	return k.bad || rc ? -1 : 1;
}

const char *gp_codec_tag_name(unsigned tag)
{
	static const char *names[] = { "?", "process", "module", "stack", "chain", "step",
	                               "chain-end", "counts", "end", "segment" };
	return tag < sizeof names / sizeof *names ? names[tag] : "?";
}
