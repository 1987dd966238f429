/*
 * report_pprof.c - the run as a pprof profile: a gzipped perftools.profiles.Profile
 * (proto/profile.proto, encoded by protobuf-c, compressed by zlib).
 *
 * Sample types: bytes_copied/bytes (the default), moves/count, steps/count. One sample per
 * recorded stack, from the site outward as in the folded output; its label "kind" is
 * "realloc" or "relocation" (pprof -tagfocus=kind=relocation selects, -tagleaf=kind shows it
 * as a frame). Unlike the folded output, no "[relocation]" frame is added: the site itself
 * stays the leaf, where pprof -top and -list put the flat cost. A location is one physical
 * frame (module + address) whose
 * lines are its logical frames, inlined calls first; a mapping is a module with its build
 * id. Steps without a recorded stack make a sample at "[unknown stack]", so each sample
 * type sums to the run's total.
 */
#define _GNU_SOURCE
#include "gp_grow.h"
#include "outputs.h"
#include "profile.pb-c.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <zlib.h>

typedef Perftools__Profiles__Profile PProfile;
typedef Perftools__Profiles__Sample PSample;
typedef Perftools__Profiles__Location PLocation;
typedef Perftools__Profiles__Line PLine;
typedef Perftools__Profiles__Function PFunction;
typedef Perftools__Profiles__Mapping PMapping;
typedef Perftools__Profiles__Label PLabel;
typedef Perftools__Profiles__ValueType PValueType;

/* A growing array of elements of `size` bytes. */
struct vec {
	void *p;
	size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
	if (gp_grow(&v->p, &v->cap, v->n + 1, v->size, 64))
		return NULL;
	void *e = (char *)v->p + v->n++ * v->size;
	memset(e, 0, v->size);
	return e;
}

struct str_ent {
	char *s;
	int64_t idx;
	UT_hash_handle hh;
};

/* Functions by (name, file); locations by (module, address, first inline level); mappings
 * by module. Keys are raw bytes. */
struct key_ent {
	uint64_t id;
	UT_hash_handle hh;
	size_t klen;
	char key[];
};

struct pp {
	struct gp_view *v;
	struct str_ent *strings;
	struct vec strtab;    /* char * */
	struct key_ent *funcs, *locs, *maps;
	struct vec functions; /* PFunction */
	struct vec locations; /* PLocation (line arrays malloc'd) */
	struct vec mappings;  /* PMapping */
	struct vec samples;   /* PSample (location and value arrays malloc'd) */
	struct vec labels;    /* PLabel: [0] kind=realloc, [1] kind=relocation */
	int oom;
};

static int64_t str_idx(struct pp *p, const char *s)
{
	if (!s)
		s = "";
	struct str_ent *e;
	HASH_FIND_STR(p->strings, s, e);
	if (e)
		return e->idx;
	char **slot = vec_push(&p->strtab);
	e = calloc(1, sizeof *e);
	if (!slot || !e || !(e->s = strdup(s))) {
		free(e);
		p->oom = 1;
		return 0;
	}
	*slot = e->s;
	e->idx = (int64_t)p->strtab.n - 1;
	HASH_ADD_KEYPTR(hh, p->strings, e->s, strlen(e->s), e);
	return e->idx;
}

/* Find `key` in `*h`; if absent add it with id `next_id`, and set *added. */
static uint64_t key_id(struct pp *p, struct key_ent **h, const void *key, size_t klen,
                       uint64_t next_id, int *added)
{
	struct key_ent *e;
	*added = 0;
	HASH_FIND(hh, *h, key, klen, e);
	if (e)
		return e->id;
	e = calloc(1, sizeof *e + klen);
	if (!e) {
		p->oom = 1;
		return 0;
	}
	memcpy(e->key, key, klen);
	e->klen = klen;
	e->id = next_id;
	HASH_ADD(hh, *h, key, klen, e);
	*added = 1;
	return e->id;
}

static void free_keys(struct key_ent **h)
{
	struct key_ent *e, *t;
	HASH_ITER(hh, *h, e, t) {
		HASH_DEL(*h, e);
		free(e);
	}
}

static uint64_t function_id(struct pp *p, const char *name, const char *file)
{
	int64_t k[2] = { str_idx(p, name), str_idx(p, file) };
	int added;
	uint64_t id = key_id(p, &p->funcs, k, sizeof k, p->functions.n + 1, &added);
	if (added) {
		PFunction *f = vec_push(&p->functions);
		if (!f) {
			p->oom = 1;
			return 0;
		}
		perftools__profiles__function__init(f);
		f->id = id;
		f->name = k[0];
		f->system_name = k[0];
		f->filename = k[1];
	}
	return id;
}

