/*
 * report_html.c - `growprof report --format html`: one self-contained page.
 *
 * Totals, the hotspot tables (sites and chain origins, realloc and relocation chains), an
 * interactive flame graph of bytes copied (html/report.js draws it from the collapsed stacks
 * embedded as JSON), and for the top hotspots an SVG chart of the block size at each step of
 * the chain that copied most there, moves marked: linear growth is a ramp dotted with
 * copies, geometric growth a few doubling stairs.
 *
 * Nothing is loaded from anywhere: the style sheet and the script are compiled in
 * (html_assets.h, from html/), and a Content-Security-Policy forbids any fetch. Every string
 * from the trace (function names hold < > &, paths anything) is escaped for where it goes:
 * HTML text and attributes, or JSON inside <script> (with <, >, & as \u escapes).
 */
#define _GNU_SOURCE
#include "gate.h"
#include "gp_format.h"
#include "html_assets.h"
#include "json.h"
#include "outputs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef GP_VERSION
#define GP_VERSION "?"
#endif

#define MAX_CHARTS 8

/* HTML text or attribute value. */
static void esc(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default:
			if (*p < 0x20 && *p != '\n' && *p != '\t')
				fputc(' ', out);
			else
				fputc(*p, out);
		}
	}
}

static const char *count(char *buf, uint64_t v)
{
	return gp_fmt_count(buf, 32, v);
}

static const char *bytes(char *buf, double v)
{
	return gp_fmt_bytes(buf, 32, v);
}

/* ---- page parts ---- */

static void where_cell(FILE *out, const struct gp_vframe *f)
{
	char buf[64];
	fputs("<td class=\"fn\"><code>", out);
	esc(out, f->function ? f->function : "??");
	fputs("</code><br><span class=\"loc\"", out);
	if (f->file) {
		fputs(" title=\"", out);
		esc(out, f->file);
		fputs("\">", out);
		esc(out, gp_gate_base(f->file));
		fprintf(out, ":%d", f->line);
	} else if (f->module) {
		fputs(" title=\"", out);
		esc(out, f->module);
		fputs("\">", out);
		esc(out, gp_gate_base(f->module));
		snprintf(buf, sizeof buf, "+0x%llx", (unsigned long long)f->addr);
		esc(out, buf);
	} else {
		fputs(">unknown", out);
	}
	fputs("</span></td>", out);
}

static void totals_block(FILE *out, const struct gp_view *v)
{
	const struct gp_agg *a = &v->agg;
	const struct gp_totals *t[2] = { &a->totals, &a->reloc_totals };
	uint64_t peaks[2] = { 0, 0 }; /* for the amplification of both kinds together */
	for (uint32_t i = 0; i < a->nsites; i++) {
		peaks[0] += a->origins[i].peak_bytes;
		peaks[1] += a->rorigins[i].peak_bytes;
	}
	int reloc = t[1]->steps || t[1]->chains;
	char b1[32], b2[32];
	uint64_t copied = t[0]->bytes_copied + t[1]->bytes_copied;
	double amp = peaks[0] + peaks[1] ? (double)copied / (double)(peaks[0] + peaks[1]) : 0;
	fputs("<section id=\"totals\"><h2>Totals</h2>\n<div class=\"totals-row\"><div class=\"cards\">",
	      out);
	fprintf(out, "<div class=\"card\"><div class=\"big\" id=\"total-copied\" data-bytes=\"%llu\">%s"
	        "</div><div>bytes copied (%s bytes)</div></div>", (unsigned long long)copied,
	        bytes(b1, (double)copied), count(b2, copied));
	fprintf(out, "<div class=\"card\"><div class=\"big\">%.2fx</div><div>copy amplification "
	        "(copied / sum of chain peaks)</div></div>", amp);
	fprintf(out, "<div class=\"card\"><div class=\"big\">%s</div><div>moves in %s steps</div></div>",
	        count(b1, t[0]->moves + t[1]->moves), count(b2, t[0]->steps + t[1]->steps));
	fputs("</div>\n<table class=\"totals\"><thead><tr><th></th><th>realloc chains</th>", out);
	if (reloc)
		fputs("<th>relocation chains<br><small>(malloc + copy + free)</small></th>", out);
	fputs("</tr></thead><tbody>\n", out);
	static const char *const names[] = { "allocs", "frees", "steps", "failed", "grows", "shrinks",
		"moves", "remaps", "bytes_copied", "chains", "max_chain_steps" };
	for (int i = 0; i < 11; i++) {
		fprintf(out, "<tr><th>%s</th>", names[i]);
		for (int k = 0; k < 1 + reloc; k++) {
			const struct gp_totals *x = t[k];
			const uint64_t f[11] = { x->allocs, x->frees, x->steps, x->failed, x->grows,
				x->shrinks, x->moves, x->remaps, x->bytes_copied, x->chains, x->max_chain_steps };
			if (k == 1 && (i == 0 || i == 1 || i == 3)) /* counted once, with the run */
				fputs("<td class=\"num\">-</td>", out);
			else
				fprintf(out, "<td class=\"num\">%s</td>", count(b1, f[i]));
		}
		fputs("</tr>\n", out);
	}
	fputs("<tr><th>amplification</th>", out);
	for (int k = 0; k < 1 + reloc; k++)
		fprintf(out, "<td class=\"num\">%.2fx</td>", gp_view_amplification(v, k));
	fputs("</tr>\n</tbody></table></div></section>\n", out);
}

