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
#include "symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <libiberty/demangle.h>
#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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

struct gp_module {
    UT_hash_handle hh;
    Dwfl *dwfl;         /* NULL when the file could not be opened as ELF */
    Dwfl_Module *mod;
    unsigned char *build_id; /* of the file on disk; NULL if it has none */
    size_t build_id_len;
    struct gp_addrent *addrs;
    struct gp_diename *names;
    struct gp_cuindex *cus;
    char path[];
};

struct gp_symbolizer {
    struct gp_module *modules;
    struct gp_istr *strings;
    struct gp_dmgl *demangled;
};

/* Frames collected while resolving one address before they are cached. Inline chains deeper
 * than this are cut to their innermost frames; real code rarely exceeds a few dozen levels.
 * It also bounds recursion over DIE trees, which malformed DWARF could make arbitrarily deep. */
#define GP_MAX_INLINE 256

/* dwfl keeps a pointer to this for the module's lifetime, so it must be static.
 * debuginfo_path NULL means the default search (.build-id dirs under /usr/lib/debug, the
 * debuglink next to the file and in .debug/ and /usr/lib/debug). */
static char *gp_debuginfo_path = NULL;
static const Dwfl_Callbacks gp_offline_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &gp_debuginfo_path,
};

struct gp_symbolizer *gp_symbolizer_new(void)
{
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
        struct gp_cuindex *c, *ctmp;
        HASH_ITER(hh, m->cus, c, ctmp) {
            HASH_DEL(m->cus, c);
            free(c->ranges);
            free(c);
        }
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

/* Return the interned copy of str[0..len), NULL on out of memory. */
static const char *gp_intern_n(struct gp_symbolizer *s, const char *str, size_t len)
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
static const char *gp_intern(struct gp_symbolizer *s, const char *str)
{
    return str == NULL ? NULL : gp_intern_n(s, str, strlen(str));
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
        /* Base 0 relative to p_vaddr: module addresses equal the file's own vaddrs for ET_DYN
         * and ET_EXEC alike, which is exactly the address space our callers use. fd -1 lets
         * dwfl open the file; an unreadable or non-ELF file just gives NULL here. */
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

/* A string attribute of `die`, following DW_AT_abstract_origin and DW_AT_specification
 * (inlined instances and out-of-line C++ method definitions keep their names there). */
static const char *gp_die_string(Dwarf_Die *die, int at)
{
    Dwarf_Attribute attr;
    return dwarf_formstring(dwarf_attr_integrate(die, at, &attr));
}

static const char *gp_die_linkage_name(Dwarf_Die *die)
{
    const char *name = gp_die_string(die, DW_AT_linkage_name);
    return name != NULL ? name : gp_die_string(die, DW_AT_MIPS_linkage_name);
}

/* Follow DW_AT_abstract_origin / DW_AT_specification to the DIE that sits in the declaring
 * scope (namespace, class), which is where the qualification of a name comes from. */
static void gp_die_declaration(Dwarf_Die *die, Dwarf_Die *out)
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

static bool gp_lang_is_qualified(int lang)
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

static const char *gp_die_name(struct gp_symbolizer *s, struct gp_module *m, Dwarf_Die *die,
                               int depth);

/* Build "ns::Class::name" for a function DIE that has a DW_AT_name but no linkage name
 * (e.g. a C++ compiler that omits linkage names, or extern "C++" code compiled with reduced
 * debug info). Returns an interned string, or `base` interned when no scope adds anything. */
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
                part = dwarf_hasattr(&decl, DW_AT_artificial) ? "{lambda}" : "{unnamed type}";
            break;
        case DW_TAG_subprogram:
            /* A local class or lambda: its enclosing function is fully qualified already,
             * so it replaces everything collected outside of it. */
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
        if (len + plen + 3 > cap) {
            size_t ncap = (len + plen + 3) * 2;
            char *nbuf = realloc(buf, ncap);
            if (nbuf == NULL)
                goto out;
            buf = nbuf;
            cap = ncap;
        }
        memcpy(buf + len, part, plen);
        len += plen;
        memcpy(buf + len, "::", 3);
        len += 2;
    }
    {
        size_t blen = strlen(base);
        if (len + blen + 1 > cap) {
            char *nbuf = realloc(buf, len + blen + 1);
            if (nbuf == NULL)
                goto out;
            buf = nbuf;
        }
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
 * parameter types once demangled); otherwise DW_AT_name, qualified by its enclosing
 * namespaces and classes for languages that have them; an unmangled linkage name only when
 * there is no DW_AT_name. */
static const char *gp_die_name(struct gp_symbolizer *s, struct gp_module *m, Dwarf_Die *die,
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
    Dwarf_Die cu;
    if (demangled != NULL && (demangled != linkage || base == NULL)) {
        name = gp_intern(s, demangled);
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
    if (rv->n == rv->cap) {
        size_t ncap = rv->cap != 0 ? rv->cap * 2 : 64;
        struct gp_funcrange *nv = realloc(rv->v, ncap * sizeof(*nv));
        if (nv == NULL) {
            rv->oom = true;
            return;
        }
        rv->v = nv;
        rv->cap = ncap;
    }
    rv->v[rv->n].low = low;
    rv->v[rv->n].high = high;
    rv->v[rv->n].die = *die;
    rv->n++;
}

/* Record the ranges of every concrete function below `parent`, looking through the
 * namespace/class/module DIEs that can hold functions but carry no ranges themselves.
 * Functions are not descended into: their code is accounted to them, and GCC's nested
 * functions (the only functions declared inside functions) are too rare to pay for that. */
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
                /* Functions discarded by the linker keep their DWARF with the start address
                 * resolved to 0; no real code lives at 0 (ELF header), so drop those. */
                if (low != 0 && low < high)
                    gp_rangevec_push(rv, low, high, &child);
            }
            break;
        }
        case DW_TAG_namespace:
        case DW_TAG_module:
        case DW_TAG_class_type:
        case DW_TAG_structure_type:
        case DW_TAG_union_type:
        case DW_TAG_interface_type:
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