static uint64_t mapping_id(struct pp *p, const struct gp_module *m)
{
	if (!m)
		return 0;
	int added;
	uint64_t id = key_id(p, &p->maps, &m, sizeof m, p->mappings.n + 1, &added);
	if (added) {
		PMapping *x = vec_push(&p->mappings);
		if (!x) {
			p->oom = 1;
			return 0;
		}
		perftools__profiles__mapping__init(x);
		x->id = id;
		x->memory_start = m->lo;
		x->memory_limit = m->hi;
		x->filename = str_idx(p, m->path);
		char hex[2 * 64 + 1] = "";
		for (size_t i = 0; i < m->build_id_len && i < 64; i++)
			snprintf(hex + 2 * i, 3, "%02x", m->build_id[i]);
		x->build_id = str_idx(p, hex);
		/* Every location comes symbolized: readers need not (and cannot) redo it. */
		x->has_functions = x->has_filenames = x->has_line_numbers = x->has_inline_frames = 1;
	}
	return id;
}

/* A location that holds only a name (the [unknown stack] frame). */
static uint64_t named_location(struct pp *p, const char *name)
{
	int added;
	uint64_t id = key_id(p, &p->locs, name, strlen(name), p->locations.n + 1, &added);
	if (added) {
		PLocation *l = vec_push(&p->locations);
		PLine *ln = calloc(1, sizeof *ln);
		if (!l || !ln) {
			free(ln);
			p->oom = 1;
			return 0;
		}
		perftools__profiles__location__init(l);
		perftools__profiles__line__init(ln);
		l->id = id;
		ln->function_id = function_id(p, name, NULL);
		l->line = (PLine **)ln; /* the Line array for now; pointers made at the end */
		l->n_line = 1;
	}
	return id;
}

/* The location of logical frames fr[0..n) (one physical frame, innermost level first). */
static uint64_t frame_location(struct pp *p, const struct gp_lframe *fr, size_t n)
{
	const struct gp_frame *f = fr[0].phys;
	struct { const void *mod; uint64_t addr; int64_t level; } k = { f->mod, f->addr, fr[0].level };
	if (!f->mod)
		k.addr = f->raw;
	int added;
	uint64_t id = key_id(p, &p->locs, &k, sizeof k, p->locations.n + 1, &added);
	if (!added)
		return id;
	PLocation *l = vec_push(&p->locations);
	PLine *lines = calloc(n, sizeof *lines);
	if (!l || !lines) {
		free(lines);
		p->oom = 1;
		return 0;
	}
	perftools__profiles__location__init(l);
	l->id = id;
	l->mapping_id = mapping_id(p, f->mod);
	l->address = f->mod ? f->mod->bias + f->addr : f->raw;
	for (size_t i = 0; i < n; i++) {
		char buf[512];
		perftools__profiles__line__init(&lines[i]);
		lines[i].function_id = function_id(p, gp_lframe_name(&fr[i], buf, sizeof buf), fr[i].file);
		lines[i].line = fr[i].file ? fr[i].line : 0;
	}
	l->line = (PLine **)lines;
	l->n_line = n;
	return id;
}

static void add_sample(struct pp *p, const uint64_t *locs, size_t nlocs,
                       const struct gp_weights *w, int kind)
{
	PSample *s = vec_push(&p->samples);
	uint64_t *ids = malloc((nlocs ? nlocs : 1) * sizeof *ids);
	int64_t *vals = malloc(3 * sizeof *vals);
	PLabel **lab = malloc(sizeof *lab);
	if (!s || !ids || !vals || !lab) {
		free(ids);
		free(vals);
		free(lab);
		p->oom = 1;
		return;
	}
	perftools__profiles__sample__init(s);
	memcpy(ids, locs, nlocs * sizeof *ids);
	vals[0] = (int64_t)w->bytes_copied;
	vals[1] = (int64_t)w->moves;
	vals[2] = (int64_t)w->steps;
	lab[0] = (PLabel *)(uintptr_t)(kind == GP_KIND_RELOCATION); /* index into p->labels */
	s->location_id = ids;
	s->n_location_id = nlocs;
	s->value = vals;
	s->n_value = 3;
	s->label = lab;
	s->n_label = 1;
}

