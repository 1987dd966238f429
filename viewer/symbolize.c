/*
 * symbolize.c - address to (function, file, line) frames via elfutils libdwfl/libdw.
 *
 * Structure: one Dwfl session per module path, opened on first use and kept until
 * gp_symbolizer_free (opening and indexing DWARF is the expensive part). Each module keeps a
 * hash table addr -> resolved frames, so the viewer can ask for the same address many times.
 * Every string handed out is interned in one symbolizer-wide table, so results stay valid
 * however the caches evolve and equal names compare equal by pointer.
 */
#define _GNU_SOURCE
#include "gp_grow.h"
#include "symbolize.h"
#include "symbolize_int.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <libiberty/demangle.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dwfl keeps a pointer to this for the module's lifetime, so it must be static.
 * debuginfo_path NULL means the default search (.build-id dirs under /usr/lib/debug, the
 * debuglink next to the file and in .debug/ and /usr/lib/debug); GROWPROF_DEBUG_DIR adds
 * directories searched the same way before /usr/lib/debug (gp_symbolizer_new). When all of
 * that finds nothing and DEBUGINFOD_URLS is set, dwfl_standard_find_debuginfo asks
 * debuginfod by build id (elfutils loads libdebuginfod.so.1; its client keeps the download
 * in its cache, $DEBUGINFOD_CACHE_PATH or ~/.cache/debuginfod_client). */
static char *gp_debuginfo_path = NULL;
static const Dwfl_Callbacks gp_offline_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &gp_debuginfo_path,
};

struct gp_symbolizer *gp_symbolizer_new(void)
{
	/* In dwfl's syntax: "" is the file's own directory, ".debug" a directory beside it,
	 * an absolute entry a root holding .build-id/ and the files' directory trees. */
	static char path[4096];
	const char *dirs = getenv("GROWPROF_DEBUG_DIR");
	if (gp_debuginfo_path == NULL && dirs != NULL && dirs[0] != '\0' &&
	    (size_t)snprintf(path, sizeof path, ":.debug:%s:/usr/lib/debug", dirs) < sizeof path)
		gp_debuginfo_path = path;
	return calloc(1, sizeof(struct gp_symbolizer));
}

void gp_symbolizer_free(struct gp_symbolizer *s)
{
	if (s == NULL)
		return;
	struct gp_module *m, *mtmp;
	HASH_ITER(hh, s->modules, m, mtmp) {
		HASH_DEL(s->modules, m);
		struct gp_addrent *a, *atmp;
		HASH_ITER(hh, m->addrs, a, atmp) {
			HASH_DEL(m->addrs, a);
			free(a);
		}
		struct gp_diename *d, *dtmp;
		HASH_ITER(hh, m->names, d, dtmp) {
			HASH_DEL(m->names, d);
			free(d);
		}
		HASH_ITER(hh, m->declsyms, d, dtmp) {
			HASH_DEL(m->declsyms, d);
			free(d);
		}
		struct gp_cuindex *c, *ctmp;
		HASH_ITER(hh, m->cus, c, ctmp) {
			HASH_DEL(m->cus, c);
			free(c->ranges);
			free(c);
		}
		free(m->syms);
		free(m->units);
		if (m->dwfl != NULL)
			dwfl_end(m->dwfl);
		free(m->build_id);
		free(m);
	}
	struct gp_dmgl *g, *gtmp;
	HASH_ITER(hh, s->demangled, g, gtmp) {
		HASH_DEL(s->demangled, g);
		free(g);
	}
	struct gp_istr *i, *itmp;
	HASH_ITER(hh, s->strings, i, itmp) {
		HASH_DEL(s->strings, i);
		free(i);
	}
	free(s);
}

/* Open `path` in its own offline Dwfl session and cache the module entry, also when opening
 * fails, so that a missing file costs one hash lookup per call. NULL only on out of memory. */
static struct gp_module *gp_module_get(struct gp_symbolizer *s, const char *path)
{
	size_t plen = strlen(path);
	struct gp_module *m;
	HASH_FIND(hh, s->modules, path, plen, m);
	if (m != NULL)
		return m;

	m = calloc(1, sizeof(*m) + plen + 1);
	if (m == NULL)
		return NULL;
	memcpy(m->path, path, plen + 1);

