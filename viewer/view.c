/* view.c - traces -> symbolized sites: wrappers and skipped modules, site choice, the
 * symbolization glue (perf maps, normalized paths) and loading (see view.h). The rows the
 * reports print are derived in view_rows.c. */
#define _GNU_SOURCE
#include "gp_grow.h"
#include "view.h"
#include "gate.h"
#include "perfmap.h"

#include <fnmatch.h>
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
	/* ... and its character copiers: a relocation's stack is taken at the copy, and the
	 * code that grows a str is the concatenation that called them */
	"_copy_characters", "_PyUnicode_FastCopyCharacters", "PyUnicode_CopyCharacters",
	"_PyUnicode_FastFill", "unicode_fill",
	/* Perl, Lua, SQLite, jq, OpenSSL */
	"Perl_safesysmalloc", "Perl_safesysrealloc", "Perl_safesyscalloc",
	"l_alloc", "luaM_realloc_", "luaM_malloc_", "luaM_saferealloc_", "luaM_growaux_",
	"sqlite3MemMalloc", "sqlite3MemRealloc", "sqlite3Malloc", "sqlite3Realloc",
	"sqlite3_malloc", "sqlite3_malloc64", "sqlite3_realloc", "sqlite3_realloc64",
	"sqlite3DbMallocRaw*", "sqlite3DbRealloc*", "sqlite3DbMallocZero", "dbReallocFinish",
	"sqlite3DbReallocOrFree",
	"jv_mem_alloc", "jv_mem_alloc_unguarded", "jv_mem_calloc", "jv_mem_realloc",
	"CRYPTO_malloc", "CRYPTO_zalloc", "CRYPTO_realloc", "CRYPTO_clear_realloc",
	/* Redis and Valkey (zmalloc.c): the site of an sds's growth is _sdsMakeRoomFor */
	"zmalloc", "zcalloc", "zrealloc", "zmalloc_usable", "zcalloc_usable", "zrealloc_usable",
	"ztrymalloc*", "ztrycalloc*", "ztryrealloc*", "zmalloc_no_tcache", "zfree_no_tcache",
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
/* Is the first named frame outward of physical frame i an allocator wrapper? Then an
 * unnamed frame at i (a static function of a stripped library: sqlite3MemRealloc under
 * sqlite3Realloc) is inside the allocator layer too, not the code that grows. */
static int unnamed_under_wrapper(struct gp_view *v, const struct gp_frame *frames, unsigned n,
                                 unsigned i)
{
	struct gp_sym syms[MAX_INLINE];
	int nsym = 0;
	for (unsigned k = i + 1; k < n; k++) {
		const char *path = frames[k].mod ? frames[k].mod->path : NULL;
		if (gp_view_skip_module(v, path))
			continue;
		symbolize_frame(v, &frames[k], syms, &nsym, MAX_INLINE);
		for (int j = 0; j < nsym; j++)
			if (syms[j].function)
				return is_wrapper(v, syms[j].function);
	}
	return 0;
}

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
			    !(reloc && gp_view_is_free_path(syms[j].function)) &&
			    !(!syms[j].function && unnamed_under_wrapper(v, frames, n, i))) {
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

struct gp_vframe *gp_view_vframes(struct gp_view *v, const struct gp_frame *frames,
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
	size_t cap = v->capsites;
	if (GP_GROW(v->sites, cap, (size_t)v->nsites + 1, 256))
		abort();
	v->capsites = (uint32_t)cap;
	if (!s || !k || !(k->key = strdup(key))) {
		fputs("growprof: out of memory\n", stderr);
		exit(2);
	}
	s->id = v->nsites;
	s->flavor = flavor;
	/* The site's stack: from the site outward, inline levels expanded (the first stack seen;
	 * reports show the heaviest, gp_view_site_stack). */
	if (fi < n) {
		s->stack = gp_view_vframes(v, frames, n, fi, si, &s->nstack);
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

/* v->run is the view's: run.c fills it, the view frees it with the rest (so that the view
 * never calls back into run.c, which loads through the view). */
static void run_release(struct gp_run *r)
{
	free(r->reloc_copied);
	free(r->reloc_steps);
	free(r->damaged);
	for (size_t i = 0; i < r->nnotes; i++)
		free(r->notes[i]);
	free(r->notes);
	memset(r, 0, sizeof *r);
}

void gp_view_release(struct gp_view *v)
{
	gp_agg_release(&v->agg);
	run_release(&v->run);
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