static void add_stack(struct pp *p, const struct gp_stack *st)
{
	size_t nf;
	struct gp_lframe *fr = gp_stack_frames(p->v, st, &nf);
	uint64_t *locs = malloc((nf + 2) * sizeof *locs);
	if (!fr || !locs) {
		free(fr);
		free(locs);
		p->oom = 1;
		return;
	}
	size_t nl = 0;
	for (size_t i = 0; i < nf;) {
		size_t j = i + 1;
		while (j < nf && fr[j].phys == fr[i].phys)
			j++;
		locs[nl++] = frame_location(p, fr + i, j - i);
		i = j;
	}
	if (nf == 0)
		locs[nl++] = named_location(p, GP_UNKNOWN_FRAME);
	struct gp_weights w = { st->bytes_copied, st->moves, st->steps };
	add_sample(p, locs, nl, &w, st->kind);
	free(fr);
	free(locs);
}

/* Write `data` gzip-compressed to `out`. @return 0, -1 (message in err). */
static int gzip_write(FILE *out, const uint8_t *data, size_t len, char *err, size_t errcap)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	/* windowBits 15 + 16: a gzip header and trailer rather than zlib's */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		snprintf(err, errcap, "cannot start gzip compression");
		return -1;
	}
	uint8_t buf[1 << 16];
	z.next_in = (Bytef *)data;
	int zr;
	do {
		size_t chunk = len > (1u << 30) ? (1u << 30) : len;
		z.avail_in = (uInt)chunk;
		len -= chunk;
		do {
			z.next_out = buf;
			z.avail_out = sizeof buf;
			zr = deflate(&z, len ? Z_NO_FLUSH : Z_FINISH);
			size_t have = sizeof buf - z.avail_out;
			if (zr == Z_STREAM_ERROR || (have && fwrite(buf, 1, have, out) != have)) {
				deflateEnd(&z);
				snprintf(err, errcap, "cannot write the profile");
				return -1;
			}
		} while (z.avail_out == 0);
	} while (len);
	deflateEnd(&z);
	if (zr != Z_STREAM_END) {
		snprintf(err, errcap, "gzip compression failed");
		return -1;
	}
	return 0;
}