/* The function index of `cudie`, built on first use; NULL on out of memory. */
static struct gp_cuindex *gp_cuindex_get(struct gp_module *m, Dwarf_Die *cudie)
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

/* The concrete function whose ranges contain pc, NULL if none. */
static Dwarf_Die *gp_cuindex_find(struct gp_cuindex *c, Dwarf_Addr pc)
{
    /* Last range starting at or before pc. */
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->ranges[mid].low <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Ranges of distinct functions do not overlap in sane DWARF; a few steps back still
     * cope with an enclosing range that starts earlier (duplicate or odd descriptions). */
    for (size_t i = lo, steps = 0; i > 0 && steps < 8; i--, steps++) {
        if (pc < c->ranges[i - 1].high)
            return &c->ranges[i - 1].die;
    }
    return NULL;
}

static bool gp_has_pc_attrs(Dwarf_Die *die)
{
    return dwarf_hasattr(die, DW_AT_low_pc) || dwarf_hasattr(die, DW_AT_ranges);
}

/* Append to chain[] the inlined_subroutine DIEs containing pc below `parent`, outermost
 * first. Lexical and other blocks are looked through; a block that has ranges not containing
 * pc is skipped, one without any is searched (its inlines carry their own ranges). Returns
 * whether an inlined subroutine containing pc was found at this level. */
static bool gp_find_inlines(Dwarf_Die *parent, Dwarf_Addr pc, Dwarf_Die *chain, int *n,
                            int depth)
{
    Dwarf_Die child, next;
    if (depth > GP_MAX_INLINE || dwarf_child(parent, &child) != 0)
        return false;
    for (;;) {
        switch (dwarf_tag(&child)) {
        case DW_TAG_inlined_subroutine:
            if (dwarf_haspc(&child, pc) == 1) {
                if (*n < GP_MAX_INLINE)
                    chain[(*n)++] = child;
                gp_find_inlines(&child, pc, chain, n, depth + 1);
                return true;
            }
            break;
        case DW_TAG_lexical_block:
        case DW_TAG_try_block:
        case DW_TAG_catch_block:
        case DW_TAG_with_stmt:
            if ((!gp_has_pc_attrs(&child) || dwarf_haspc(&child, pc) == 1) &&
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

    /* Innermost source position from the line table; it is the position of out[0] whatever
     * inline chain DWARF describes. */
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
    }

    /* The physical function, then the inlined calls inside it that contain pc. */
    Dwarf_Addr bias = 0;
    Dwarf_Die *physical = NULL;
    Dwarf_Die cumem;
    Dwarf_Die *cudie = dwfl_module_addrdie(m->mod, addr, &bias);
    Dwarf_Addr pc = addr - bias;
    struct gp_cuindex *cu = cudie != NULL ? gp_cuindex_get(m, gp_code_unit(cudie, &cumem)) : NULL;
    if (cu != NULL)
        physical = gp_cuindex_find(cu, pc);

    if (physical != NULL) {
        static_assert(GP_MAX_INLINE >= 2, "room for one inline and its caller");
        Dwarf_Die chain[GP_MAX_INLINE];
        int ninl = 0;
        gp_find_inlines(physical, pc, chain, &ninl, 0);
        if (ninl > GP_MAX_INLINE - 1)
            ninl = GP_MAX_INLINE - 1;
        /* chain[] is outermost first; frames are innermost first. Frame k's function is
         * inline ninl-1-k (the physical function last); its position is the line table for
         * k == 0, else the call site recorded on the inline it called. */
        for (int k = 0; k <= ninl; k++) {
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

    /* The physical function is also in the symbol table. Use it when DWARF has no name (no
     * DWARF at all, or a CU without the subprogram, e.g. assembly), and also when DWARF only
     * has a bare DW_AT_name where the symbol is mangled: GCC omits DW_AT_linkage_name for
     * functions with internal linkage (static, anonymous namespace, lambdas), and the
     * demangled symbol then adds the parameter types and lambda numbering that DWARF lacks.
     * Only a symbol that starts inside the function's own ranges is used for the latter, so
     * that a neighbouring symbol never renames it. */
    struct gp_sym *outer = &frames[n - 1];
    const char *plink = physical != NULL ? gp_die_linkage_name(physical) : NULL;
    bool dwarf_bare = physical != NULL && outer->function != NULL &&
                      (plink == NULL || gp_symbolizer_demangle(s, plink) == plink);
    if (outer->function == NULL || dwarf_bare) {
        GElf_Off off;
        GElf_Sym sym;
        const char *name = dwfl_module_addrinfo(m->mod, addr, &off, &sym, NULL, NULL, NULL);
        if (name != NULL && name[0] != '\0') {
            if (outer->function == NULL) {
                outer->function = gp_intern(s, gp_symbolizer_demangle(s, name));
            } else if (name[0] == '_' && (name[1] == 'Z' || name[1] == 'R') &&
                       dwarf_haspc(physical, sym.st_value - bias) == 1) {
                const char *dem = gp_symbolizer_demangle(s, name);
                if (dem != name) {
                    /* DWARF treats the hot and .cold parts (and other clones) as the same
                     * function, so drop the " [clone .cold]" that only the symbol has. */
                    const char *clone = strstr(dem, " [clone ");
                    size_t len = clone != NULL ? (size_t)(clone - dem) : strlen(dem);
                    const char *q = gp_intern_n(s, dem, len);
                    if (q != NULL)
                        outer->function = q;
                }
            }
        }
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
