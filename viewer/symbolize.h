/*
 * symbolize.h - offline symbolization of raw code addresses for the growprof viewer.
 *
 * The profiler records return addresses as (module path, build id, address relative to the
 * module's load bias). This module turns such an address into function names, source files
 * and lines using the module's DWARF (elfutils libdw/libdwfl), falling back to the ELF symbol
 * table, and expands inlined calls into one logical frame per inline level.
 *
 * A symbolizer is not thread-safe: use one per thread, or serialize calls. It never prints:
 * anything that cannot be resolved simply comes back as an unknown frame.
 *
 * Link with: -ldw -lelf /usr/lib/x86_64-linux-gnu/libiberty.a
 */
#ifndef GP_SYMBOLIZE_H
#define GP_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

/* One logical frame: a physical address may expand into several when functions were inlined. */
struct gp_sym {
	/* Demangled (C++ and Rust, legacy and v0; the Rust legacy hash suffix
	 * ::h0123456789abcdef is removed), NULL if unknown. C++ names that come from a mangled
	 * name carry their parameter list ("ns::f(int)"); C names and DWARF-only names do not
	 * ("main", "ns::helper"). Owned by the symbolizer and valid until gp_symbolizer_free.
	 * Strings are interned: equal names from gp_symbolize are the same pointer. */
	const char *function;
	/* Source file path from DWARF, joined to the CU's DW_AT_comp_dir when DWARF records it
	 * relative (so absolute whenever the compilation directory is), NULL if there is no line
	 * info. Interned and owned by the symbolizer like `function`. */
	const char *file;
	int line; /* 0 if unknown */
};

struct gp_symbolizer;

/* Create an empty symbolizer. Modules are opened lazily by gp_symbolize.
 * Returns NULL on out of memory. */
struct gp_symbolizer *gp_symbolizer_new(void);

/* Close every module and free every string the symbolizer handed out. NULL is a no-op. */
void gp_symbolizer_free(struct gp_symbolizer *s);

/*
 * Resolve `addr`, an address in the ELF file's own virtual address space (i.e. runtime
 * address minus the module's load bias dlpi_addr; for an ET_EXEC non-PIE binary the bias is 0),
 * in the module file at `path`. `build_id`/`build_id_len` is the GNU build id recorded at run
 * time (may be len 0 = unknown): if the file on disk has a different build id (or none), it is
 * not trusted and one frame with function NULL is returned. Callers pass return addresses
 * already adjusted (addr-1 for non-innermost frames); no adjustment is done here.
 *
 * Fills out[0..max-1] innermost first: out[0] is the most deeply inlined function containing
 * addr with its file:line, out[1] the function it was inlined into with the call site's
 * file:line (DW_AT_call_file/DW_AT_call_line), ... the last one is the real (outermost,
 * physical) function. If the inline chain is longer than `max`, only its innermost `max`
 * frames are returned. When DWARF has no function for addr, the ELF symbol table
 * (.symtab, else .dynsym) names the single frame; an address inside no function gives
 * function NULL (file/line may still come from the line table).
 *
 * Returns the number of frames filled: 0 if max <= 0, otherwise always >= 1 (a frame with
 * function NULL, file NULL and line 0 when nothing is known, e.g. the file cannot be opened or
 * is not ELF). Results are cached per (path, addr), so repeated calls are a hash lookup and a
 * copy. Separate debuginfo (/usr/lib/debug/.build-id/xx/yyyy.debug, .gnu_debuglink, the
 * same under each directory of $GROWPROF_DEBUG_DIR, then debuginfod by build id when
 * $DEBUGINFOD_URLS is set) is found through dwfl's standard offline callbacks.
 */
int gp_symbolize(struct gp_symbolizer *s, const char *path, const uint8_t *build_id,
                 size_t build_id_len, uint64_t addr, struct gp_sym *out, int max);

/* Demangle a symbol name (C++ _Z..., Rust v0 _R... and legacy _ZN...17h<hash>E with the hash
 * dropped). Returns a pointer owned by the symbolizer (interned, valid until
 * gp_symbolizer_free), or `name` itself unchanged if it is not mangled, cannot be demangled, or
 * memory runs out. NULL name returns NULL. */
const char *gp_symbolizer_demangle(struct gp_symbolizer *s, const char *name);

/* The symbolizer's interned copy of `str` (for names found elsewhere, e.g. perf maps, to be
 * valid and compare like its own), NULL if str is NULL or memory runs out. */
const char *gp_symbolizer_intern(struct gp_symbolizer *s, const char *str);

#endif /* GP_SYMBOLIZE_H */
