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
		where(out, &r->site->where);
		fprintf(out, "     copied %s, amplification %.2fx, %s moves / %s steps",
		        gp_fmt_bytes(a, sizeof a, (double)s->bytes_copied), r->amplification,
		        gp_fmt_count(b, sizeof b, s->moves), gp_fmt_count(c, sizeof c, s->steps));
		if (s->remaps)
			fprintf(out, " (%s remaps)", gp_fmt_count(d, sizeof d, s->remaps));
		fprintf(out, "\n     %s chain%s, peak %s; %s", gp_fmt_count(a, sizeof a, s->chains),
		        s->chains == 1 ? "" : "s", gp_fmt_bytes(b, sizeof b, (double)s->peak_max),
		        gp_pattern_name(r->pattern));
		if (s->grows)
			fprintf(out, ", median grow x%.3f (+%s)", r->factor_median,
			        gp_fmt_bytes(c, sizeof c, r->delta_median));
		fputc('\n', out);
		wrap(out, "advice: ", r->advice, 5);
	}
	free(rows);
}

void gp_report_text(FILE *out, struct gp_view *v, enum gp_sort key, size_t top)
{
	const struct gp_agg *a = &v->agg;
	const struct gp_totals *t = &a->totals;
	char n1[32], n2[32], n3[32], n4[32];
	fprintf(out, "growprof report: %zu trace%s", a->ntraces, a->ntraces == 1 ? "" : "s");
	for (size_t i = 0; i < a->ntraces && i < 4; i++)
		fprintf(out, "%s %s[%llu]", i ? "," : ":", gp_gate_base(a->traces[i].exe) ? gp_gate_base(a->traces[i].exe) : "?",
		        (unsigned long long)a->traces[i].pid);
	if (a->ntraces > 4)
		fprintf(out, ", ...");
	fputc('\n', out);
	for (size_t i = 0; i < a->ntraces; i++)
		if (a->traces[i].cut_short)
			fprintf(out, "warning: %s was cut short (the process did not finish writing it); "
			        "numbers cover what it recorded\n", a->traces[i].file);
	gp_silent_note(out, "note: ", a);
	fprintf(out, "  allocs %s, frees %s, steps %s, failed %s\n", gp_fmt_count(n1, 32, t->allocs),
	        gp_fmt_count(n2, 32, t->frees), gp_fmt_count(n3, 32, t->steps),
	        gp_fmt_count(n4, 32, t->failed));
	fprintf(out, "  grows %s, shrinks %s, moves %s, remaps %s\n", gp_fmt_count(n1, 32, t->grows),
	        gp_fmt_count(n2, 32, t->shrinks), gp_fmt_count(n3, 32, t->moves),
	        gp_fmt_count(n4, 32, t->remaps));
	uint64_t peaks = 0;
	for (uint32_t i = 0; i < a->nsites; i++)
		peaks += a->origins[i].peak_bytes;
	fprintf(out, "  copied %s (%s bytes) in %s chains, longest %s steps, amplification %.2fx\n",
	        gp_fmt_bytes(n1, 32, (double)t->bytes_copied), gp_fmt_count(n2, 32, t->bytes_copied),
	        gp_fmt_count(n3, 32, t->chains), gp_fmt_count(n4, 32, t->max_chain_steps),
	        peaks ? (double)t->bytes_copied / (double)peaks : 0.0);
	const struct gp_totals *rt = &a->reloc_totals;
	if (rt->steps)
		fprintf(out, "  relocations (malloc + copy + free, no realloc): %s steps in %s chains, "
		        "copied %s, amplification %.2fx\n", gp_fmt_count(n1, 32, rt->steps),
		        gp_fmt_count(n2, 32, rt->chains), gp_fmt_bytes(n3, 32, (double)rt->bytes_copied),
		        gp_view_amplification(v, GP_KIND_RELOCATION));
	section(out, v, 0, key, top);
	section(out, v, 1, key, top);
}