static void table(FILE *out, const struct gp_row *rows, size_t n, size_t top, int origins,
                  size_t ncharts)
{
	char a[32], b[32];
	fprintf(out, "<section id=\"%s\"><h2>%s</h2>\n", origins ? "origins" : "sites",
	        origins ? "Chain origins" : "Growth hotspots (call sites)");
	if (n > top)
		fprintf(out, "<p class=\"note\">The top %zu of %zu; <code>--top N</code> shows more.</p>\n",
		        top, n);
	if (n == 0) {
		fputs("<p>None: no step was recorded.</p></section>\n", out);
		return;
	}
	fprintf(out, "<table class=\"hot sortable\" id=\"%s-table\"><thead><tr>"
	        "<th>#</th><th>kind</th><th>%s</th><th class=\"num\">bytes copied</th>"
	        "<th class=\"num\">amplification</th><th class=\"num\">moves</th>"
	        "<th class=\"num\">steps</th><th class=\"num\">remaps</th><th class=\"num\">chains</th>"
	        "<th class=\"num\" title=\"the largest size one of its chains reached\">largest block</th>"
	        "<th>pattern</th><th>advice</th></tr></thead><tbody>\n",
	        origins ? "origins" : "sites", origins ? "origin" : "site");
	for (size_t i = 0; i < n && i < top; i++) {
		const struct gp_row *r = &rows[i];
		const struct gp_stats *s = r->st;
		fprintf(out, "<tr class=\"%s\"><td class=\"num\" data-v=\"%zu\">%zu</td><td>%s</td>",
		        rows[i].kind ? "relocation" : "realloc", i + 1, i + 1,
		        rows[i].kind ? "relocation" : "realloc");
		where_cell(out, r->nstack ? &r->stack[0] : &r->site->where); /* the heaviest stack's */
		fprintf(out, "<td class=\"num\" data-v=\"%llu\">%s</td>", (unsigned long long)s->bytes_copied,
		        bytes(a, (double)s->bytes_copied));
		fprintf(out, "<td class=\"num\" data-v=\"%.6g\">%.2fx</td>", r->amplification, r->amplification);
		fprintf(out, "<td class=\"num\" data-v=\"%llu\">%s</td>", (unsigned long long)s->moves,
		        count(a, s->moves));
		fprintf(out, "<td class=\"num\" data-v=\"%llu\">%s</td>", (unsigned long long)s->steps,
		        count(a, s->steps));
		fprintf(out, "<td class=\"num\" data-v=\"%llu\">%s</td>", (unsigned long long)s->remaps,
		        count(a, s->remaps));
		fprintf(out, "<td class=\"num\" data-v=\"%llu\">%s</td>", (unsigned long long)s->chains,
		        count(a, s->chains));
		fprintf(out, "<td class=\"num\" data-v=\"%llu\">%s</td>", (unsigned long long)s->peak_max,
		        bytes(a, (double)s->peak_max));
		fprintf(out, "<td><span class=\"pat %s\" title=\"", gp_pattern_name(r->pattern));
		esc(out, r->pattern_text);
		fprintf(out, "\">%s</span>", gp_pattern_name(r->pattern));
		if (s->grows && r->factor_median > 0)
			fprintf(out, "<br><small>x%.3f, +%s</small>", r->factor_median,
			        bytes(b, r->delta_median));
		if (!origins && i < ncharts && s->worst.n >= 2)
			fprintf(out, "<br><a href=\"#chart-%zu\">chart</a>", i + 1);
		fputs("</td><td class=\"advice\">", out);
		esc(out, r->advice);
		fputs("</td></tr>\n", out);
	}
	fputs("</tbody></table></section>\n", out);
}

