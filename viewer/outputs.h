/*
 * outputs.h - the visual outputs of `growprof report`: collapsed stacks for flame graph
 * tools (report_folded.c), a pprof profile (report_pprof.c) and a self-contained HTML page
 * (report_html.c), with the stack walk they share (report_folded.c).
 *
 * Every output covers both kinds of chain: realloc chains and relocation chains (growth by
 * malloc + copy + free). In collapsed stacks (folded, html) a relocation stack gets an extra
 * innermost frame GP_RELOCATION_FRAME, so flame graphs show the two apart; pprof labels its
 * samples kind=realloc|relocation instead. Steps whose stack is unknown
 * (the trace had no stack for them) are shown as one frame GP_UNKNOWN_FRAME, so that the
 * weights of every output add up exactly to the run's totals.
 */
#ifndef GP_OUTPUTS_H
#define GP_OUTPUTS_H

#include "view.h"

#include <stdint.h>
#include <stdio.h>

#define GP_RELOCATION_FRAME "[relocation]"
#define GP_UNKNOWN_FRAME "[unknown stack]"

/* What a flame graph measures. */
enum gp_weight { GP_WEIGHT_BYTES_COPIED, GP_WEIGHT_MOVES, GP_WEIGHT_STEPS };
/* Parse a --weight name (bytes_copied or copied, moves, steps). @return 0, -1 if unknown. */
int gp_weight_parse(const char *s, enum gp_weight *out);

/* One logical frame of a recorded stack (an inlined call is a frame of its own). */
struct gp_lframe {
	const char *function;        /* demangled, NULL if unknown */
	const char *file;            /* NULL without line info */
	int line;                    /* 0 if unknown */
	const struct gp_frame *phys; /* the physical frame it comes from */
	int level;                   /* its inline level in phys: 0 is the innermost */
};

/*
 * The logical frames of `s` from its site outward (innermost first): frames inside the
 * profiler, the C library and allocator wrappers, innermost of the site, are dropped, and so
 * are C library frames further out (__libc_start_main). @return a malloc'd array of *n
 * frames (free it; *n may be 0 for an unknown stack), NULL if out of memory.
 */
struct gp_lframe *gp_stack_frames(struct gp_view *v, const struct gp_stack *s, size_t *n);

/* A frame's display name: its function, else "module+0xaddr", else "0xaddr". Into buf. */
const char *gp_lframe_name(const struct gp_lframe *f, char *buf, size_t cap);

/* The three weights of a stack, and what the run's totals hold beyond its known stacks. */
struct gp_weights {
	uint64_t bytes_copied, moves, steps;
};
uint64_t gp_weights_get(const struct gp_weights *w, enum gp_weight which);
/* Of `kind` (GP_KIND_*): the totals minus what the stacks of that kind account for. */
struct gp_weights gp_unknown_weights(const struct gp_view *v, int kind);

/*
 * The run as collapsed stacks: one entry per distinct logical stack (outermost frame first,
 * frames joined by ';', a ';' or a line break in a name replaced), merged across stacks that
 * name the same frames, sorted by bytes copied (then moves, steps, text) descending.
 */
struct gp_folded {
	char *stack;
	struct gp_weights w;
	int kind; /* GP_KIND_* */
};
/* @return 0 with a malloc'd array in *out (free with gp_folded_free), -1 out of memory. */
int gp_folded_collect(struct gp_view *v, struct gp_folded **out, size_t *n);
void gp_folded_free(struct gp_folded *f, size_t n);

/* `report --format folded`: "frame;frame;frame N" lines, N the weight; weight 0 left out.
 * @return 0, -1 out of memory. */
int gp_report_folded(FILE *out, struct gp_view *v, enum gp_weight weight);

/* `report --format pprof`: a gzipped perftools.profiles.Profile (profile.proto).
 * @return 0, or -1 with a one-line message in err. */
int gp_report_pprof(FILE *out, struct gp_view *v, char *err, size_t errcap);

/* `report --format html`: one self-contained page (no network): totals, hotspot tables, an
 * interactive flame graph of bytes copied, the size-per-step chart of the top hotspots.
 * @return 0, -1 out of memory. */
int gp_report_html(FILE *out, struct gp_view *v, enum gp_sort key, size_t top);

#endif
