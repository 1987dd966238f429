/* view.c - traces -> symbolized sites and derived numbers (see view.h). */
#define _GNU_SOURCE
#include "view.h"
#include "gate.h"

#include <ctype.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <unistd.h>

/*
 * Functions that only pass an allocation on: the site is their caller. Matched against the
 * demangled name (C++ names include their parameter lists, hence the trailing stars).
 */
static const char *const default_wrappers[] = {
	/* libc and the GNU/gnulib family */
	"malloc", "calloc", "realloc", "reallocarray", "free", "memalign", "posix_memalign",
	"aligned_alloc", "valloc", "pvalloc", "__libc_*", "_int_*",
	"xmalloc", "xcalloc", "xrealloc", "xreallocarray", "xnmalloc", "xnrealloc", "xzalloc",
	"xmemdup", "xstrdup", "xstrndup", "x2realloc", "x2nrealloc", "xpalloc", "rpl_realloc",
	"rpl_malloc", "xirealloc", "ximalloc",
	/* GLib */
	"g_malloc", "g_malloc0", "g_realloc", "g_try_malloc", "g_try_realloc", "g_malloc_n",
	"g_realloc_n", "g_try_realloc_n", "g_malloc0_n",
	/* CPython */
	"PyMem_*", "_PyMem_*", "PyObject_Malloc", "PyObject_Calloc", "PyObject_Realloc",
	"_PyObject_Malloc", "_PyObject_Calloc", "_PyObject_Realloc", "pymalloc_*",
	"_PyObject_GC_Resize", "PyObject_GC_Resize",
	/* Perl, Lua, SQLite, jq, OpenSSL */
	"Perl_safesysmalloc", "Perl_safesysrealloc", "Perl_safesyscalloc",
	"l_alloc", "luaM_realloc_", "luaM_malloc_", "luaM_saferealloc_", "luaM_growaux_",
	"sqlite3MemMalloc", "sqlite3MemRealloc", "sqlite3Malloc", "sqlite3Realloc",
	"sqlite3_malloc", "sqlite3_malloc64", "sqlite3_realloc", "sqlite3_realloc64",
	"sqlite3DbMallocRaw*", "sqlite3DbRealloc*", "sqlite3DbMallocZero", "dbReallocFinish",
	"sqlite3DbReallocOrFree",
	"jv_mem_alloc", "jv_mem_alloc_unguarded", "jv_mem_calloc", "jv_mem_realloc",
	"CRYPTO_malloc", "CRYPTO_zalloc", "CRYPTO_realloc", "CRYPTO_clear_realloc",
	/* C++ */
	"operator new*", "operator delete*", "std::__new_allocator<*", "__gnu_cxx::new_allocator<*",
	"std::allocator<*", "std::allocator_traits<*",
	/* libstdc++ growth internals: the site of a vector's or string's relocation is the
	 * code that pushed, appended or reserved */
	"*std::_Vector_base<*", "*std::vector<*>::_M_realloc_insert*",
	"*std::vector<*>::_M_realloc_append*", "*std::vector<*>::_M_default_append*",
	"*std::vector<*>::_M_fill_insert*", "*std::vector<*>::_M_range_insert*",
	"*std::vector<*>::_M_insert_aux*", "*std::vector<*>::_M_emplace_aux*",
	"*std::vector<*>::reserve*", "*std::vector<*>::push_back*", "*std::vector<*>::emplace_back*",
	"*std::vector<*>::resize*", "*std::vector<*>::insert*", "*std::vector<*>::emplace*",
	"*std::vector<*>::_M_allocate_and_copy*",
	/* ... and what moves the elements (the copy is a relocation's stack: preload/) */
	"*std::vector<*>::_S_relocate*", "*std::vector<*>::_S_do_relocate*", "std::char_traits<*",
	"*std::__cxx11::basic_string<*>::basic_string*", "*std::_Construct<*",
	"*std::construct_at<*", "* std::__new_allocator<*>::construct<*",
	"* std::allocator_traits<*>::construct<*",
	"*std::__cxx11::basic_string<*>::_M_*", "*std::__cxx11::basic_string<*>::reserve*",
	"*std::__cxx11::basic_string<*>::push_back*", "*std::__cxx11::basic_string<*>::append*",
	"*std::__cxx11::basic_string<*>::operator+=*", "*std::__cxx11::basic_string<*>::insert*",
	"*std::__cxx11::basic_string<*>::replace*", "*std::__cxx11::basic_string<*>::resize*",
	"*std::__cxx11::basic_string<*>::assign*", "*std::basic_string<*>::_M_*",
	"*std::__relocate_a*", "*std::__relocate_object_a*", "std::__uninitialized_*",
	"std::__do_uninit_copy*", "std::__copy_move*", "std::copy<*", "std::move<*",
	"std::__new_allocator<*", "__gnu_cxx::__alloc_traits<*", "std::__allocate_guarded*",
	/* Rust */
	"__rust_alloc", "__rust_realloc", "__rust_alloc_zeroed", "__rdl_alloc", "__rdl_realloc",
	"__rdl_alloc_zeroed", "__rg_alloc", "__rg_realloc", "__rg_alloc_zeroed",
	"alloc::alloc::*", "<alloc::alloc::Global as core::alloc::Allocator>::*",
	"alloc::raw_vec::*", "<alloc::raw_vec::*", "std::alloc::*", "std::sys::alloc::*",
	"<alloc::alloc::Global>::*", "alloc::vec::*", "<alloc::vec::*", "alloc::string::*",
	"<alloc::string::*", "<alloc::collections::*", "alloc::collections::*",
	"alloc::boxed::*", "<alloc::boxed::*", "core::ptr::*",
	"std::sys::pal::unix::alloc::*", "<std::alloc::System as core::alloc::global::GlobalAlloc>::*",
};

