/*
 * json.h - the one JSON writer of the viewer: strings, numbers, null-able values and the
 * frame fields that every JSON output (report --format json, diff --format json, the HTML
 * page's embedded data) writes the same way. The callers lay out their own objects; what
 * must not differ between them (escaping, number format, null) lives here.
 */
#ifndef GP_JSON_H
#define GP_JSON_H

#include "view.h"

#include <stdint.h>
#include <stdio.h>

/* Where a string goes: a JSON document, or JSON inside an HTML <script>. */
enum gp_json_esc {
	GP_JSON_PLAIN,  /* '"' '\\' and control characters (and DEL) escaped; NULL is null */
	GP_JSON_SCRIPT, /* also '<' '>' '&' as \u escapes (no "</script>", no "<!--"); NULL is "" */
};

/* Write s as a JSON string. */
void gp_json_str_esc(FILE *out, const char *s, enum gp_json_esc esc);

/* Write s as a JSON string, or null for NULL. */
void gp_json_str(FILE *out, const char *s);

/* A number as "%.6g"; infinity or NaN (an empty ratio) as 0. */
void gp_json_num(FILE *out, double x);

/* A number as "%.6g"; infinity or NaN (no base to compare with) as null. */
void gp_json_num_or_null(FILE *out, double x);

/* true or false. */
void gp_json_bool(FILE *out, int b);

/* "function": ..., "file": ..., "line": N or null (no file), "module": ... of a frame. */
void gp_json_frame_fields(FILE *out, const struct gp_vframe *f);

#endif
