/*
 * perfmap.h - names of JIT and interpreter code from a perf map (`START SIZE NAME` lines,
 * hex, as CPython -X perf, Node --perf-basic-prof, LuaJIT and JVM agents write to
 * /tmp/perf-PID.map) or a jitdump. Frames in no ELF module are named from the map of their
 * process.
 */
#ifndef GP_PERFMAP_VIEW_H
#define GP_PERFMAP_VIEW_H

#include <stdint.h>

struct gp_perfmap;

/* Read a perf map, or a jitdump (perf's binary format: CPython 3.13 -X perf_jit writes
 * /tmp/jit-PID.dump), told apart by the jitdump's magic. Lines that do not parse are skipped
 * (a map being written may end in a partial line, a dump in a partial record). @return the
 * map, or NULL if the file cannot be read, holds no entry or memory runs out. */
struct gp_perfmap *gp_perfmap_load(const char *path);

/* The perf map kept for a trace: `trace` without ".zst" plus ".perfmap", else ".jitdump"
 * (what the preload writes at exit), else /tmp/perf-PID.map or /tmp/jit-PID.dump while they
 * exist. NULL if none is there. */
struct gp_perfmap *gp_perfmap_for_trace(const char *trace, uint64_t pid);

/* The name of the entry covering addr (the one written last where entries overlap: a JIT
 * reuses its code memory), NULL if none. Valid until gp_perfmap_free. */
const char *gp_perfmap_lookup(const struct gp_perfmap *m, uint64_t addr);

void gp_perfmap_free(struct gp_perfmap *m);

#endif
