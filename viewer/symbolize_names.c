/*
 * symbolize_names.c - the names the symbolizer hands out: interned strings, demangled
 * C++/Rust names, a function's name from its DWARF DIE (qualified with its namespaces and
 * classes where the language does), and the ELF symbol table for code without DWARF
 * (symbolize_int.h).
 */
#define _GNU_SOURCE
#include "gp_grow.h"
#include "symbolize_int.h"

#include <libiberty/demangle.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Return the interned copy of str[0..len), NULL on out of memory. */
const char *gp_intern_n(struct gp_symbolizer *s, const char *str, size_t len)
{
	struct gp_istr *e;
	HASH_FIND(hh, s->strings, str, len, e);
	if (e != NULL)
		return e->str;
	e = malloc(sizeof(*e) + len + 1);
	if (e == NULL)
		return NULL;
	memcpy(e->str, str, len);
	e->str[len] = '\0';
	HASH_ADD_KEYPTR(hh, s->strings, e->str, len, e);
	if (!gp_hash_added(e)) {
		free(e);
		return NULL;
	}
	return e->str;
}

/* Interned copy of a NUL-terminated string; NULL stays NULL (and NULL on out of memory). */
const char *gp_intern(struct gp_symbolizer *s, const char *str)
{
	return str == NULL ? NULL : gp_intern_n(s, str, strlen(str));
}

const char *gp_symbolizer_intern(struct gp_symbolizer *s, const char *str)
{
	return s == NULL ? NULL : gp_intern(s, str);
}

/* Length of `str` without a trailing Rust legacy hash "::h" + 16 hex digits. libiberty
 * already drops it when it recognizes a legacy Rust symbol; this catches names it treated as
 * plain C++ (e.g. with an unusual suffix), which would otherwise split one function into one
 * entry per build. */