/* Modules whose frames are never a site: the profiler, the C library, the dynamic linker,
 * and those the user named (--skip-module). */
int gp_view_skip_module(const struct gp_view *v, const char *path)
{
	if (!path)
		return 0;
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	if (strncmp(b, "libgrowprof", 11) == 0 || strncmp(b, "libc.so", 7) == 0 ||
	    strncmp(b, "libc-", 5) == 0 || strncmp(b, "ld-linux", 8) == 0)
		return 1;
	for (size_t i = 0; i < v->nskipmods; i++)
		if (fnmatch(v->skipmods[i], b, 0) == 0)
			return 1;
	return 0;
}

static int is_wrapper(const struct gp_view *v, const char *fn)
{
	if (!fn)
		return 0;
	for (size_t i = 0; i < v->nwrappers; i++)
		if (fnmatch(v->wrappers[i], fn, 0) == 0)
			return 1;
	/* C++ names carry parameters: also match the name without them. */
	const char *paren = strchr(fn, '(');
	if (paren && paren > fn) {
		char base[512];
		size_t n = (size_t)(paren - fn);
		if (n < sizeof base) {
			memcpy(base, fn, n);
			base[n] = 0;
			for (size_t i = 0; i < v->nwrappers; i++)
				if (fnmatch(v->wrappers[i], base, 0) == 0)
					return 1;
		}
	}
	return 0;
}

struct site_key {
	char *key;
	uint32_t id;
	UT_hash_handle hh;
};

static int add_pattern(const char ***list, size_t *n, const char *pattern)
{
	const char **w = realloc(*list, (*n + 1) * sizeof *w);
	if (!w)
		return -1;
	*list = w;
	w[(*n)++] = pattern;
	return 0;
}

int gp_view_add_wrapper(struct gp_view *v, const char *pattern)
{
	return add_pattern(&v->wrappers, &v->nwrappers, pattern);
}