/* A round step for about `want` intervals over [0, max]: 1, 2, 5 x 10^k. */
static double nice_step(double max, int want)
{
	double raw = max / want, p = pow(10, floor(log10(raw)));
	double m = raw / p;
	return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/* The same in bytes: a power of two, so that the labels are round KiB / MiB. */
static double nice_step_bytes(double max, int want)
{
	double s = 1;
	while (max / s > want)
		s *= 2;
	return s;
}

/* "64 KiB", "1.5 MiB": a byte count without a needless ".0". */
static const char *tick_bytes(char *buf, double v)
{
	gp_fmt_bytes(buf, 32, v);
	char *dot = strstr(buf, ".0 ");
	if (dot)
		memmove(dot, dot + 2, strlen(dot + 2) + 1);
	return buf;
}

/* An SVG chart of a chain's block size at each step, copies and remaps marked. */
static void chart(FILE *out, const struct gp_series *s)
{
	const double W = 720, H = 260, ml = 74, mr = 16, mt = 12, mb = 40;
	const double pw = W - ml - mr, ph = H - mt - mb;
	uint64_t ymax = 1;
	uint32_t xmax = 1;
	for (uint32_t i = 0; i < s->n; i++) {
		if (s->pts[i].size > ymax)
			ymax = s->pts[i].size;
		if (s->pts[i].step > xmax)
			xmax = s->pts[i].step;
	}
	double ystep = nice_step_bytes((double)ymax, 5), xstep = nice_step(xmax, 8);
	double ytop = ceil((double)ymax / ystep) * ystep;
#define X(v) (ml + pw * (double)(v) / (double)xmax)
#define Y(v) (mt + ph - ph * (double)(v) / ytop)
	fprintf(out, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
	        "role=\"img\">\n", W, H, W, H);
	char buf[32];
	for (double y = 0; y <= ytop + ystep / 2; y += ystep)
		fprintf(out, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
		        "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
		        ml, ml + pw, Y(y), Y(y), ml - 6, Y(y) + 4, tick_bytes(buf, y));
	for (double x = 0; x <= xmax + xstep / 2 && x <= xmax; x += xstep)
		fprintf(out, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
		        "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n",
		        X(x), X(x), mt, mt + ph, X(x), mt + ph + 16, x);
	fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">step of the "
	        "chain</text>\n", ml + pw / 2, H - 4);
	fprintf(out, "<text class=\"axis\" transform=\"translate(14 %.1f) rotate(-90)\" "
	        "text-anchor=\"middle\">block size</text>\n", mt + ph / 2);
	/* The size holds from one step to the next: a staircase, filled below. */
	fputs("<path class=\"area\" d=\"", out);
	for (uint32_t i = 0; i < s->n; i++) {
		if (i == 0)
			fprintf(out, "M%.2f %.2fL%.2f %.2f", X(0), Y(0), X(s->pts[0].step), Y(s->pts[0].size));
		else
			fprintf(out, "H%.2fV%.2f", X(s->pts[i].step), Y(s->pts[i].size));
	}
	fprintf(out, "V%.2fZ\"/>\n<path class=\"size\" d=\"", Y(0));
	for (uint32_t i = 0; i < s->n; i++) {
		if (i == 0)
			fprintf(out, "M%.2f %.2f", X(s->pts[0].step), Y(s->pts[0].size));
		else
			fprintf(out, "H%.2fV%.2f", X(s->pts[i].step), Y(s->pts[i].size));
	}
	fputs("\"/>\n", out);
	for (uint32_t i = 0; i < s->n; i++) {
		const struct gp_point *p = &s->pts[i];
		if (!(p->flags & GP_STEP_MOVED))
			continue;
		int remap = (p->flags & GP_STEP_REMAP) != 0;
		if (remap)
			fprintf(out, "<rect class=\"remap\" x=\"%.2f\" y=\"%.2f\" width=\"6\" height=\"6\">",
			        X(p->step) - 3, Y(p->size) - 3);
		else
			fprintf(out, "<circle class=\"move\" cx=\"%.2f\" cy=\"%.2f\" r=\"3\">", X(p->step),
			        Y(p->size));
		uint64_t prev = i ? s->pts[i - 1].size : 0;
		fprintf(out, "<title>step %u: %s -> %s, %s</title></%s>\n", p->step,
		        tick_bytes(buf, (double)prev), tick_bytes((char[32]){ 0 }, (double)p->size),
		        remap ? "moved by mremap (nothing copied)" : "moved: copied", remap ? "rect" : "circle");
	}
	fputs("</svg>\n", out);
#undef X
#undef Y
}