static size_t gp_strip_rust_hash(const char *str, size_t len)
{
	if (len < 19 || memcmp(str + len - 19, "::h", 3) != 0)
		return len;
	for (size_t i = len - 16; i < len; i++) {
		char c = str[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return len;
	}
	return len - 19;
}

/* Whether `name` is a legacy Rust symbol: _ZN ... 17h<16 hex>E, possibly followed by a
 * compiler suffix such as ".llvm.1234". Only those get their hash stripped, so that a C++
 * name that happens to end in ::h<hex> is left alone. */
static bool gp_is_rust_legacy(const char *name)
{
	if (strncmp(name, "_ZN", 3) != 0)
		return false;
	const char *end = strchr(name, '.');
	size_t len = end != NULL ? (size_t)(end - name) : strlen(name);
	if (len < 3 + 20 || name[len - 1] != 'E' || memcmp(name + len - 20, "17h", 3) != 0)
		return false;
	for (size_t i = len - 17; i < len - 1; i++) {
		char c = name[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

const char *gp_symbolizer_demangle(struct gp_symbolizer *s, const char *name)
{
	if (name == NULL)
		return NULL;
	/* Only Itanium C++ (and legacy Rust, which reuses it) and Rust v0 are mangled in ways we
	 * undo; anything else is a plain C or already readable name. */
	if (name[0] != '_' || (name[1] != 'Z' && name[1] != 'R'))
		return name;

	size_t len = strlen(name);
	struct gp_dmgl *g;
	HASH_FIND(hh, s->demangled, name, len, g);
	if (g != NULL)
		return g->result != NULL ? g->result : name;

	/* DMGL_AUTO picks GNU v3 or Rust (legacy and v0) by itself, independent of libiberty's
	 * global current_demangling_style. Without DMGL_VERBOSE, Rust legacy hashes are dropped. */
	const char *result = NULL;
	char *dem = cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
	if (dem != NULL) {
		size_t dlen = strlen(dem);
		if (gp_is_rust_legacy(name))
			dlen = gp_strip_rust_hash(dem, dlen);
		result = gp_intern_n(s, dem, dlen);
		free(dem);
		if (result == NULL)
			return name; /* out of memory: do not memoize, maybe it works next time */
	}

	g = malloc(sizeof(*g) + len + 1);
	if (g == NULL)
		return result != NULL ? result : name;
	memcpy(g->mangled, name, len + 1);
	g->result = result;
	HASH_ADD_KEYPTR(hh, s->demangled, g->mangled, len, g);
	if (!gp_hash_added(g))
		free(g);
	return result != NULL ? result : name;
}

/* A string attribute of `die`, following DW_AT_abstract_origin and DW_AT_specification
 * (inlined instances and out-of-line C++ method definitions keep their names there). */
static const char *gp_die_string(Dwarf_Die *die, int at)
{
	Dwarf_Attribute attr;
	return dwarf_formstring(dwarf_attr_integrate(die, at, &attr));
}

const char *gp_die_linkage_name(Dwarf_Die *die)
{
	const char *name = gp_die_string(die, DW_AT_linkage_name);
	return name != NULL ? name : gp_die_string(die, DW_AT_MIPS_linkage_name);
}

/* Follow DW_AT_abstract_origin / DW_AT_specification to the DIE that sits in the declaring
 * scope (namespace, class), which is where the qualification of a name comes from. */
void gp_die_declaration(Dwarf_Die *die, Dwarf_Die *out)
{
	*out = *die;
	/* Bounded: malformed DWARF could make these references cycle. */
	for (int depth = 0; depth < 16; depth++) {
		Dwarf_Attribute attr;
		Dwarf_Die next;
		if (dwarf_attr(out, DW_AT_abstract_origin, &attr) == NULL &&
		    dwarf_attr(out, DW_AT_specification, &attr) == NULL)
			return;
		if (dwarf_formref_die(&attr, &next) == NULL)
			return;
		*out = next;
	}
}

bool gp_lang_is_qualified(int lang)
{
	switch (lang) {
	case DW_LANG_C_plus_plus:
	case DW_LANG_C_plus_plus_03:
	case DW_LANG_C_plus_plus_11:
	case DW_LANG_C_plus_plus_14:
	case DW_LANG_ObjC_plus_plus:
	case DW_LANG_Rust:
	case DW_LANG_D:
		return true;
	default:
		return false;
	}
}


/* The symbol-table name recorded for the function declared by `decl`, NULL if none. */
const char *gp_decl_symbol(struct gp_module *m, Dwarf_Die *decl)
{
	struct gp_diename *e;
	const void *key = decl->addr;
	HASH_FIND(hh, m->declsyms, &key, sizeof(key), e);
	return e != NULL ? e->name : NULL;
}

/* Build "ns::Class::name" for a function DIE that has a DW_AT_name but no mangled linkage
 * name: GCC omits DW_AT_linkage_name for functions with internal linkage (static functions,
 * anonymous namespaces, lambdas), and DW_AT_name alone would lose the namespace. The scopes
 * come from the DIE that declares the function (dwarf_getscopes_die of its specification /
 * abstract origin). Returns an interned string, `base` interned when no scope adds anything. */
static const char *gp_qualify(struct gp_symbolizer *s, struct gp_module *m, Dwarf_Die *die,
                              const char *base, int depth)
{
	Dwarf_Die decl;
	gp_die_declaration(die, &decl);

	Dwarf_Die *scopes = NULL;
	int n = dwarf_getscopes_die(&decl, &scopes);
	/* Scope names are collected outermost first into a buffer that grows as needed. */
	size_t cap = 256, len = 0;
	char *buf = malloc(cap);
	const char *result = NULL;
	if (buf == NULL) {
		free(scopes);
		return gp_intern(s, base);
	}
	buf[0] = '\0';
	/* scopes[0] is the DIE itself and scopes[n-1] the CU: only the ones in between qualify. */
	for (int i = n - 2; i >= 1; i--) {
		const char *part = NULL;
		switch (dwarf_tag(&scopes[i])) {
		case DW_TAG_namespace:
			part = dwarf_diename(&scopes[i]);
			if (part == NULL)
				part = "(anonymous namespace)";
			break;
		case DW_TAG_class_type:
		case DW_TAG_structure_type:
		case DW_TAG_union_type:
		case DW_TAG_enumeration_type:
		case DW_TAG_interface_type:
			part = dwarf_diename(&scopes[i]);
			/* GCC describes a lambda as an unnamed class whose compiler-generated
			 * (artificial) operator() has no linkage name. */
			if (part == NULL)
				part = dwarf_hasattr(&decl, DW_AT_artificial) ? "{lambda}"
				                                                : "{unnamed type}";
			break;
		case DW_TAG_subprogram:
			/* A local class or lambda: its enclosing function is fully qualified
			 * already, so it replaces everything collected outside of it. */
			part = gp_die_name(s, m, &scopes[i], depth + 1);
			len = 0;
			buf[0] = '\0';
			break;
		default:
			break;
		}
		if (part == NULL)
			continue;
		size_t plen = strlen(part);
		if (GP_GROW(buf, cap, len + plen + 3, 0))
			goto out;
		memcpy(buf + len, part, plen);
		len += plen;
		memcpy(buf + len, "::", 3);
		len += 2;
	}
	{
		size_t blen = strlen(base);
		if (GP_GROW(buf, cap, len + blen + 1, 0))
			goto out;
		memcpy(buf + len, base, blen + 1);
		result = gp_intern_n(s, buf, len + blen);
	}
out:
	free(buf);
	free(scopes);
	return result != NULL ? result : gp_intern(s, base);
}

/* Display name of a subprogram / inlined_subroutine DIE, interned and memoized per DIE;
 * NULL when DWARF gives it no name. Prefers a mangled linkage name (fully qualified, with
 * parameter types once demangled), then the symbol name noted for its declaration (see
 * gp_note_symbol_name), then DW_AT_name, qualified by its enclosing namespaces and classes
 * for languages that have them; an unmangled linkage name only when there is no DW_AT_name. */
const char *gp_die_name(struct gp_symbolizer *s, struct gp_module *m, Dwarf_Die *die,
                               int depth)
{
	struct gp_diename *e;
	const void *key = die->addr;
	HASH_FIND(hh, m->names, &key, sizeof(key), e);
	if (e != NULL)
		return e->name;

	const char *name = NULL;
	const char *linkage = gp_die_linkage_name(die);
	const char *demangled = linkage != NULL ? gp_symbolizer_demangle(s, linkage) : NULL;
	const char *base = gp_die_string(die, DW_AT_name);
	Dwarf_Die cu, decl;
	gp_die_declaration(die, &decl);
	const char *symname = gp_decl_symbol(m, &decl);
	if (demangled != NULL && (demangled != linkage || base == NULL)) {
		name = gp_intern(s, demangled);
	} else if (symname != NULL) {
		name = symname;
	} else if (base != NULL && depth < 8 && dwarf_diecu(die, &cu, NULL, NULL) != NULL &&
	           gp_lang_is_qualified(dwarf_srclang(&cu))) {
		/* depth bounds the recursion through enclosing functions of local classes. */
		name = gp_qualify(s, m, die, base, depth);
	} else {
		/* Also when the linkage name is not mangled: in C it is an assembler label (glibc's
		 * "__GI___strxfrm_l" for __strxfrm_l), and the source name reads better. */
		name = gp_intern(s, base);
	}

	e = malloc(sizeof(*e));
	if (e != NULL) {
		e->die_addr = key;
		e->name = name;
		HASH_ADD(hh, m->names, die_addr, sizeof(e->die_addr), e);
		if (!gp_hash_added(e))
			free(e);
	}
	return name;
}

static int gp_syment_cmp(const void *a, const void *b)
{
	const struct gp_syment *x = a, *y = b;
	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return (x->index > y->index) - (x->index < y->index);
}

/* Collect the module's function symbols (from .symtab when present, the separate debug file
 * or MiniDebugInfo, else .dynsym, as dwfl merges them) into an address-sorted array. On out
 * of memory the module simply has no symbols. */
static void gp_syms_build(struct gp_module *m)
{
	m->syms_built = true;
	int n = dwfl_module_getsymtab(m->mod);
	if (n <= 1)
		return;
	struct gp_syment *v = malloc((size_t)n * sizeof(*v));
	if (v == NULL)
		return;
	size_t k = 0;
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr value;
		GElf_Word shndx;
		Elf *elf = NULL;
		const char *name =
		    dwfl_module_getsym_info(m->mod, i, &sym, &value, &shndx, &elf, NULL);
		int type = GELF_ST_TYPE(sym.st_info);
		if (name == NULL || name[0] == '\0' || shndx == SHN_UNDEF ||
		    (type != STT_FUNC && type != STT_GNU_IFUNC))
			continue;
		GElf_Addr end = value + sym.st_size;
		if (sym.st_size == 0) {
			/* Hand-written assembly often has no size: let it reach to the end of
			 * its section at most, not over every address above it (e.g. _fini at the
			 * very end of the code). Without a usable section, drop it. */
			GElf_Shdr shdr_mem;
			GElf_Shdr *shdr = NULL;
			if (elf != NULL && shndx != (GElf_Word)-1 && shndx < SHN_LORESERVE)
				shdr = gelf_getshdr(elf_getscn(elf, shndx), &shdr_mem);
			if (shdr == NULL || sym.st_value < shdr->sh_addr ||
			    sym.st_value >= shdr->sh_addr + shdr->sh_size)
				continue;
			end = value + (shdr->sh_addr + shdr->sh_size - sym.st_value);
		}
		int bind = GELF_ST_BIND(sym.st_info);
		v[k].value = value;
		v[k].end = end;
		v[k].sized = sym.st_size != 0;
		v[k].name = name;
		v[k].rank = bind == STB_GLOBAL ? 2 : bind == STB_WEAK ? 1 : 0;
		v[k].index = i;
		k++;
	}
	if (k == 0) {
		free(v);
		return;
	}
	qsort(v, k, sizeof(v[0]), gp_syment_cmp);
	m->syms = v;
	m->nsyms = k;
}

/* The function symbol containing addr: among symbols starting at the nearest start address
 * at or below addr, the best-bound one that covers addr; a sizeless symbol (hand-written
 * assembly) covers up to the next symbol or the end of its section. NULL if none. */
const struct gp_syment *gp_sym_lookup(struct gp_module *m, GElf_Addr addr)
{
	if (!m->syms_built)
		gp_syms_build(m);
	size_t lo = 0, hi = m->nsyms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->syms[mid].value <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	GElf_Addr start = m->syms[lo - 1].value;
	const struct gp_syment *best = NULL;
	for (size_t i = lo; i > 0 && m->syms[i - 1].value == start; i--) {
		const struct gp_syment *e = &m->syms[i - 1];
		if (addr >= e->end)
			continue;
		/* Sized beats sizeless, then binding; walking backwards, >= keeps the earliest
		 * symbol table entry among equals. */
		if (best == NULL || e->sized > best->sized ||
		    (e->sized == best->sized && e->rank >= best->rank))
			best = e;
	}
	return best;
}
