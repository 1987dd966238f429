/*
 * test_collector.c - the collector's logic without LD_PRELOAD: the preload's objects (all
 * but hooks.c) linked into this program, driven with synthetic events the way hooks.c
 * drives them, the trace they write (the real tbuf and trace layers, into a file) read
 * back with src/gp_reader and its records counted. One case per run: test_collector CASE DIR.
 */
#define _GNU_SOURCE
#include "collector.h"
#include "gp_codec.h"
#include "gp_format.h"
#include "gp_reader.h"
#include "lifecycle.h"
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RA() ((uint64_t)(uintptr_t)__builtin_return_address(0))
#define CFA() ((uint64_t)(uintptr_t)__builtin_dwarf_cfa())

/* hooks.c's malloc, free, realloc and memcpy, over glibc's own (this program is not
 * preloaded: malloc here is glibc's). */
static __attribute__((noinline)) void *ev_malloc(size_t n)
{
	void *p = malloc(n);
	if (!gp_on_alloc(p, n, RA(), gp_alloc_word(p))) {
		gp_tls.busy = 1;
		gp_on_alloc_slow(p, n, RA(), CFA());
		gp_tls.busy = 0;
	}
	return p;
}

static __attribute__((noinline)) void ev_free(void *p)
{
	if (!gp_on_free(p)) {
		gp_tls.busy = 1;
		if (!gp_free_chain_fast(p))
			gp_on_free_slow(p, RA(), CFA());
		gp_tls.busy = 0;
	}
	free(p);
}

static __attribute__((noinline)) void *ev_realloc(void *p, size_t n)
{
	struct gp_realloc r;
	gp_tls.busy = 1;
	gp_realloc_begin(p, &r);
	void *q = realloc(p, n);
	gp_realloc_end(p, q, n, &r, RA(), CFA());
	gp_tls.busy = 0;
	return q;
}

static __attribute__((noinline)) void ev_copy(void *dst, const void *src, size_t n)
{
	const struct gp_tls *t = &gp_tls;
	uint64_t off = (uint64_t)dst - t->rq;
	if (off < t->rwin && (off <= GP_RELOC_HDR || t->cold))
		gp_reloc_copy((uint64_t)dst, (uint64_t)src, n, RA(), CFA());
	memcpy(dst, src, n);
}

struct seen {
	unsigned chains[2], steps, moved, ends;
	int64_t delta[16];
	uint64_t copied;
	uint64_t c_steps, c_chains, c_allocs, c_frees;
	int end;
};

static int read_trace(const char *path, struct seen *s)
{
	memset(s, 0, sizeof *s);
	struct gp_reader *r = gp_reader_open(path);
	if (!r) {
		fprintf(stderr, "cannot read %s\n", path);
		return -1;
	}
	struct gp_record rec;
	int rc;
	while ((rc = gp_reader_next_rec(r, &rec)) == GP_READ_RECORD) {
		switch (rec.tag) {
		case GP_TAG_CHAIN:
			s->chains[rec.u.chain.kind == GP_CHAIN_RELOCATION]++;
			break;
		case GP_TAG_STEP:
			if (s->steps < 16)
				s->delta[s->steps] = rec.u.step.delta;
			s->steps++;
			s->moved += !!(rec.u.step.flags & GP_STEP_MOVED);
			s->copied += rec.u.step.with_copied ? rec.u.step.copied : 0;
			break;
		case GP_TAG_CHAIN_END:
			s->ends++;
			break;
		case GP_TAG_COUNTS:
			s->c_steps = rec.u.counts.steps;
			s->c_chains = rec.u.counts.chains;
			s->c_allocs = rec.u.counts.allocs;
			s->c_frees = rec.u.counts.frees;
			break;
		case GP_TAG_END:
			s->end = 1;
			break;
		}
	}
	int bad = rc != GP_READ_END || gp_reader_error(r);
	if (bad)
		fprintf(stderr, "%s: %s\n", path, gp_reader_error(r) ? gp_reader_error(r) : "bad record");
	gp_reader_free(r);
	return bad ? -1 : 0;
}