static void charts(FILE *out, const struct gp_row *rows, size_t n)
{
	char a[32], b[32], c[32];
	fputs("<section id=\"charts\"><h2>Block size per step</h2>\n<p class=\"note\">For each top "
	      "hotspot, the chain that copied most there: its block size after each step. Red dots "
	      "are moves that copied, blue squares moves done by mremap (no copy). Linear growth is a "
	      "ramp dotted with copies; geometric growth a few stairs, each twice the last.</p>\n", out);
	for (size_t i = 0; i < n; i++) {
		const struct gp_row *r = &rows[i];
		const struct gp_series *s = &r->st->worst;
		if (s->n < 2)
			continue;
		uint64_t moves = 0;
		for (uint32_t j = 0; j < s->n; j++)
			moves += (s->pts[j].flags & GP_STEP_MOVED) != 0;
		fprintf(out, "<figure class=\"chartbox\" id=\"chart-%zu\" data-pattern=\"%s\"><figcaption>"
		        "<b>%zu.</b> <code>", i + 1, gp_pattern_name(r->pattern), i + 1);
		const struct gp_vframe *w = r->nstack ? &r->stack[0] : &r->site->where;
		esc(out, w->function ? w->function : "??");
		fputs("</code>", out);
		if (w->file) {
			fputs(" <span class=\"loc\">", out);
			esc(out, gp_gate_base(w->file));
			fprintf(out, ":%d</span>", w->line);
		}
		fprintf(out, " <span class=\"pat %s\">%s</span>%s<br><small>worst chain: %s steps, copied "
		        "%s; the site's largest block %s", gp_pattern_name(r->pattern), gp_pattern_name(r->pattern),
		        rows[i].kind ? " <span class=\"pat reloc\">relocation</span>" : "",
		        count(a, s->pts[s->n - 1].step), bytes(b, (double)s->bytes_copied),
		        bytes(c, (double)r->st->peak_max));
		if (s->stride > 1)
			fprintf(out, "; every %u%s step shown (%s moves among them)", s->stride,
			        s->stride == 2 ? "nd" : "th", count(a, moves));
		fputs("</small></figcaption>\n", out);
		chart(out, s);
		fputs("</figure>\n", out);
	}
	fputs("</section>\n", out);
}

static void flame_data(FILE *out, const struct gp_folded *f, size_t n, const struct gp_view *v)
{
	const struct gp_totals *t = &v->agg.totals, *rt = &v->agg.reloc_totals;
	fprintf(out, "{\"total\": {\"bytes_copied\": %llu, \"moves\": %llu, \"steps\": %llu},\n"
	        "\"stacks\": [",
	        (unsigned long long)(t->bytes_copied + rt->bytes_copied),
	        (unsigned long long)(t->moves + rt->moves), (unsigned long long)(t->steps + rt->steps));
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ",\n[" : "\n[", out);
		gp_json_str_esc(out, f[i].stack, GP_JSON_SCRIPT);
		fprintf(out, ", %llu, %llu, %llu, %d]", (unsigned long long)f[i].w.bytes_copied,
		        (unsigned long long)f[i].w.moves, (unsigned long long)f[i].w.steps, f[i].kind);
	}
	fputs("]}", out);
}