	m->dwfl = dwfl_begin(&gp_offline_callbacks);
	if (m->dwfl != NULL) {
		dwfl_report_begin(m->dwfl);
		/* Base 0 relative to p_vaddr: module addresses equal the file's own vaddrs for
		 * ET_DYN and ET_EXEC alike, which is exactly the address space our callers use.
		 * fd -1 lets dwfl open the file; an unreadable or non-ELF file gives NULL here. */
		m->mod = dwfl_report_elf(m->dwfl, path, path, -1, 0, true);
		if (dwfl_report_end(m->dwfl, NULL, NULL) != 0)
			m->mod = NULL;
		if (m->mod == NULL) {
			dwfl_end(m->dwfl);
			m->dwfl = NULL;
		}
	}
	if (m->mod != NULL) {
		const unsigned char *bits;
		GElf_Addr vaddr;
		int n = dwfl_module_build_id(m->mod, &bits, &vaddr);
		if (n > 0) {
			m->build_id = malloc((size_t)n);
			if (m->build_id != NULL) {
				memcpy(m->build_id, bits, (size_t)n);
				m->build_id_len = (size_t)n;
			}
		}
	}

	HASH_ADD_KEYPTR(hh, s->modules, m->path, plen, m);
	if (!gp_hash_added(m)) {
		if (m->dwfl != NULL)
			dwfl_end(m->dwfl);
		free(m->build_id);
		free(m);
		return NULL;
	}
	return m;
}


/* Interned path of a source file named by `cu`'s line program: relative names are joined to
 * the CU's compilation directory, so that e.g. every Rust crate's "src/lib.rs" stays
 * distinct and the viewer can open the file. */
static const char *gp_source_path(struct gp_symbolizer *s, Dwarf_Die *cu, const char *file)
{
	if (file == NULL)
		return NULL;
	Dwarf_Attribute attr;
	const char *dir = file[0] != '/' && cu != NULL
	                      ? dwarf_formstring(dwarf_attr_integrate(cu, DW_AT_comp_dir, &attr))
	                      : NULL;
	if (dir == NULL || dir[0] == '\0')
		return gp_intern(s, file);
	size_t dlen = strlen(dir), flen = strlen(file);
	bool slash = dir[dlen - 1] != '/';
	char *buf = malloc(dlen + slash + flen + 1);
	if (buf == NULL)
		return NULL;
	memcpy(buf, dir, dlen);
	if (slash)
		buf[dlen] = '/';
	memcpy(buf + dlen + slash, file, flen + 1);
	const char *r = gp_intern_n(s, buf, dlen + slash + flen);
	free(buf);
	return r;
}

/* Call-site file and line of an inlined_subroutine DIE, from its CU's file table. */
static void gp_call_site(struct gp_symbolizer *s, Dwarf_Die *inl, struct gp_sym *out)
{
	Dwarf_Attribute attr;
	Dwarf_Word val;
	Dwarf_Die cu;
	Dwarf_Files *files;
	size_t nfiles;

	out->file = NULL;
	out->line = 0;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &attr), &val) == 0 && val <= INT32_MAX)
		out->line = (int)val;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &attr), &val) == 0 &&
	    dwarf_diecu(inl, &cu, NULL, NULL) != NULL &&
	    dwarf_getsrcfiles(&cu, &files, &nfiles) == 0 && val < nfiles)
		out->file = gp_source_path(s, &cu, dwarf_filesrc(files, val, NULL, NULL));
}


/* Growable array of function ranges while a CU is indexed. */
struct gp_rangevec {
	struct gp_funcrange *v;
	size_t n, cap;
	bool oom;
};

static void gp_rangevec_push(struct gp_rangevec *rv, Dwarf_Addr low, Dwarf_Addr high,
                             Dwarf_Die *die)
{
	if (GP_GROW(rv->v, rv->cap, rv->n + 1, 64)) {
		rv->oom = true;
		return;
	}
	rv->v[rv->n].low = low;
	rv->v[rv->n].high = high;
	rv->v[rv->n].die = *die;
	rv->n++;
}

