/*
 * silent.h - processes that made no allocator calls at all (SPEC "Allocators").
 *
 * An allocator linked statically into the program (Go's runtime, static musl, some Rust
 * builds) is out of LD_PRELOAD's reach: the process is traced but no malloc, free or
 * realloc of it is ever seen. Its empty numbers are not a success; reports say so plainly.
 */
#ifndef GP_SILENT_H
#define GP_SILENT_H

#include <stdint.h>
#include <stdio.h>

#include "gp_agg.h"

/* The allocator calls a trace recorded: allocs, frees, steps and failed calls. */
uint64_t gp_silent_calls(const struct gp_trace_info *ti);

/* One line on `out` naming the processes of `a` that made no allocator calls (at most four
 * by name), each line prefixed by `prefix`; nothing when every process made some, or when
 * the run recorded growth at all (then it is no empty success). */
void gp_silent_note(FILE *out, const char *prefix, const struct gp_agg *a);

#endif
