/*
 * symbolize_int.h - inside the symbolizer (symbolize.c: modules, DWARF lookups, the cache;
 * symbolize_names.c: names): the module and cache entries both use. Only they include it.
 */
#ifndef GP_SYMBOLIZE_INT_H
#define GP_SYMBOLIZE_INT_H

#include "symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>

/* Out of memory must not kill the viewer: with this, a failed HASH_ADD leaves the item out of
 * the table and sets item->hh.tbl to NULL, which is what gp_hash_added checks. */
#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#define gp_hash_added(item) ((item)->hh.tbl != NULL)

/* Interned string; the key is the string itself. */
struct gp_istr {
	UT_hash_handle hh;
	char str[];
};

/* Memo of gp_symbolizer_demangle: mangled -> demangled (NULL = not demanglable). */
struct gp_dmgl {
	UT_hash_handle hh;
	const char *result;
	char mangled[];
};

/* Memo of the display name of one function DIE, keyed by the DIE's address in the mapped
 * debug data: unique per DIE for as long as the module's Dwfl is open. */
struct gp_diename {
	UT_hash_handle hh;
	const void *die_addr;
	const char *name; /* interned, may be NULL */
};

/* Resolved frames of one address. */
struct gp_addrent {
	UT_hash_handle hh;
	uint64_t addr;
	int n;
	struct gp_sym frames[];
};

/* One address range of a concrete (out-of-line) function. */
struct gp_funcrange {
	Dwarf_Addr low, high; /* [low, high) in the CU's DWARF address space */
	Dwarf_Die die;
};

/* Functions of one CU sorted by address, built the first time an address falls in the CU.
 * libdw's dwarf_getscopes cannot be used to find the function: it only descends into DIEs
 * whose ranges contain the pc, and Rust nests its functions inside DW_TAG_namespace DIEs,
 * which have no ranges, so it never finds them (nor their inlined calls). */
struct gp_cuindex {
	UT_hash_handle hh;
	const void *cu_addr; /* key: the CU DIE's address in the mapped debug data */
	size_t n;
	struct gp_funcrange *ranges;
};

/* One function symbol of the module's ELF symbol table(s). */
struct gp_syment {
	GElf_Addr value; /* module (= file vaddr) address */
	GElf_Addr end;   /* value + st_size, or for a sizeless symbol the end of its section */
	bool sized;
	const char *name; /* in the ELF string table, valid while the Dwfl is open */
	int rank;         /* binding preference among aliases: global 2, weak 1, local 0 */
	int index;        /* symbol table order, the final tie-break */
};

struct gp_module {
	UT_hash_handle hh;
	Dwfl *dwfl;         /* NULL when the file could not be opened as ELF */
	Dwfl_Module *mod;
	unsigned char *build_id; /* of the file on disk; NULL if it has none */
	size_t build_id_len;
	struct gp_addrent *addrs;
	struct gp_diename *names;
	/* Demangled symbol names of functions whose DWARF has no mangled linkage name, keyed by
	 * the declaration DIE (see gp_note_symbol_name). */
	struct gp_diename *declsyms;
	struct gp_cuindex *cus;
	/* Function symbols sorted by address, built on first use. dwfl_module_addrinfo scans
	 * the whole symbol table on every call (elfutils 0.188), which dominated the time spent
	 * on modules without DWARF. */
	struct gp_syment *syms;
	size_t nsyms;
	bool syms_built;
	/* CUs by address, built only when .debug_aranges does not answer. */
	struct gp_funcrange *units;
	size_t nunits;
	Dwarf_Addr units_bias;
	bool units_built;
	char path[];
};

struct gp_symbolizer {
	struct gp_module *modules;
	struct gp_istr *strings;
	struct gp_dmgl *demangled;
};

/* Frames collected while resolving one address before they are cached. Inline chains deeper
 * than this keep their innermost frames; real code rarely exceeds a few dozen levels. It also
 * bounds recursion over DIE trees, which malformed DWARF could make arbitrarily deep. */
#define GP_MAX_INLINE 256

/* ---- symbolize_names.c ---- */

/* The interned copy of str[0..len) (or of str), NULL on out of memory. */
const char *gp_intern_n(struct gp_symbolizer *s, const char *str, size_t len);
const char *gp_intern(struct gp_symbolizer *s, const char *str);

/* DW_AT_linkage_name (or the MIPS one) of die or its origins, or NULL. */
const char *gp_die_linkage_name(Dwarf_Die *die);
/* The DIE in the declaring scope (following abstract origin / specification) into out. */
void gp_die_declaration(Dwarf_Die *die, Dwarf_Die *out);
/* Whether the language's names are qualified with their scopes (C++, Rust, ...). */
bool gp_lang_is_qualified(int lang);
/* The function name of die, qualified where the language does; interned (depth bounds the
 * recursion over malformed DWARF). */
const char *gp_die_name(struct gp_symbolizer *s, struct gp_module *m, Dwarf_Die *die,
                        int depth);
/* The symbol-table name recorded for the function declared by `decl`, NULL if none. */
const char *gp_decl_symbol(struct gp_module *m, Dwarf_Die *decl);
/* The ELF symbol covering addr (the symbol table built on first use), or NULL. */
const struct gp_syment *gp_sym_lookup(struct gp_module *m, GElf_Addr addr);

#endif