/* Record the ranges of every concrete function below `parent`. Functions hide in many places:
 * inside namespace/class DIEs without ranges (Rust puts all its functions there), and inside
 * other functions and blocks (the concrete operator() of a C++ lambda sits in the closure
 * type declared in its enclosing function, GCC nested functions in their parent), so every
 * DIE that can own such scopes is searched; data and type DIEs are not. */
static void gp_collect_functions(Dwarf_Die *parent, struct gp_rangevec *rv, int depth)
{
	Dwarf_Die child, next;
	if (depth > GP_MAX_INLINE || dwarf_child(parent, &child) != 0)
		return;
	for (;;) {
		switch (dwarf_tag(&child)) {
		case DW_TAG_subprogram: {
			Dwarf_Addr base, low, high;
			ptrdiff_t off = 0;
			while ((off = dwarf_ranges(&child, off, &base, &low, &high)) > 0) {
				/* Functions discarded by the linker keep their DWARF with the
				 * start address resolved to 0; no real code lives at 0 (ELF
				 * header), so drop those. */
				if (low != 0 && low < high)
					gp_rangevec_push(rv, low, high, &child);
			}
			gp_collect_functions(&child, rv, depth + 1);
			break;
		}
		case DW_TAG_namespace:
		case DW_TAG_module:
		case DW_TAG_class_type:
		case DW_TAG_structure_type:
		case DW_TAG_union_type:
		case DW_TAG_interface_type:
		case DW_TAG_lexical_block:
		case DW_TAG_inlined_subroutine:
		case DW_TAG_try_block:
		case DW_TAG_catch_block:
			gp_collect_functions(&child, rv, depth + 1);
			break;
		default:
			break;
		}
		if (dwarf_siblingof(&child, &next) != 0)
			break;
		child = next;
	}
}

static int gp_funcrange_cmp(const void *a, const void *b)
{
	const struct gp_funcrange *x = a, *y = b;
	if (x->low != y->low)
		return x->low < y->low ? -1 : 1;
	/* Larger ranges first, so that among equal starts the narrower one is found last. */
	return x->high > y->high ? -1 : x->high < y->high;
}

/* Demangled name of a mangled symbol without GCC's " [clone .cold]"-style suffix, interned;
 * NULL if the symbol is not mangled. DWARF treats the hot and .cold parts (and other
 * clones) as one function, so the suffix that only the symbol has is dropped. */
static const char *gp_symbol_function_name(struct gp_symbolizer *s, const char *sym)
{
	if (sym[0] != '_' || (sym[1] != 'Z' && sym[1] != 'R'))
		return NULL;
	const char *dem = gp_symbolizer_demangle(s, sym);
	if (dem == sym)
		return NULL;
	const char *clone = strstr(dem, " [clone ");
	return gp_intern_n(s, dem, clone != NULL ? (size_t)(clone - dem) : strlen(dem));
}

/* GCC omits DW_AT_linkage_name for functions with internal linkage (static functions,
 * anonymous namespaces, lambdas), so DWARF alone names them "ns::helper" while their
 * symbol, when an out-of-line copy exists, demangles to "ns::helper(int)" or
 * "main::{lambda(int)#1}::operator()(int) const". Remember the symbol's name for the
 * declaration, so that the out-of-line copy and every inlined instance get the same, fuller
 * name. Such functions are local to their CU, so noting them while the CU is indexed comes
 * before any address in the CU is named. */
static void gp_note_symbol_name(struct gp_symbolizer *s, struct gp_module *m,
                                struct gp_funcrange *r, Dwarf_Addr bias)
{
	const char *link = gp_die_linkage_name(&r->die);
	if (link != NULL && gp_symbolizer_demangle(s, link) != link)
		return;
	const struct gp_syment *sym = gp_sym_lookup(m, r->low + bias);
	if (sym == NULL || sym->value != r->low + bias)
		return;
	const char *name = gp_symbol_function_name(s, sym->name);
	Dwarf_Die decl;
	gp_die_declaration(&r->die, &decl);
	if (name == NULL || gp_decl_symbol(m, &decl) != NULL)
		return;
	struct gp_diename *e = malloc(sizeof(*e));
	if (e == NULL)
		return;
	e->die_addr = decl.addr;
	e->name = name;
	HASH_ADD(hh, m->declsyms, die_addr, sizeof(e->die_addr), e);
	if (!gp_hash_added(e))
		free(e);
}