int gp_report_pprof(FILE *out, struct gp_view *v, char *err, size_t errcap)
{
	const struct gp_agg *a = &v->agg;
	struct pp p;
	memset(&p, 0, sizeof p);
	p.v = v;
	p.strtab.size = sizeof(char *);
	p.functions.size = sizeof(PFunction);
	p.locations.size = sizeof(PLocation);
	p.mappings.size = sizeof(PMapping);
	p.samples.size = sizeof(PSample);
	p.labels.size = sizeof(PLabel);
	int rc = -1;
	snprintf(err, errcap, "out of memory");

	str_idx(&p, ""); /* string_table[0] */
	PValueType vt[3];
	static const char *const types[3][2] = {
		{ "bytes_copied", "bytes" }, { "moves", "count" }, { "steps", "count" },
	};
	PValueType *vtp[3];
	for (int i = 0; i < 3; i++) {
		perftools__profiles__value_type__init(&vt[i]);
		vt[i].type = str_idx(&p, types[i][0]);
		vt[i].unit = str_idx(&p, types[i][1]);
		vtp[i] = &vt[i];
	}
	for (int kind = 0; kind < 2; kind++) {
		PLabel *l = vec_push(&p.labels);
		if (!l) {
			p.oom = 1;
			break;
		}
		perftools__profiles__label__init(l);
		l->key = str_idx(&p, "kind");
		l->str = str_idx(&p, kind ? "relocation" : "realloc");
	}
	/* mapping[0] is the main executable. */
	if (a->ntraces && a->traces[0].exe)
		for (size_t i = 0; i < a->nmodules; i++)
			if (a->modules[i]->path && !strcmp(a->modules[i]->path, a->traces[0].exe)) {
				mapping_id(&p, a->modules[i]);
				break;
			}
	for (size_t i = 0; i < a->nstacks && !p.oom; i++)
		if (a->stacks[i].steps)
			add_stack(&p, &a->stacks[i]);
	for (int kind = GP_KIND_REALLOC; kind <= GP_KIND_RELOCATION && !p.oom; kind++) {
		struct gp_weights w = gp_unknown_weights(v, kind);
		if (!w.steps && !w.moves && !w.bytes_copied)
			continue;
		uint64_t loc = named_location(&p, GP_UNKNOWN_FRAME);
		add_sample(&p, &loc, 1, &w, kind);
	}
	int64_t comments[8];
	size_t ncomments = 0;
	for (size_t i = 0; i < a->ntraces && ncomments < 8; i++) {
		char c[1024];
		snprintf(c, sizeof c, "growprof: %s (pid %llu: %s)%s", a->traces[i].file,
		         (unsigned long long)a->traces[i].pid,
		         a->traces[i].cmdline ? a->traces[i].cmdline : "?",
		         a->traces[i].cut_short ? " cut short" : "");
		comments[ncomments++] = str_idx(&p, c);
	}
	int64_t default_type = str_idx(&p, "bytes_copied");

	/* The vectors are final: make the pointer arrays protobuf-c wants. */
	size_t nptr = p.functions.n + p.locations.n + p.mappings.n + p.samples.n;
	void **ptrs = p.oom ? NULL : malloc((nptr ? nptr : 1) * sizeof *ptrs);
	PLine **lineptrs = NULL;
	size_t nlines = 0;
	for (size_t i = 0; i < p.locations.n; i++)
		nlines += ((PLocation *)p.locations.p)[i].n_line;
	if (ptrs)
		lineptrs = malloc((nlines ? nlines : 1) * sizeof *lineptrs);
	uint8_t *buf = NULL;
	PLine **linearrays = NULL;
	if (!ptrs || !lineptrs)
		goto out;
	/* Keep each location's Line array to free it, then point it at its pointers. */
	linearrays = malloc((p.locations.n ? p.locations.n : 1) * sizeof *linearrays);
	if (!linearrays)
		goto out;
	size_t k = 0, lk = 0;
	PProfile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
	prof.sample_type = vtp;
	prof.n_sample_type = 3;
	prof.function = (PFunction **)(ptrs + k);
	prof.n_function = p.functions.n;
	for (size_t i = 0; i < p.functions.n; i++)
		ptrs[k++] = (PFunction *)p.functions.p + i;
	prof.location = (PLocation **)(ptrs + k);
	prof.n_location = p.locations.n;
	for (size_t i = 0; i < p.locations.n; i++) {
		PLocation *l = (PLocation *)p.locations.p + i;
		PLine *arr = (PLine *)l->line;
		linearrays[i] = arr;
		l->line = lineptrs + lk;
		for (size_t j = 0; j < l->n_line; j++)
			lineptrs[lk++] = &arr[j];
		ptrs[k++] = l;
	}
	prof.mapping = (PMapping **)(ptrs + k);
	prof.n_mapping = p.mappings.n;
	for (size_t i = 0; i < p.mappings.n; i++)
		ptrs[k++] = (PMapping *)p.mappings.p + i;
	prof.sample = (PSample **)(ptrs + k);
	prof.n_sample = p.samples.n;
	for (size_t i = 0; i < p.samples.n; i++) {
		PSample *s = (PSample *)p.samples.p + i;
		s->label[0] = (PLabel *)p.labels.p + (uintptr_t)s->label[0];
		ptrs[k++] = s;
	}
	prof.string_table = p.strtab.p;
	prof.n_string_table = p.strtab.n;
	prof.comment = comments;
	prof.n_comment = ncomments;
	prof.default_sample_type = default_type;

	size_t len = perftools__profiles__profile__get_packed_size(&prof);
	buf = malloc(len ? len : 1);
	if (buf) {
		perftools__profiles__profile__pack(&prof, buf);
		rc = gzip_write(out, buf, len, err, errcap);
	}
	for (size_t i = 0; i < p.locations.n; i++) /* back to the arrays, to free them */
		((PLocation *)p.locations.p)[i].line = (PLine **)linearrays[i];
out:
	free(buf);
	free(ptrs);
	free(lineptrs);
	free(linearrays);
	for (size_t i = 0; i < p.locations.n; i++)
		free(((PLocation *)p.locations.p)[i].line);
	for (size_t i = 0; i < p.samples.n; i++) {
		PSample *s = (PSample *)p.samples.p + i;
		free(s->location_id);
		free(s->value);
		free(s->label);
	}
	free(p.functions.p);
	free(p.locations.p);
	free(p.mappings.p);
	free(p.samples.p);
	free(p.labels.p);
	free(p.strtab.p);
	struct str_ent *e, *t;
	HASH_ITER(hh, p.strings, e, t) {
		HASH_DEL(p.strings, e);
		free(e->s);
		free(e);
	}
	free_keys(&p.funcs);
	free_keys(&p.locs);
	free_keys(&p.maps);
	return rc;
}