int gp_view_add_skip_module(struct gp_view *v, const char *pattern)
{
	return add_pattern(&v->skipmods, &v->nskipmods, pattern);
}

static void symbolize_frame(struct gp_view *v, const struct gp_frame *f, struct gp_sym *out,
                            int *n, int max)
{
	if (!f->mod || !f->mod->path) {
		out[0] = (struct gp_sym){ NULL, NULL, 0 };
		*n = 1;
		return;
	}
	*n = gp_symbolize(v->sym, f->mod->path, f->mod->build_id, f->mod->build_id_len, f->addr,
	                  out, max);
	if (*n < 1) {
		out[0] = (struct gp_sym){ NULL, NULL, 0 };
		*n = 1;
	}
}

#define MAX_INLINE 32

struct norm_path {
	const char *raw; /* the symbolizer's interned string: the key */
	char *norm;
	UT_hash_handle hh;
};

/* A malloc'd lexically normalized copy of path (gp_gate_normpath). */
static char *normalize(const char *path)
{
	size_t cap = strlen(path) + 2;
	char *out = malloc(cap);
	return out ? gp_gate_normpath(out, cap, path) : NULL;
}

static const char *norm_file(struct gp_view *v, const char *raw)
{
	if (!raw)
		return NULL;
	struct norm_path *index = v->paths, *e;
	HASH_FIND_PTR(index, &raw, e);
	if (!e) {
		e = calloc(1, sizeof *e);
		if (!e)
			return raw;
		e->raw = raw;
		e->norm = normalize(raw);
		HASH_ADD_PTR(index, raw, e);
		v->paths = index;
	}
	return e->norm ? e->norm : raw;
}

static struct gp_vframe vframe(struct gp_view *v, const struct gp_frame *f, const struct gp_sym *s)
{
	struct gp_vframe x = { s->function, norm_file(v, s->file), s->line,
	                       f->mod ? f->mod->path : NULL, f->addr };
	return x;
}

/* The site of a stack: innermost logical frame outside the profiler, libc and wrappers. */
static uint32_t resolve(void *ctx, const struct gp_frame *frames, unsigned n)
{
	struct gp_view *v = ctx;
	struct gp_sym syms[MAX_INLINE];
	int nsym = 0;
	unsigned fi = n; /* chosen physical frame */
	int si = 0;      /* chosen inline level */
	unsigned fallback = n;
	for (unsigned i = 0; i < n && fi == n; i++) {
		const char *path = frames[i].mod ? frames[i].mod->path : NULL;
		if (path && strstr(path, "libgrowprof"))
			continue;
		if (fallback == n)
			fallback = i;
		if (gp_view_skip_module(v, path))
			continue;
		symbolize_frame(v, &frames[i], syms, &nsym, MAX_INLINE);
		for (int j = 0; j < nsym; j++)
			if (!is_wrapper(v, syms[j].function)) {
				fi = i;
				si = j;
				break;
			}
	}
	uint32_t weak = 0;
	if (fi == n && fallback < n) { /* all wrappers or libc: take the innermost of them */
		fi = fallback;
		si = 0;
		weak = GP_SITE_WEAK;
		symbolize_frame(v, &frames[fi], syms, &nsym, MAX_INLINE);
	}
	if (fi == n)
		weak = GP_SITE_WEAK;

	char key[4200];
	if (fi == n)
		snprintf(key, sizeof key, "?");
	else
		snprintf(key, sizeof key, "%s@%llx#%d", frames[fi].mod && frames[fi].mod->path ?
		         frames[fi].mod->path : "?", (unsigned long long)frames[fi].addr, si);
	struct site_key *k;
	struct site_key *index = v->site_index;
	HASH_FIND_STR(index, key, k);
	if (k)
		return k->id | weak;

	struct gp_site *s = calloc(1, sizeof *s);
	k = calloc(1, sizeof *k);
	if (v->nsites == v->capsites) {
		uint32_t cap = v->capsites ? v->capsites * 2 : 256;
		struct gp_site **ss = realloc(v->sites, cap * sizeof *ss);
		if (!ss)
			abort();
		v->sites = ss;
		v->capsites = cap;
	}
	if (!s || !k || !(k->key = strdup(key))) {
		fputs("growprof: out of memory\n", stderr);
		exit(2);
	}
	s->id = v->nsites;
	/* The site's stack: from the site outward, inline levels expanded. */
	size_t cap = 16;
	s->stack = malloc(cap * sizeof *s->stack);
	if (fi < n) {
		for (unsigned i = fi; i < n; i++) {
			if (i > fi)
				symbolize_frame(v, &frames[i], syms, &nsym, MAX_INLINE);
			for (int j = i == fi ? si : 0; j < nsym; j++) {
				if (s->nstack == cap) {
					cap *= 2;
					s->stack = realloc(s->stack, cap * sizeof *s->stack);
				}
				if (!s->stack)
					abort();
				s->stack[s->nstack++] = vframe(v, &frames[i], &syms[j]);
			}
		}
		s->where = s->stack[0];
	}
	k->id = s->id;
	v->sites[v->nsites++] = s;
	HASH_ADD_KEYPTR(hh, index, k->key, strlen(k->key), k);
	v->site_index = index;
	return s->id | weak;
}