static int fails;
#define EXPECT(what, got, want)                                                              \
	do {                                                                                 \
		long long g_ = (long long)(got), w_ = (long long)(want);                     \
		if (g_ != w_) {                                                              \
			fprintf(stderr, "FAIL %s: %lld, want %lld\n", what, g_, w_);         \
			fails++;                                                             \
		}                                                                            \
	} while (0)

/* realloc 100 -> 200 -> 400 -> 800, then free: one realloc chain of three steps. */
static void case_realloc(void)
{
	char *p = ev_malloc(100);
	p = ev_realloc(p, 200);
	p = ev_realloc(p, 400);
	p = ev_realloc(p, 800);
	ev_free(p);
}

/* malloc 256, malloc 512, copy all 256 bytes across at offset 0, free the old block: a
 * relocation (malloc + copy + free) of 256 bytes. */
static char *keep;
static void case_reloc(void)
{
	char *old = ev_malloc(256);
	memset(old, 'x', 256);
	char *q = ev_malloc(512);
	ev_copy(q, old, 256);
	ev_free(old);
	keep = ev_malloc(16); /* the next allocator call after the copy */
	ev_free(q);
}

/* The same copy into a block of no more bytes than its source: a duplicate, never a
 * relocation; and 8 bytes out of 256 into a larger block: too little of old moved. */
static void case_no_reloc(void)
{
	char *old = ev_malloc(256);
	memset(old, 'x', 256);
	char *dup = ev_malloc(256);
	ev_copy(dup, old, 256);
	keep = ev_malloc(16);
	char *big = ev_malloc(512);
	ev_copy(big, old, 8);
	ev_free(old);
	ev_free(keep);
	ev_free(dup);
	ev_free(big);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_collector realloc|reloc|no-reloc DIR\n");
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/collector-%s.zst", argv[2], argv[1]);
	remove(path);
	setenv("GROWPROF_OUTPUT", path, 1);
	if (!gp_init()) {
		fprintf(stderr, "gp_init failed\n");
		return 1;
	}
	gp_init_late();
	struct seen s;
	if (strcmp(argv[1], "realloc") == 0) {
		case_realloc();
		gp_finish(GP_END_EXIT);
		if (read_trace(path, &s))
			return 1;
		EXPECT("realloc chains", s.chains[0], 1);
		EXPECT("relocation chains", s.chains[1], 0);
		EXPECT("steps", s.steps, 3);
		EXPECT("step 1 delta", s.delta[0], 100);
		EXPECT("step 2 delta", s.delta[1], 200);
		EXPECT("step 3 delta", s.delta[2], 400);
		EXPECT("chain ends", s.ends, 1);
		EXPECT("COUNTS steps", s.c_steps, 3);
		EXPECT("COUNTS chains", s.c_chains, 1);
	} else if (strcmp(argv[1], "reloc") == 0) {
		case_reloc();
		gp_finish(GP_END_EXIT);
		if (read_trace(path, &s))
			return 1;
		EXPECT("realloc chains", s.chains[0], 0);
		EXPECT("relocation chains", s.chains[1], 1);
		EXPECT("steps", s.steps, 1);
		EXPECT("moved steps", s.moved, 1);
		EXPECT("step delta", s.delta[0], 256);
		EXPECT("bytes copied", s.copied, 256);
		EXPECT("chain ends", s.ends, 1);
		EXPECT("COUNTS allocs", s.c_allocs, 3);
	} else if (strcmp(argv[1], "no-reloc") == 0) {
		case_no_reloc();
		gp_finish(GP_END_EXIT);
		if (read_trace(path, &s))
			return 1;
		EXPECT("chains", s.chains[0] + s.chains[1], 0);
		EXPECT("steps", s.steps, 0);
		EXPECT("COUNTS allocs", s.c_allocs, 4);
		EXPECT("COUNTS frees", s.c_frees, 4);
	} else {
		fprintf(stderr, "unknown case %s\n", argv[1]);
		return 2;
	}
	EXPECT("END record", s.end, 1);
	remove(path);
	printf("%s: %s\n", argv[1], fails ? "FAIL" : "ok");
	return fails ? 1 : 0;
}