int gp_report_html(FILE *out, struct gp_view *v, enum gp_sort key, size_t top)
{
	const struct gp_agg *a = &v->agg;
	size_t nsites = 0, norigins = 0, nfolded = 0;
	struct gp_row *sites = gp_view_rows_all(v, 0, key, &nsites);
	struct gp_row *origins = gp_view_rows_all(v, 1, key, &norigins);
	struct gp_folded *folded = NULL;
	if (!sites || !origins || gp_folded_collect(v, &folded, &nfolded)) {
		free(sites);
		free(origins);
		return -1;
	}
	static const char *keyname[] = { "bytes copied", "moves", "steps", "amplification" };

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<meta name=\"generator\" content=\"growprof " GP_VERSION "\">\n<title>growprof: ", out);
	esc(out, a->ntraces && a->traces[0].exe ? gp_gate_base(a->traces[0].exe) : "report");
	fputs("</title>\n<style>\n", out);
	fputs(gp_html_report_css, out);
	fputs("</style></head>\n<body>\n<header><h1>growprof report</h1>\n<ul class=\"traces\">\n", out);
	for (size_t i = 0; i < a->ntraces; i++) {
		const struct gp_trace_info *ti = &a->traces[i];
		fprintf(out, "<li><b>pid %llu</b> (parent %llu) <code>", (unsigned long long)ti->pid,
		        (unsigned long long)ti->ppid);
		esc(out, ti->cmdline && *ti->cmdline ? ti->cmdline : ti->exe);
		fputs("</code> <span class=\"loc\">", out);
		esc(out, ti->file);
		fputs("</span>", out);
		if (ti->cut_short)
			fputs(" <span class=\"warn\">cut short: the numbers cover what it recorded</span>", out);
		fputs("</li>\n", out);
	}
	fprintf(out, "</ul>\n<nav><a href=\"#totals\">totals</a> <a href=\"#flame\">flame graph</a> "
	        "<a href=\"#sites\">sites</a> <a href=\"#origins\">origins</a> <a href=\"#charts\">"
	        "charts</a> <span class=\"note\">sorted by %s</span></nav></header>\n<main>\n",
	        keyname[key]);

	totals_block(out, v);

	fputs("<section id=\"flame\"><h2>Flame graph</h2>\n<div class=\"controls\">"
	      "<label>weight <select id=\"fg-weight\"><option value=\"0\">bytes copied</option>"
	      "<option value=\"1\">moves</option><option value=\"2\">steps</option></select></label> "
	      "<label>search <input id=\"fg-search\" type=\"search\" placeholder=\"function name\">"
	      "</label> <button id=\"fg-reset\" type=\"button\">reset zoom</button> "
	      "<span id=\"fg-status\" class=\"note\"></span></div>\n"
	      "<p class=\"note\">Callers below, the call site that grew the block on top; width is "
	      "the share of the weight. Click a frame to zoom, hover for numbers.</p>\n"
	      "<div id=\"flamegraph\"></div><div id=\"fg-tip\" class=\"tip\" hidden></div>"
	      "</section>\n", out);

	size_t ncharts = top < MAX_CHARTS ? top : MAX_CHARTS;
	if (ncharts > nsites)
		ncharts = nsites;
	table(out, sites, nsites, top, 0, ncharts);
	table(out, origins, norigins, top, 1, 0);
	charts(out, sites, ncharts);

	fputs("</main>\n<footer>growprof " GP_VERSION "</footer>\n"
	      "<script id=\"gp-data\" type=\"application/json\">", out);
	flame_data(out, folded, nfolded, v);
	fputs("</script>\n<script>\n", out);
	fputs(gp_html_report_js, out);
	fputs("</script>\n</body></html>\n", out);

	gp_folded_free(folded, nfolded);
	free(sites);
	free(origins);
	return 0;
}