static void progress(void *ctx, uint64_t done, uint64_t total)
{
	struct gp_view *v = ctx;
	if (!v->progress || !total)
		return;
	fprintf(stderr, "\rgrowprof: reading %3.0f%%", 100.0 * (double)done / (double)total);
}

int gp_view_init(struct gp_view *v)
{
	memset(v, 0, sizeof *v);
	v->sym = gp_symbolizer_new();
	if (!v->sym)
		return -1;
	gp_agg_init(&v->agg, resolve, v);
	v->agg.progress = progress;
	v->agg.progress_ctx = v;
	v->progress = isatty(2);
	for (size_t i = 0; i < sizeof default_wrappers / sizeof *default_wrappers; i++)
		if (gp_view_add_wrapper(v, default_wrappers[i]))
			return -1;
	return 0;
}

int gp_view_load(struct gp_view *v, const char *path)
{
	int rc = gp_agg_add_file(&v->agg, path);
	if (v->progress)
		fputs("\r\033[K", stderr);
	return rc;
}

void gp_view_release(struct gp_view *v)
{
	gp_agg_release(&v->agg);
	struct site_key *index = v->site_index, *k, *tmp;
	HASH_ITER(hh, index, k, tmp) {
		HASH_DEL(index, k);
		free(k->key);
		free(k);
	}
	for (uint32_t i = 0; i < v->nsites; i++) {
		free(v->sites[i]->stack);
		free(v->sites[i]);
	}
	free(v->sites);
	free(v->wrappers);
	free(v->skipmods);
	struct norm_path *paths = v->paths, *pe, *ptmp;
	HASH_ITER(hh, paths, pe, ptmp) {
		HASH_DEL(paths, pe);
		free(pe->norm);
		free(pe);
	}
	if (v->sym)
		gp_symbolizer_free(v->sym);
	memset(v, 0, sizeof *v);
}

/* ---- numbers ---- */

const char *gp_fmt_count(char *buf, size_t cap, uint64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
	size_t o = 0;
	for (int i = 0; i < n && o + 1 < cap; i++) {
		if (i > 0 && (n - i) % 3 == 0 && o + 2 < cap)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = 0;
	return buf;
}

const char *gp_fmt_bytes(char *buf, size_t cap, double v)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%.0f B", v);
	else
		snprintf(buf, cap, "%.1f %s", v, unit[u]);
	return buf;
}