/* The function index of `cudie`, built on first use; NULL on out of memory. `bias` is the
 * difference between module and DWARF addresses. */
static struct gp_cuindex *gp_cuindex_get(struct gp_symbolizer *s, struct gp_module *m,
                                         Dwarf_Die *cudie, Dwarf_Addr bias)
{
	struct gp_cuindex *c;
	const void *key = cudie->addr;
	HASH_FIND(hh, m->cus, &key, sizeof(key), c);
	if (c != NULL)
		return c;

	struct gp_rangevec rv = {0};
	gp_collect_functions(cudie, &rv, 0);
	if (rv.oom) {
		free(rv.v);
		return NULL;
	}
	if (rv.n > 1)
		qsort(rv.v, rv.n, sizeof(rv.v[0]), gp_funcrange_cmp);
	if (gp_lang_is_qualified(dwarf_srclang(cudie))) {
		for (size_t i = 0; i < rv.n; i++)
			gp_note_symbol_name(s, m, &rv.v[i], bias);
	}
	c = malloc(sizeof(*c));
	if (c == NULL) {
		free(rv.v);
		return NULL;
	}
	c->cu_addr = key;
	c->n = rv.n;
	c->ranges = rv.v;
	HASH_ADD(hh, m->cus, cu_addr, sizeof(c->cu_addr), c);
	if (!gp_hash_added(c)) {
		free(c->ranges);
		free(c);
		return NULL;
	}
	return c;
}

/* The DIE of the range containing pc in v[0..n) sorted by gp_funcrange_cmp, NULL if none. */
static Dwarf_Die *gp_range_find(struct gp_funcrange *v, size_t n, Dwarf_Addr pc)
{
	/* Last range starting at or before pc. */
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].low <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Ranges of distinct functions (or CUs) do not overlap in sane DWARF; a few steps
	 * back still cope with an enclosing range that starts earlier (duplicate or odd
	 * descriptions). */
	for (size_t i = lo, steps = 0; i > 0 && steps < 8; i--, steps++) {
		if (pc < v[i - 1].high)
			return &v[i - 1].die;
	}
	return NULL;
}

/* Index every CU of the module by its address ranges. libdwfl finds the CU of an address
 * through .debug_aranges only (elfutils 0.188), which clang does not emit by default; without
 * this, clang-built modules would get no DWARF at all. */
static void gp_units_build(struct gp_module *m)
{
	m->units_built = true;
	struct gp_rangevec rv = {0};
	Dwarf_Die *cu = NULL;
	Dwarf_Addr bias = 0;
	while ((cu = dwfl_module_nextcu(m->mod, cu, &bias)) != NULL) {
		Dwarf_Addr base, low, high;
		ptrdiff_t off = 0;
		while ((off = dwarf_ranges(cu, off, &base, &low, &high)) > 0) {
			if (low != 0 && low < high)
				gp_rangevec_push(&rv, low, high, cu);
		}
		m->units_bias = bias;
	}
	if (rv.oom || rv.n == 0) {
		free(rv.v);
		return;
	}
	qsort(rv.v, rv.n, sizeof(rv.v[0]), gp_funcrange_cmp);
	m->units = rv.v;
	m->nunits = rv.n;
}

/* The CU containing module address addr and the bias between module and DWARF addresses. */
static Dwarf_Die *gp_unit_find(struct gp_module *m, Dwarf_Addr addr, Dwarf_Addr *bias)
{
	Dwarf_Die *cu = dwfl_module_addrdie(m->mod, addr, bias);
	if (cu != NULL)
		return cu;
	if (!m->units_built)
		gp_units_build(m);
	*bias = m->units_bias;
	return gp_range_find(m->units, m->nunits, addr - m->units_bias);
}

/* Whether `die` covers pc: 1 yes, 0 no, -1 unknown. Unknown is a DIE without address
 * attributes (a block can still hold inlines with their own), or with a range list that is
 * empty from its first entry: GCC 12 with -gdwarf-4 encodes an empty range at the CU base
 * address as the pair (0, 0), which is also the end-of-list marker, so the whole list of such
 * an inline reads as empty although its children carry valid ranges. */
