/* view.c - traces -> symbolized sites and derived numbers (see view.h). */
#define _GNU_SOURCE
#include "gp_grow.h"
#include "view.h"
#include "gate.h"
#include "perfmap.h"

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
	"g_realloc_n", "g_try_realloc_n", "g_malloc0_n", "g_try_malloc0", "g_try_malloc_n",
	"g_try_malloc0_n", "g_slice_alloc", "g_slice_alloc0", "g_memdup", "g_memdup2",
	/* CPython */
	"PyMem_*", "_PyMem_*", "PyObject_Malloc", "PyObject_Calloc", "PyObject_Realloc",
	"_PyObject_Malloc", "_PyObject_Calloc", "_PyObject_Realloc", "pymalloc_*",
	"_PyObject_GC_Resize", "PyObject_GC_Resize", "_PyObject_GC_New", "_PyObject_GC_NewVar",
	"_PyObject_GC_Malloc", "_PyObject_GC_Calloc", "gc_alloc", "_PyObject_New",
	"_PyObject_NewVar", "PyObject_Init", "PyObject_InitVar", "_PyObject_Init",
	"_PyObject_InitVar", "PyType_GenericAlloc", "_PyType_AllocNoTrack", "_PyObject_VirtualAlloc",
	"_PyObject_ArenaMmap", "_PyObject_ArenaMalloc", "new_arena", "allocate_from_new_pool",
	"tracemalloc_alloc*", "tracemalloc_realloc*", "tracemalloc_raw_*", "_PyMem_Debug*",
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
	"*std::__cxx11::basic_string<*>::_M_*", "*std::__cxx11::basic_string<*>::reserve*",
	"*std::__cxx11::basic_string<*>::push_back*", "*std::__cxx11::basic_string<*>::append*",
	"*std::__cxx11::basic_string<*>::operator+=*", "*std::__cxx11::basic_string<*>::insert*",
	"*std::__cxx11::basic_string<*>::replace*", "*std::__cxx11::basic_string<*>::resize*",
	"*std::__cxx11::basic_string<*>::assign*", "*std::basic_string<*>::_M_*",
	"std::__relocate_a*", "*std::__relocate_object_a*", "std::__uninitialized_*",
	"std::__do_uninit_copy*", "std::__copy_move*", "std::copy<*", "std::move<*",
	"std::__new_allocator<*", "__gnu_cxx::__alloc_traits<*", "std::__allocate_guarded*",
	"*std::deque<*>::_M_*", "*std::_Deque_base<*", "std::_Hashtable<*", "std::__detail::*",
	"*std::vector<*>::_M_check_len*", "*std::__cxx11::basic_string<*>::basic_string*",
	/* Rust */
	"__rust_alloc", "__rust_realloc", "__rust_alloc_zeroed", "__rdl_alloc", "__rdl_realloc",
	"__rdl_alloc_zeroed", "__rg_alloc", "__rg_realloc", "__rg_alloc_zeroed",
	"alloc::alloc::*", "<alloc::alloc::Global as core::alloc::Allocator>::*",
	"alloc::raw_vec::*", "<alloc::raw_vec::*", "std::alloc::*", "std::sys::alloc::*",
	"<alloc::alloc::Global>::*", "alloc::vec::*", "<alloc::vec::*", "alloc::string::*",
	"<alloc::string::*", "<alloc::collections::*", "alloc::collections::*",
	"alloc::boxed::*", "<alloc::boxed::*", "core::ptr::*",
	"std::sys::pal::unix::alloc::*", "<std::alloc::System as core::alloc::global::GlobalAlloc>::*",
	"__rustc::*", "__rust_alloc_error_handler", "hashbrown::raw::*", "<hashbrown::raw::*",
};

/*
 * Free paths: code that releases a block is never where a buffer grows (SPEC "site"). A
 * relocation step recorded at the free of its old block (traces of older preloads) names
 * the caller of these: the builder, not its release() helper. Matched like the wrappers.
 */