int gp_parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -1;
	double x = strtod(s, &end);
	if (end == s || !isfinite(x) || x < 0)
		return -1;
	while (*end == ' ')
		end++;
	double mul = 1;
	char u[8] = "";
	size_t k = 0;
	while (*end && k < sizeof u - 1)
		u[k++] = (char)tolower((unsigned char)*end++);
	if (*end)
		return -1;
	static const struct { const char *s; double m; } units[] = {
		{ "", 1 }, { "b", 1 },
		{ "k", 1e3 }, { "kb", 1e3 }, { "kib", 1024.0 },
		{ "m", 1e6 }, { "mb", 1e6 }, { "mib", 1048576.0 },
		{ "g", 1e9 }, { "gb", 1e9 }, { "gib", 1073741824.0 },
		{ "t", 1e12 }, { "tb", 1e12 }, { "tib", 1099511627776.0 },
	};
	size_t i;
	for (i = 0; i < sizeof units / sizeof *units; i++)
		if (strcmp(u, units[i].s) == 0) {
			mul = units[i].m;
			break;
		}
	if (i == sizeof units / sizeof *units)
		return -1;
	x *= mul;
	if (x >= 18446744073709551615.0)
		return -1;
	*out = (uint64_t)x;
	return 0;
}

int gp_sort_parse(const char *s, enum gp_sort *out)
{
	static const char *names[] = { "copied", "moves", "steps", "amplification" };
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum gp_sort)i;
			return 0;
		}
	if (strcmp(s, "bytes_copied") == 0) {
		*out = GP_SORT_COPIED;
		return 0;
	}
	return -1;
}

static const char *site_name(const struct gp_site *s)
{
	return s->where.function ? s->where.function : "an unknown function";
}

/* Advice with numbers: what to change and what it saves. */
static void advise(struct gp_row *r, int origin)
{
	const struct gp_stats *st = r->st;
	uint64_t copies = st->moves - st->remaps;
	char saved[32], peak[32], delta[32], copied[32];
	gp_fmt_bytes(copied, sizeof copied, (double)st->bytes_copied);
	gp_fmt_bytes(peak, sizeof peak, (double)st->peak_max);
	if (copies == 0) {
		snprintf(r->advice, sizeof r->advice, "%s",
		         st->remaps ? "no copies: the moves were mremaps of mmapped blocks"
		                    : "no copies: every step grew or shrank in place");
		return;
	}
	/* Growing geometrically copies at most about the final size once per chain. */
	double after = (double)st->peak_bytes;
	double save = (double)st->bytes_copied - after;
	gp_fmt_bytes(saved, sizeof saved, save > 0 ? save : 0);
	char ncopies[32];
	gp_fmt_count(ncopies, sizeof ncopies, copies);
	switch (r->pattern) {
	case GP_PATTERN_LINEAR:
		gp_fmt_bytes(delta, sizeof delta, r->delta_median);
		if (origin)
			snprintf(r->advice, sizeof r->advice,
			         "reserve ~%s at %s: saves %s copies / %s; or grow geometrically "
			         "(x1.5-x2) instead of +%s", peak, site_name(r->site), ncopies, copied, delta);
		else
			snprintf(r->advice, sizeof r->advice,
			         "grows +%s per step: grow geometrically (x1.5-x2) to copy ~%s instead "
			         "of %s (saves %s), or reserve ~%s up front", delta,
			         gp_fmt_bytes((char[32]){ 0 }, 32, after), copied, saved, peak);
		break;
	case GP_PATTERN_GEOMETRIC:
		snprintf(r->advice, sizeof r->advice,
		         "geometric (x%.2f): copying is amortized (%.2fx of peak); reserving ~%s up "
		         "front would save the remaining %s copies / %s",
		         r->factor_median, r->amplification, peak, ncopies, copied);
		break;
	default:
		snprintf(r->advice, sizeof r->advice,
		         "irregular growth: reserve ~%s up front to save %s copies / %s",
		         peak, ncopies, copied);
	}
}

static enum gp_sort sort_key;