static int gp_covers(Dwarf_Die *die, Dwarf_Addr pc)
{
	if (dwarf_haspc(die, pc) == 1)
		return 1;
	if (dwarf_hasattr(die, DW_AT_low_pc))
		return 0;
	if (!dwarf_hasattr(die, DW_AT_ranges))
		return -1;
	Dwarf_Addr base, low, high;
	return dwarf_ranges(die, 0, &base, &low, &high) > 0 ? 0 : -1;
}

/* Append to chain[] the inlined_subroutine DIEs containing pc below `parent`, outermost
 * first. Lexical and other blocks are looked through. A DIE of unknown extent (see
 * gp_covers) is searched, and an inline of unknown extent is kept only when something inside
 * it is known to contain pc. Returns whether an inline containing pc was found below. */
static bool gp_find_inlines(Dwarf_Die *parent, Dwarf_Addr pc, Dwarf_Die *chain, int *n,
                            int depth)
{
	Dwarf_Die child, next;
	if (depth > GP_MAX_INLINE || dwarf_child(parent, &child) != 0)
		return false;
	for (;;) {
		int cov;
		switch (dwarf_tag(&child)) {
		case DW_TAG_inlined_subroutine:
			cov = gp_covers(&child, pc);
			if (cov != 0) {
				int saved = *n;
				chain[(*n)++] = child;
				if (gp_find_inlines(&child, pc, chain, n, depth + 1) || cov == 1)
					return true;
				*n = saved;
			}
			break;
		case DW_TAG_lexical_block:
		case DW_TAG_try_block:
		case DW_TAG_catch_block:
		case DW_TAG_with_stmt:
			if (gp_covers(&child, pc) != 0 &&
			    gp_find_inlines(&child, pc, chain, n, depth + 1))
				return true;
			break;
		default:
			break;
		}
		if (dwarf_siblingof(&child, &next) != 0)
			break;
		child = next;
	}
	return false;
}

/* CU DIE to search for addr: with split DWARF the skeleton in the main file only has the
 * ranges, the functions are in the split unit (.dwo / .dwp). */
static Dwarf_Die *gp_code_unit(Dwarf_Die *cudie, Dwarf_Die *mem)
{
	uint8_t unit_type;
	if (dwarf_tag(cudie) == DW_TAG_skeleton_unit &&
	    dwarf_cu_info(cudie->cu, NULL, &unit_type, NULL, mem, NULL, NULL, NULL) == 0 &&
	    dwarf_tag(mem) == DW_TAG_compile_unit)
		return mem;
	return cudie;
}

/* Resolve one address of a module from scratch. Fills frames[0..GP_MAX_INLINE) and returns
 * how many, always >= 1. */
static int gp_resolve(struct gp_symbolizer *s, struct gp_module *m, uint64_t addr,
                      struct gp_sym *frames)
{
	int n = 0;

	Dwarf_Addr bias = 0;
	Dwarf_Die *cudie = gp_unit_find(m, addr, &bias);
	Dwarf_Addr pc = addr - bias;

	/* Innermost source position from the line table; it is the position of out[0] whatever
	 * inline chain DWARF describes. dwfl_module_getsrc finds the CU through .debug_aranges,
	 * so fall back to the line table of the CU found above. */
	const char *line_file = NULL;
	int line_no = 0;
	Dwfl_Line *line = dwfl_module_getsrc(m->mod, addr);
	if (line != NULL) {
		int lno = 0;
		const char *src = dwfl_lineinfo(line, NULL, &lno, NULL, NULL, NULL);
		if (src != NULL) {
			line_file = gp_source_path(s, dwfl_linecu(line), src);
			line_no = lno > 0 ? lno : 0;
		}
	} else if (cudie != NULL) {
		Dwarf_Line *dl = dwarf_getsrc_die(cudie, pc);
		int lno = 0;
		const char *src = dl != NULL ? dwarf_linesrc(dl, NULL, NULL) : NULL;
		if (src != NULL && dwarf_lineno(dl, &lno) == 0) {
			line_file = gp_source_path(s, cudie, src);
			line_no = lno > 0 ? lno : 0;
		}
	}