static const char *const free_paths[] = {
	"free", "cfree", "__libc_free", "__free*", "*_free", "*_free_*", "free_*", "*Free",
	"*_Free*", "*Free_*", "_Py_Dealloc", "Py_DECREF", "Py_XDECREF", "_Py_DECREF*", "_Py_XDECREF*",
	"Py_CLEAR", "*dealloc", "*_dealloc_*", "*Dealloc", "PyObject_GC_Del", "*_Clear", "*_clear",
	"*_clear_*", "clear_*", "*_ClearFrame", "*_finalize", "*_Fini",
	"operator delete*", "*::~*", "~*", "__rust_dealloc", "__rdl_dealloc", "__rg_dealloc",
	"core::ptr::drop_in_place*", "<* as core::ops::drop::Drop>::drop", "drop_in_place*",
	"release", "*_release", "release_*", "*Release", "destroy", "*_destroy", "destroy_*",
	"dispose", "*_dispose", "*_unref", "*_decref", "*_delete", "delete_*", "dealloc*",
	"drop", "*_drop", "drop_*", "discard", "*_discard", "recycle", "*_recycle", "reclaim",
	"*_reclaim", "cleanup", "*_cleanup", "cleanup_*", "unref", "decref",
	"Perl_sv_clear", "Perl_sv_free*", "Perl_safesysfree", "g_free", "g_free_sized",
	"g_slice_free*", "sqlite3DbFree*", "jv_mem_free", "jv_free",
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

/* Does `fn` match one of the globs, as it is or without its C++ parameter list? */
static int matches(const char *const *globs, size_t n, const char *fn)
{
	if (!fn)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (fnmatch(globs[i], fn, 0) == 0)
			return 1;
	const char *paren = strchr(fn, '(');
	if (paren && paren > fn) {
		char base[512];
		size_t len = (size_t)(paren - fn);
		if (len < sizeof base) {
			memcpy(base, fn, len);
			base[len] = 0;
			for (size_t i = 0; i < n; i++)
				if (fnmatch(globs[i], base, 0) == 0)
					return 1;
		}
	}
	return 0;
}

static int is_wrapper(const struct gp_view *v, const char *fn)
{
	return matches(v->wrappers, v->nwrappers, fn);
}

int gp_view_is_free_path(const char *fn)
{
	return matches(free_paths, sizeof free_paths / sizeof *free_paths, fn);
}

/* What the skipped frames and the site say about the code that grows (for advice). */
static unsigned flavor_of(const char *fn, const char *file)
{
	unsigned f = 0;
	if (fn) {
		if (strstr(fn, "std::vector<") || strstr(fn, "std::_Vector_base<"))
			f |= GP_FLAVOR_CXX_VECTOR;
		if (strstr(fn, "basic_string<"))
			f |= GP_FLAVOR_CXX_STRING;
		if (strstr(fn, "alloc::raw_vec") || strstr(fn, "alloc::vec::"))
			f |= GP_FLAVOR_RUST_VEC;
		if (strstr(fn, "alloc::string::"))
			f |= GP_FLAVOR_RUST_STRING;
	}
	if (file) {
		const char *b = strrchr(file, '/');
		b = b ? b + 1 : file;
		/* CPython's concatenation paths (not every function of those files: a C
		 * extension's _PyBytes_Resize is no `+=`). */
		static const char *const py_bytes[] = { "bytes_concat", "_PyBytes_FromSize",
			"PyBytes_FromStringAndSize", "PyBytes_Concat", "PyBytes_ConcatAndDel" };
		static const char *const py_str[] = { "resize_compact", "unicode_resize",
			"PyUnicode_Append", "PyUnicode_AppendAndDel", "PyUnicode_Concat",
			"unicode_concatenate", "_PyUnicode_New", "PyUnicode_New" };
		if (fn && strcmp(b, "bytesobject.c") == 0 &&
		    matches(py_bytes, sizeof py_bytes / sizeof *py_bytes, fn))
			f |= GP_FLAVOR_PY_BYTES;
		else if (fn && strcmp(b, "unicodeobject.c") == 0 &&
		         matches(py_str, sizeof py_str / sizeof *py_str, fn))
			f |= GP_FLAVOR_PY_STR;
		size_t n = strlen(b);
		if (n > 3 && strcmp(b + n - 3, ".rs") == 0)
			f |= GP_FLAVOR_RUST;
		if ((n > 4 && (strcmp(b + n - 4, ".cpp") == 0 || strcmp(b + n - 4, ".cxx") == 0 ||
		               strcmp(b + n - 4, ".hpp") == 0)) || (n > 3 && strcmp(b + n - 3, ".cc") == 0))
			f |= GP_FLAVOR_CXX;
	}
	return f;
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

/* The name a perf map gives code in no module (JIT, interpreter trampolines): while a trace
 * is read, from its own process's map; afterwards (reports walking all stacks) from the
 * first map of any trace, the latest first, that has it. */
static const char *perfmap_name(struct gp_view *v, uint64_t addr)
{
	size_t t = v->agg.ntraces;
	if (t > v->nperfmaps) {
		struct gp_perfmap **m = realloc(v->perfmaps, t * sizeof *m);
		if (!m)
			return NULL;
		v->perfmaps = m;
		for (size_t i = v->nperfmaps; i < t; i++)
			m[i] = gp_perfmap_for_trace(v->agg.traces[i].file, v->agg.traces[i].pid);
		v->nperfmaps = t;
	}
	const char *name = NULL;
	for (size_t i = t; i > 0 && !name; i--) {
		name = gp_perfmap_lookup(v->perfmaps[i - 1], addr);
		if (v->loading)
			break;
	}
	return gp_symbolizer_intern(v->sym, name);
}

static void symbolize_frame(struct gp_view *v, const struct gp_frame *f, struct gp_sym *out,
                            int *n, int max)
{
	if (!f->mod || !f->mod->path) {
		out[0] = (struct gp_sym){ perfmap_name(v, f->addr), NULL, 0 };
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

int gp_view_symbolize(struct gp_view *v, const struct gp_frame *f, struct gp_sym *out, int max)
{
	if (max <= 0)
		return 0;
	int n = 0;
	symbolize_frame(v, f, out, &n, max);
	return n;
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

/*
 * The one place where a site is chosen (SPEC "site"): the innermost logical frame outside
 * the profiler, libc, skipped modules and allocator wrappers, and for a relocation step
 * (`reloc`) free paths too: its stack may have been taken at the free of the old block (a
 * realloc step's stack is its realloc call, whatever the function is called). Sets *fi (the
 * physical frame, n if none) and *si (its inline level), and *flavor from the frames
 * passed over and the site itself. @return GP_SITE_WEAK when no frame qualifies (then *fi is
 * the innermost frame outside the profiler, or n).
 */
static uint32_t choose(struct gp_view *v, const struct gp_frame *frames, unsigned n, int reloc,
                       unsigned *fi_out, int *si_out, unsigned *flavor)
{
	struct gp_sym syms[MAX_INLINE];
	int nsym = 0;
	unsigned fi = n; /* chosen physical frame */
	int si = 0;      /* chosen inline level */
	unsigned fallback = n;
	*flavor = 0;
	for (unsigned i = 0; i < n && fi == n; i++) {
		const char *path = frames[i].mod ? frames[i].mod->path : NULL;
		if (path && strstr(path, "libgrowprof"))
			continue;
		if (fallback == n)
			fallback = i;
		if (gp_view_skip_module(v, path))
			continue;
		symbolize_frame(v, &frames[i], syms, &nsym, MAX_INLINE);
		for (int j = 0; j < nsym; j++) {
			*flavor |= flavor_of(syms[j].function, NULL);
			if (!is_wrapper(v, syms[j].function) &&
			    !(reloc && gp_view_is_free_path(syms[j].function))) {
				fi = i;
				si = j;
				*flavor |= flavor_of(syms[j].function, syms[j].file);
				break;
			}
		}
	}
	*fi_out = fi;
	*si_out = si;
	if (fi < n)
		return 0;
	*fi_out = fallback;
	*si_out = 0;
	return GP_SITE_WEAK;
}

int gp_view_site_frame(struct gp_view *v, const struct gp_frame *frames, unsigned n, int kind,
                       unsigned *fi, int *si)
{
	unsigned flavor;
	return choose(v, frames, n, kind == GP_KIND_RELOCATION, fi, si, &flavor) ? -1 : 0;
}

/* The logical frames of a stack from physical frame fi, inline level si, outward. */
static struct gp_vframe *vframes_from(struct gp_view *v, const struct gp_frame *frames,
                                      unsigned n, unsigned fi, int si, unsigned *count)
{
	struct gp_sym syms[MAX_INLINE];
	int nsym = 0;
	size_t cap = 16;
	unsigned k = 0;
	struct gp_vframe *out = malloc(cap * sizeof *out);
	if (!out)
		abort();
	for (unsigned i = fi; i < n; i++) {
		symbolize_frame(v, &frames[i], syms, &nsym, MAX_INLINE);
		for (int j = i == fi ? si : 0; j < nsym; j++) {
			if (GP_GROW(out, cap, k + 1, 16))
				abort();
			out[k++] = vframe(v, &frames[i], &syms[j]);
		}
	}
	*count = k;
	return out;
}

/* The site of a stack (gp_site_fn): sites that would print the same (function, file and
 * line of one module) are one site, whatever the address or the inlining. */
static uint32_t resolve_kind(struct gp_view *v, const struct gp_frame *frames, unsigned n,
                             int reloc)
{
	struct gp_sym syms[MAX_INLINE];
	int nsym = 0;
	unsigned fi, flavor;
	int si;
	uint32_t weak = choose(v, frames, n, reloc, &fi, &si, &flavor);
	if (fi < n)
		symbolize_frame(v, &frames[fi], syms, &nsym, MAX_INLINE);

	char key[4200];
	const char *mpath = fi < n && frames[fi].mod && frames[fi].mod->path ? frames[fi].mod->path
	                                                                     : "?";
	if (fi == n)
		snprintf(key, sizeof key, "?");
	else if (syms[si].function && syms[si].file && syms[si].line > 0)
		snprintf(key, sizeof key, "%s|%s|%s|%d", mpath, syms[si].function,
		         norm_file(v, syms[si].file), syms[si].line);
	else
		snprintf(key, sizeof key, "%s@%llx#%d",
		         frames[fi].mod && frames[fi].mod->path ? mpath
		         : syms[si].function ? syms[si].function : "?",
		         (unsigned long long)frames[fi].addr, si);
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
	s->flavor = flavor;
	/* The site's stack: from the site outward, inline levels expanded (the first stack seen;
	 * reports show the heaviest, gp_view_site_stack). */
	if (fi < n) {
		s->stack = vframes_from(v, frames, n, fi, si, &s->nstack);
		s->where = s->stack[0];
	}
	k->id = s->id;
	v->sites[v->nsites++] = s;
	HASH_ADD_KEYPTR(hh, index, k->key, strlen(k->key), k);
	v->site_index = index;
	return s->id | weak;
}

static uint32_t resolve(void *ctx, const struct gp_frame *frames, unsigned n)
{
	return resolve_kind(ctx, frames, n, 0);
}

static uint32_t resolve_reloc(void *ctx, const struct gp_frame *frames, unsigned n)
{
	return resolve_kind(ctx, frames, n, 1);
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
	v->agg.reloc_site_fn = resolve_reloc;
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
	v->loading = 1;
	int rc = gp_agg_add_file(&v->agg, path);
	v->loading = 0;
	if (v->progress)
		fputs("\r\033[K", stderr);
	return rc;
}

void gp_view_release(struct gp_view *v)
{
	gp_agg_release(&v->agg);
	gp_run_release(&v->run);
	struct site_key *index = v->site_index, *k, *tmp;
	HASH_ITER(hh, index, k, tmp) {
		HASH_DEL(index, k);
		free(k->key);
		free(k);
	}
	for (uint32_t i = 0; i < v->nsites; i++) {
		for (int h = 0; h < 16; h++)
			free(v->sites[i]->heavy[h / 4][h % 4]);
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
	for (size_t i = 0; i < v->nperfmaps; i++)
		gp_perfmap_free(v->perfmaps[i]);
	free(v->perfmaps);
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

/* The function to name in advice: the site of the row's stack, never a free path. */
static const char *code_name(const struct gp_row *r)
{
	const struct gp_vframe *w = r->nstack ? &r->stack[0] : &r->site->where;
	if (!w->function || (r->kind == GP_KIND_RELOCATION && gp_view_is_free_path(w->function)))
		return "the code that grows it";
	return w->function;
}

/* The details of a row's pattern: its heaviest chain of that pattern, or the pooled grows
 * of chains too short to tell on their own. */
static const struct gp_shape *main_shape(const struct gp_row *r, int *pooled)
{
	const struct gp_shapes *sh = &r->st->shapes;
	*pooled = r->pattern != GP_PATTERN_FEW && !sh->have_top[r->pattern];
	return *pooled ? &sh->pooled : &sh->top[r->pattern];
}

static void shape_words(char *what, size_t cap, enum gp_pattern p, const struct gp_shape *t)
{
	char b[32];
	switch (p) {
	case GP_PATTERN_LINEAR:
		snprintf(what, cap, "linear (+%s a grow)", gp_fmt_bytes(b, sizeof b, t->delta));
		break;
	case GP_PATTERN_GEOMETRIC:
		snprintf(what, cap, "geometric (x%.3g)", t->factor);
		break;
	case GP_PATTERN_FEW:
		snprintf(what, cap, "too few grows to tell (under %d a chain)", GP_SHAPE_MIN_GROWS);
		break;
	default:
		snprintf(what, cap, "mixed: %s", t->what);
	}
}

/* The pattern in words, and the other shapes seen at the same site (SPEC: reported, not
 * averaged). */
static void describe(struct gp_row *r)
{
	const struct gp_shapes *sh = &r->st->shapes;
	char *out = r->pattern_text;
	size_t cap = sizeof r->pattern_text, o = 0;
	uint64_t copied = 0, chains = 0;
	for (int p = 0; p < GP_PATTERN_N; p++) {
		copied += sh->copied[p];
		chains += sh->chains[p];
	}
	int pooled;
	const struct gp_shape *m = main_shape(r, &pooled);
	char what[200], n[32];
	shape_words(what, sizeof what, r->pattern, m);
	o += (size_t)snprintf(out, cap, "%s", what);
	if (pooled && o < cap)
		o += (size_t)snprintf(out + o, cap - o, ", from the grows of %s chains of 2 grows",
		                      gp_fmt_count(n, sizeof n, sh->chains[GP_PATTERN_FEW]));
	for (int p = 0; p < GP_PATTERN_N && o < cap; p++) {
		if (p == (int)r->pattern || !sh->have_top[p] || (pooled && p == GP_PATTERN_FEW))
			continue;
		/* Other shapes: only those that hold a twentieth of the bytes (or chains). */
		double share = copied ? (double)sh->copied[p] / (double)copied
		                      : chains ? (double)sh->chains[p] / (double)chains : 0;
		if (share < 0.05)
			continue;
		shape_words(what, sizeof what, (enum gp_pattern)p, &sh->top[p]);
		o += (size_t)snprintf(out + o, cap - o, "; also %s in %s chain%s (%.0f%% of %s)",
		                      what, gp_fmt_count(n, sizeof n, sh->chains[p]),
		                      sh->chains[p] == 1 ? "" : "s", 100 * share,
		                      copied ? "bytes copied" : "chains");
	}
}

/*
 * Advice with numbers (SPEC "advice"): only where it saves (at least one copy and more than
 * 0 bytes, both stated), in the words of the code it names; amortized growth says so and
 * stops. Reserving the final size up front (or building from parts) copies nothing, so it
 * saves every copy the site made.
 */
static void advise(struct gp_row *r, int origin)
{
	const struct gp_stats *st = r->st;
	uint64_t copies = st->moves - st->remaps;
	char *adv = r->advice;
	size_t cap = sizeof r->advice;
	if (copies == 0 || st->bytes_copied == 0) {
		snprintf(adv, cap, "%s", st->remaps ? "no copies: the moves were mremaps of mmapped blocks"
		                     : copies ? "no bytes copied: nothing to save"
		                              : "no copies: every step grew or shrank in place");
		return;
	}
	char peak[32], copied[32], ncopies[32], delta[32], geo[32], gsave[32];
	gp_fmt_bytes(copied, sizeof copied, (double)st->bytes_copied);
	gp_fmt_bytes(peak, sizeof peak, (double)st->peak_max);
	gp_fmt_count(ncopies, sizeof ncopies, copies);
	const char *name = code_name(r);
	unsigned fl = r->site->flavor;
	char saves[96];
	snprintf(saves, sizeof saves, "saves %s cop%s / %s", ncopies, copies == 1 ? "y" : "ies",
	         copied);

	/* CPython bytes and str cannot grow: every += builds a new object (whatever the
	 * pattern), so the fix is to build from parts. */
	if (fl & GP_FLAVOR_PY_BYTES) {
		snprintf(adv, cap, "bytes += copies the whole object each time (bytes cannot grow): "
		         "collect the parts and b\"\".join() them, or append to a bytearray or an "
		         "io.BytesIO (%s)", saves);
		return;
	}
	if (fl & GP_FLAVOR_PY_STR && r->pattern != GP_PATTERN_GEOMETRIC) {
		snprintf(adv, cap, "str += copies the string as it grows: collect the parts and "
		         "\"\".join() them, or write to an io.StringIO (%s)", saves);
		return;
	}
	int pooled;
	const struct gp_shape *m = main_shape(r, &pooled);
	if (r->pattern == GP_PATTERN_GEOMETRIC) {
		snprintf(adv, cap, "geometric (x%.3g): copying is already amortized (%.2fx the chains' "
		         "peaks); nothing to change", m->factor, r->amplification);
		return;
	}
	if (fl & (GP_FLAVOR_CXX_VECTOR | GP_FLAVOR_CXX_STRING)) {
		snprintf(adv, cap, "call reserve() on the %s in %s before it grows (to ~%s, the "
		         "largest it reached): %s", fl & GP_FLAVOR_CXX_VECTOR ? "std::vector"
		         : "std::string", name, peak, saves);
		return;
	}
	if (fl & (GP_FLAVOR_RUST_VEC | GP_FLAVOR_RUST_STRING)) {
		snprintf(adv, cap, "create it with %s::with_capacity() in %s (~%s, the largest it "
		         "reached): %s", fl & GP_FLAVOR_RUST_VEC ? "Vec" : "String", name, peak, saves);
		return;
	}
	/* A C realloc (or malloc + copy) loop. Doubling copies at most about the final size
	 * once per chain: the sum of the chains' peaks. */
	double after = (double)st->peak_bytes;
	double gs = (double)st->bytes_copied - after;
	gp_fmt_bytes(geo, sizeof geo, after);
	gp_fmt_bytes(gsave, sizeof gsave, gs);
	char lead[200] = "";
	if (r->pattern == GP_PATTERN_LINEAR)
		snprintf(lead, sizeof lead, "grows +%s a step: ",
		         gp_fmt_bytes(delta, sizeof delta, m->delta));
	else if (r->pattern == GP_PATTERN_MIXED)
		snprintf(lead, sizeof lead, "grows %s: ", m->what);
	if (r->pattern != GP_PATTERN_FEW && gs >= 1 && gs >= 0.1 * (double)st->bytes_copied)
		snprintf(adv, cap, "%sgrow the capacity geometrically (x1.5-x2) in %s to copy ~%s "
		         "instead of %s (saves ~%s), or reserve ~%s up front %s(%s)", lead, name, geo,
		         copied, gsave, peak, origin ? "where it is allocated " : "", saves);
	else
		snprintf(adv, cap, "%sreserve ~%s up front in %s (%s)", lead, peak, name, saves);
}

static enum gp_sort sort_key;

/* A stack's weight by the sort key, as a site's stack (steps there) or an origin's (chains
 * begun there). Amplification has no per-stack meaning: bytes copied decide. */
static double stack_weight(const struct gp_stack *s, int origin, enum gp_sort key)
{
	if (origin)
		switch (key) {
		case GP_SORT_MOVES:
		case GP_SORT_STEPS: return (double)s->osteps;
		default: return (double)s->obytes_copied;
		}
	switch (key) {
	case GP_SORT_MOVES: return (double)s->moves;
	case GP_SORT_STEPS: return (double)s->steps;
	default: return (double)s->bytes_copied;
	}
}

/* Give each site its heaviest stack of each kind, as a site and as an origin, by `key`. */
static void pick_heavy(struct gp_view *v, enum gp_sort key)
{
	size_t nslots = (size_t)v->nsites * 4;
	size_t *best = malloc((nslots ? nslots : 1) * sizeof *best);
	double *bw = malloc((nslots ? nslots : 1) * sizeof *bw);
	if (!best || !bw)
		abort();
	for (size_t i = 0; i < nslots; i++)
		best[i] = SIZE_MAX;
	const struct gp_agg *a = &v->agg;
	for (size_t i = 0; i < a->nstacks; i++) {
		const struct gp_stack *s = &a->stacks[i];
		for (int origin = 0; origin < 2; origin++) {
			if (origin ? !s->ochains : !s->steps)
				continue;
			int kind = origin ? s->okind : s->kind;
			uint32_t id = !origin && kind == GP_KIND_RELOCATION ? s->rsite : s->site;
			if (id >= v->nsites)
				continue;
			size_t slot = (size_t)id * 4 + (size_t)(origin * 2 + kind);
			double w = stack_weight(s, origin, key);
			const struct gp_stack *o = best[slot] == SIZE_MAX ? NULL : &a->stacks[best[slot]];
			/* Ties: more steps, then the first seen (reports are reproducible). */
			if (!o || w > bw[slot] ||
			    (w == bw[slot] && (origin ? s->osteps > o->osteps : s->steps > o->steps))) {
				best[slot] = i;
				bw[slot] = w;
			}
		}
	}
	for (uint32_t id = 0; id < v->nsites; id++) {
		struct gp_site *site = v->sites[id];
		if (site->have_heavy[key])
			continue;
		site->have_heavy[key] = 1;
		for (int slot = 0; slot < 4; slot++) {
			size_t bi = best[(size_t)id * 4 + (size_t)slot];
			if (bi == SIZE_MAX)
				continue;
			const struct gp_stack *s = &a->stacks[bi];
			unsigned fi;
			int si;
			gp_view_site_frame(v, s->frames, s->n, slot == 1 ? GP_KIND_RELOCATION
			                                                  : GP_KIND_REALLOC, &fi, &si);
			if (fi < s->n)
				site->heavy[key][slot] = vframes_from(v, s->frames, s->n, fi, si,
				                                      &site->nheavy[key][slot]);
		}
	}
	free(best);
	free(bw);
}

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
	pick_heavy(v, key);
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
			int slot = origins * 2 + kind;
			if (r->site->nheavy[key][slot]) {
				r->stack = r->site->heavy[key][slot];
				r->nstack = r->site->nheavy[key][slot];
			} else {
				r->stack = r->site->stack;
				r->nstack = r->site->nstack;
			}
			describe(r);
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