static double key_of(const struct gp_row *r)
{
	switch (sort_key) {
	case GP_SORT_MOVES: return (double)r->st->moves;
	case GP_SORT_STEPS: return (double)r->st->steps;
	case GP_SORT_AMPLIFICATION: return r->amplification;
	default: return (double)r->st->bytes_copied;
	}
}

static int cmp_rows(const void *a, const void *b)
{
	const struct gp_row *x = a, *y = b;
	double kx = key_of(x), ky = key_of(y);
	if (kx != ky)
		return kx < ky ? 1 : -1;
	if (x->st->bytes_copied != y->st->bytes_copied)
		return x->st->bytes_copied < y->st->bytes_copied ? 1 : -1;
	if (x->st->steps != y->st->steps)
		return x->st->steps < y->st->steps ? 1 : -1;
	return x->site->id < y->site->id ? -1 : x->site->id > y->site->id;
}

static struct gp_row *rows_of(struct gp_view *v, int origins, int kinds, enum gp_sort key,
                              size_t *n)
{
	struct gp_row *rows = calloc(2 * (size_t)(v->nsites ? v->nsites : 1), sizeof *rows);
	if (!rows)
		return NULL;
	size_t k = 0;
	for (int kind = 0; kind < 2; kind++) {
		if (!(kinds & (1 << kind)))
			continue;
		const struct gp_stats *arr = kind == GP_KIND_RELOCATION
			? (origins ? v->agg.rorigins : v->agg.rsites)
			: (origins ? v->agg.origins : v->agg.sites);
		for (uint32_t i = 0; i < v->nsites && i < v->agg.nsites; i++) {
			const struct gp_stats *st = &arr[i];
			if (!st->used || (origins ? st->chains == 0 : st->steps == 0))
				continue;
			struct gp_row *r = &rows[k++];
			r->site = v->sites[i];
			r->kind = kind;
			r->st = st;
			r->amplification = gp_stats_amplification(st);
			r->factor_median = gp_samples_median(&st->factors);
			r->delta_median = gp_samples_median(&st->deltas);
			r->pattern = gp_stats_pattern(st);
			advise(r, origins);
		}
	}
	sort_key = key;
	qsort(rows, k, sizeof *rows, cmp_rows);
	*n = k;
	return rows;
}

struct gp_row *gp_view_rows(struct gp_view *v, int origins, enum gp_sort key, size_t *n)
{
	return rows_of(v, origins, 1 << GP_KIND_REALLOC, key, n);
}

struct gp_row *gp_view_rows_all(struct gp_view *v, int origins, enum gp_sort key, size_t *n)
{
	return rows_of(v, origins, 1 << GP_KIND_REALLOC | 1 << GP_KIND_RELOCATION, key, n);
}

double gp_view_amplification(const struct gp_view *v, int kind)
{
	uint64_t peaks = 0, copied = 0;
	for (int k = 0; k < 2; k++) {
		if (kind != GP_KIND_ALL && kind != k)
			continue;
		const struct gp_stats *o = k == GP_KIND_RELOCATION ? v->agg.rorigins : v->agg.origins;
		for (uint32_t i = 0; i < v->agg.nsites; i++)
			peaks += o[i].peak_bytes;
		copied += (k == GP_KIND_RELOCATION ? &v->agg.reloc_totals : &v->agg.totals)->bytes_copied;
	}
	return peaks ? (double)copied / (double)peaks : 0;
}

void gp_view_totals_all(const struct gp_view *v, struct gp_totals *out)
{
	const struct gp_totals *a = &v->agg.totals, *r = &v->agg.reloc_totals;
	*out = *a;
	out->steps += r->steps;
	out->grows += r->grows;
	out->shrinks += r->shrinks;
	out->moves += r->moves;
	out->remaps += r->remaps;
	out->bytes_copied += r->bytes_copied;
	out->chains += r->chains;
	if (r->max_chain_steps > out->max_chain_steps)
		out->max_chain_steps = r->max_chain_steps;
}
