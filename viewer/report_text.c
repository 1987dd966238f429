/* report_text.c - the hotspot table for a terminal (80 columns). */
#include "gate.h"
#include "view.h"
#include "silent.h"

#include <stdlib.h>
#include <string.h>

/* Print `text` wrapped at 78 columns, each line indented by `indent` spaces. */
static void wrap(FILE *out, const char *lead, const char *text, int indent)
{
	int col = fprintf(out, "%*s%s", indent, "", lead);
	const char *p = text;
	while (*p) {
		const char *sp = strchr(p, ' ');
		size_t w = sp ? (size_t)(sp - p) : strlen(p);
		if (col + (int)w + 1 > 78 && col > indent + (int)strlen(lead)) {
			col = fprintf(out, "\n%*s", indent + (int)strlen(lead), "") - 1;
		} else if (p != text) {
			col += fprintf(out, " ");
		}
		col += fprintf(out, "%.*s", (int)w, p);
		p += w;
		while (*p == ' ')
			p++;
	}
	fputc('\n', out);
}

static void where(FILE *out, const struct gp_vframe *f)
{
	fprintf(out, "%s", f->function ? f->function : "??");
	if (f->file)
		fprintf(out, " (%s:%d)", gp_gate_base(f->file), f->line);
	else if (f->module)
		fprintf(out, " (%s+0x%llx)", gp_gate_base(f->module), (unsigned long long)f->addr);
}

/* The callers of the row's heaviest stack, on one line: they tell rows of one function apart
 * and say which path carries the cost. */
static void callers(FILE *out, const struct gp_view *v, const struct gp_row *r)
{
	unsigned shown = 0;
	for (unsigned i = 1; i < r->nstack && shown < 2; i++) {
		if (gp_view_skip_module(v, r->stack[i].module) || /* __libc_start_main */
		    (r->stack[i].function && strcmp(r->stack[i].function, "_start") == 0))
			continue;
		fputs(shown ? " < " : "     from ", out);
		where(out, &r->stack[i]);
		shown++;
	}
	if (shown)
		fputc('\n', out);
}

static void section(FILE *out, struct gp_view *v, int origins, enum gp_sort key, size_t top)
{
	static const char *keyname[] = { "bytes copied", "moves", "steps", "amplification" };
	size_t n;
	struct gp_row *rows = gp_view_rows_all(v, origins, key, &n);
	if (!rows)
		return;
	fprintf(out, "\n%s by %s", origins ? "Chain origins" : "Growth hotspots (sites)", keyname[key]);
	if (n > top)
		fprintf(out, " (top %zu of %zu)", top, n);
	fprintf(out, "\n");
	if (n == 0)
		fprintf(out, "  none: no realloc step was recorded\n");
	for (size_t i = 0; i < n && i < top; i++) {
		const struct gp_row *r = &rows[i];
		const struct gp_stats *s = r->st;
		char a[32], b[32], c[32], d[32];
		fprintf(out, "%3zu. %s", i + 1, r->kind == GP_KIND_RELOCATION ? "[relocation] " : "");
		where(out, r->nstack ? &r->stack[0] : &r->site->where);
		fputc('\n', out);
		callers(out, v, r);
		fprintf(out, "     copied %s, amplification %.2fx, %s move%s / %s steps",
		        gp_fmt_bytes(a, sizeof a, (double)s->bytes_copied), r->amplification,
		        gp_fmt_count(b, sizeof b, s->moves), s->moves == 1 ? "" : "s",
		        gp_fmt_count(c, sizeof c, s->steps));
		if (s->remaps)
			fprintf(out, " (%s remaps)", gp_fmt_count(d, sizeof d, s->remaps));
		fprintf(out, "\n     %s chain%s, largest block %s", gp_fmt_count(a, sizeof a, s->chains),
		        s->chains == 1 ? "" : "s", gp_fmt_bytes(b, sizeof b, (double)s->peak_max));
		if (s->grows)
			fprintf(out, ", median grow x%.3f (+%s)", r->factor_median,
			        gp_fmt_bytes(c, sizeof c, r->delta_median));
		fputc('\n', out);
		wrap(out, "pattern: ", r->pattern_text, 5);
		wrap(out, "advice: ", r->advice, 5);
	}
	free(rows);
}

static const char *exe_of(const struct gp_trace_info *t)
{
	const char *b = gp_gate_base(t->exe);
	return b && *b ? b : "?";
}

struct exe_count {
	const char *exe;
	size_t n;
};

static int by_count(const void *a, const void *b)
{
	const struct exe_count *x = a, *y = b;
	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	return strcmp(x->exe, y->exe);
}

/*
 * The header's processes: those that grew by name and pid, the others (the shells and `env`
 * of a wrapper script) counted in one line by executable, so that a run of sixty processes
 * still starts with what matters.
 */