	/* The physical function, then the inlined calls inside it that contain pc. */
	Dwarf_Die *physical = NULL;
	Dwarf_Die cumem;
	struct gp_cuindex *cu = NULL;
	if (cudie != NULL)
		cu = gp_cuindex_get(s, m, gp_code_unit(cudie, &cumem), bias);
	if (cu != NULL)
		physical = gp_range_find(cu->ranges, cu->n, pc);

	bool outer_physical = true; /* frames[n-1] is the physical function (or unknown) */
	if (physical != NULL) {
		/* gp_find_inlines adds at most one inline per level and stops below depth
		 * GP_MAX_INLINE, so this cannot overflow. */
		Dwarf_Die chain[GP_MAX_INLINE + 2];
		int ninl = 0;
		gp_find_inlines(physical, pc, chain, &ninl, 0);
		/* chain[] is outermost first; frames are innermost first. Frame k's function is
		 * inline ninl-1-k (the physical function last); its position is the line table for
		 * k == 0, else the call site recorded on the inline it called. A chain longer than
		 * the frame array loses its outermost frames. */
		outer_physical = ninl < GP_MAX_INLINE;
		for (int k = 0; k <= ninl && n < GP_MAX_INLINE; k++) {
			Dwarf_Die *fn = k < ninl ? &chain[ninl - 1 - k] : physical;
			struct gp_sym *f = &frames[n++];
			f->function = gp_die_name(s, m, fn, 0);
			if (k == 0) {
				f->file = line_file;
				f->line = line_no;
			} else {
				gp_call_site(s, &chain[ninl - k], f);
			}
		}
	} else {
		frames[0].function = NULL;
		frames[0].file = line_file;
		frames[0].line = line_no;
		n = 1;
	}

	/* The physical function is also in the symbol table: name it from there when DWARF does
	 * not (no DWARF at all, or a CU without the subprogram, e.g. assembly). An inline frame
	 * is not the symbol's function, so only a physical outermost frame may take it. */
	struct gp_sym *outer = &frames[n - 1];
	if (outer_physical && outer->function == NULL) {
		const struct gp_syment *sym = gp_sym_lookup(m, addr);
		if (sym != NULL)
			outer->function = gp_intern(s, gp_symbolizer_demangle(s, sym->name));
	}
	return n;
}

static int gp_unknown(struct gp_sym *out)
{
	out->function = NULL;
	out->file = NULL;
	out->line = 0;
	return 1;
}

int gp_symbolize(struct gp_symbolizer *s, const char *path, const uint8_t *build_id,
                 size_t build_id_len, uint64_t addr, struct gp_sym *out, int max)
{
	if (max <= 0)
		return 0;
	if (s == NULL || path == NULL)
		return gp_unknown(out);

	struct gp_module *m = gp_module_get(s, path);
	if (m == NULL || m->mod == NULL)
		return gp_unknown(out);
	/* A rebuilt file at the same path would give confidently wrong names: refuse it. */
	if (build_id_len > 0 &&
	    (build_id == NULL || m->build_id_len != build_id_len ||
	     memcmp(m->build_id, build_id, build_id_len) != 0))
		return gp_unknown(out);

	struct gp_addrent *e;
	HASH_FIND(hh, m->addrs, &addr, sizeof(addr), e);
	if (e == NULL) {
		struct gp_sym frames[GP_MAX_INLINE];
		int n = gp_resolve(s, m, addr, frames);
		e = malloc(sizeof(*e) + (size_t)n * sizeof(e->frames[0]));
		if (e == NULL) {
			/* Uncached but still correct: the strings are interned already. */
			int k = n < max ? n : max;
			memcpy(out, frames, (size_t)k * sizeof(*out));
			return k;
		}
		e->addr = addr;
		e->n = n;
		memcpy(e->frames, frames, (size_t)n * sizeof(frames[0]));
		HASH_ADD(hh, m->addrs, addr, sizeof(e->addr), e);
		if (!gp_hash_added(e)) {
			int k = n < max ? n : max;
			memcpy(out, frames, (size_t)k * sizeof(*out));
			free(e);
			return k;
		}
	}
	int k = e->n < max ? e->n : max;
	memcpy(out, e->frames, (size_t)k * sizeof(*out));
	return k;
}
