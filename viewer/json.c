/* json.c - the viewer's JSON writer (json.h). */
#include "json.h"

#include <math.h>

void gp_json_str_esc(FILE *out, const char *s, enum gp_json_esc esc)
{
	if (!s && esc == GP_JSON_PLAIN) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		int ctl = esc == GP_JSON_PLAIN ? *p < 0x20 || *p == 0x7f :
		          *p < 0x20 || *p == '<' || *p == '>' || *p == '&';
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (ctl)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void gp_json_str(FILE *out, const char *s)
{
	gp_json_str_esc(out, s, GP_JSON_PLAIN);
}

void gp_json_num(FILE *out, double x)
{
	fprintf(out, "%.6g", isfinite(x) ? x : 0.0);
}

void gp_json_num_or_null(FILE *out, double x)
{
	if (isfinite(x))
		fprintf(out, "%.6g", x);
	else
		fputs("null", out);
}

void gp_json_bool(FILE *out, int b)
{
	fputs(b ? "true" : "false", out);
}

void gp_json_frame_fields(FILE *out, const struct gp_vframe *f)
{
	fputs("\"function\": ", out);
	gp_json_str(out, f->function);
	fputs(", \"file\": ", out);
	gp_json_str(out, f->file);
	fputs(", \"line\": ", out);
	if (f->file && f->line > 0)
		fprintf(out, "%d", f->line);
	else
		fputs("null", out);
	fputs(", \"module\": ", out);
	gp_json_str(out, f->module);
}