static void processes(FILE *out, struct gp_view *v)
{
	const struct gp_agg *a = &v->agg;
	size_t n = a->ntraces, grew = 0, shown = 0;
	for (size_t i = 0; i < n; i++)
		grew += gp_run_trace_grew(v, i) != 0;
	fprintf(out, "growprof report: %zu process%s", n, n == 1 ? "" : "es");
	if (n > 1 && grew < n)
		fprintf(out, grew ? ", %zu grew" : ", none grew", grew);
	for (size_t i = 0; i < n; i++) {
		if (!gp_run_trace_grew(v, i) && (grew || n > 1))
			continue;
		if (shown == 8) {
			fprintf(out, ", +%zu more", grew - shown);
			break;
		}
		fprintf(out, "%s %s[%llu]", shown++ ? "," : ":", exe_of(&a->traces[i]),
		        (unsigned long long)a->traces[i].pid);
	}
	fputc('\n', out);
	if (n - grew == 0 || n == 1)
		return;
	struct exe_count *c = calloc(n, sizeof *c);
	size_t kinds = 0;
	for (size_t i = 0; c && i < n; i++) {
		if (gp_run_trace_grew(v, i))
			continue;
		size_t k = 0;
		while (k < kinds && strcmp(c[k].exe, exe_of(&a->traces[i])))
			k++;
		if (k == kinds)
			c[kinds++].exe = exe_of(&a->traces[i]);
		c[k].n++;
	}
	if (c)
		qsort(c, kinds, sizeof *c, by_count);
	fprintf(out, "  %s%zu process%s with little or no growth", grew ? "+" : "", n - grew,
	        n - grew == 1 ? "" : "es");
	for (size_t k = 0; c && k < kinds; k++) {
		if (k == 6) {
			fprintf(out, ", ...");
			break;
		}
		fprintf(out, "%s %s", k ? "," : ":", c[k].exe);
		if (c[k].n > 1)
			fprintf(out, " x%zu", c[k].n);
	}
	fputc('\n', out);
	free(c);
}

/* One line per trace cut short (its process killed, or its disk full): which, and what it
 * lacks, so that nobody takes its numbers for a whole run's. */
static void cut_short_lines(FILE *out, struct gp_view *v)
{
	const struct gp_agg *a = &v->agg;
	for (size_t i = 0; i < a->ntraces; i++)
		if (a->traces[i].cut_short && !gp_run_trace_damaged(v, i)) /* noted below */
			fprintf(out, "warning: %s was cut short (ended by signal, chains still open: "
			        "%llu); numbers cover what it recorded\n", a->traces[i].file,
			        (unsigned long long)a->traces[i].open_chains);
}

void gp_report_text(FILE *out, struct gp_view *v, enum gp_sort key, size_t top)
{
	const struct gp_agg *a = &v->agg;
	const struct gp_totals *t = &a->totals;
	char n1[32], n2[32], n3[32], n4[32];
	processes(out, v);
	cut_short_lines(out, v);
	for (size_t i = 0; i < v->run.nnotes; i++)
		fprintf(out, "warning: %s\n", v->run.notes[i]);
	char missing[512];
	size_t nmissing = gp_run_missing_modules(v, missing, sizeof missing);
	if (nmissing)
		fprintf(out, "warning: %zu module%s not found here, so %s frames are unnamed: %s\n",
		        nmissing, nmissing == 1 ? "" : "s", nmissing == 1 ? "its" : "their", missing);
	gp_silent_note(out, "note: ", a);
	fprintf(out, "  allocs %s, frees %s, steps %s, failed %s\n", gp_fmt_count(n1, 32, t->allocs),
	        gp_fmt_count(n2, 32, t->frees), gp_fmt_count(n3, 32, t->steps),
	        gp_fmt_count(n4, 32, t->failed));
	fprintf(out, "  grows %s, shrinks %s, moves %s, remaps %s\n", gp_fmt_count(n1, 32, t->grows),
	        gp_fmt_count(n2, 32, t->shrinks), gp_fmt_count(n3, 32, t->moves),
	        gp_fmt_count(n4, 32, t->remaps));
	fprintf(out, "  realloc: copied %s (%s bytes) in %s chains, longest %s steps, "
	        "amplification %.2fx\n",
	        gp_fmt_bytes(n1, 32, (double)t->bytes_copied), gp_fmt_count(n2, 32, t->bytes_copied),
	        gp_fmt_count(n3, 32, t->chains), gp_fmt_count(n4, 32, t->max_chain_steps),
	        gp_view_amplification(v, GP_KIND_REALLOC));
	const struct gp_totals *rt = &a->reloc_totals;
	if (rt->steps) {
		fprintf(out, "  relocations (malloc + copy, no realloc): %s steps in %s chains, "
		        "copied %s, amplification %.2fx\n", gp_fmt_count(n1, 32, rt->steps),
		        gp_fmt_count(n2, 32, rt->chains), gp_fmt_bytes(n3, 32, (double)rt->bytes_copied),
		        gp_view_amplification(v, GP_KIND_RELOCATION));
		struct gp_totals all;
		gp_view_totals_all(v, &all);
		fprintf(out, "  both: copied %s (%s bytes) in %s chains, amplification %.2fx\n",
		        gp_fmt_bytes(n1, 32, (double)all.bytes_copied),
		        gp_fmt_count(n2, 32, all.bytes_copied), gp_fmt_count(n3, 32, all.chains),
		        gp_view_amplification(v, GP_KIND_ALL));
	}
	fprintf(out, "  (amplification: bytes copied / sum of the chains' peaks; a site's largest\n"
	        "  block: the largest size one of its chains reached)\n");
	section(out, v, 0, key, top);
	section(out, v, 1, key, top);
}
