/*
 * check_limits.c - the limits of growprof check: parsing an amplification, describing the
 * limits, and comparing a site's or the run's numbers with them (check.h).
 */
#define _GNU_SOURCE
#include "check.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gp_limits_any(const struct limits *l)
{
	return l->has_amp || l->has_copied || l->has_moves;
}

/* A non-negative finite number, optionally followed by 'x' ("4", "2.5", "4x"). */
int gp_limits_parse_amp(const char *s, double *out)
{
	if (!s || !*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	double x = strtod(s, &end);
	if (end == s || errno || !isfinite(x) || x < 0)
		return -1;
	if (*end == 'x' || *end == 'X')
		end++;
	if (*end)
		return -1;
	*out = x;
	return 0;
}

const char gp_limits_amp_want[] = "a non-negative number (e.g. 4 or 2.5)";
const char gp_limits_copied_want[] = "a size in bytes (e.g. 10MB, 512KiB, 3G, 1000)";
const char gp_limits_moves_want[] = "a non-negative whole number";

/* printf at buf + *o (cap bytes in all), advancing *o; output that does not fit is cut. */
void __attribute__((format(printf, 4, 5)))
gp_check_appendf(char *buf, size_t cap, size_t *o, const char *fmt, ...)
{
	if (*o + 1 >= cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(buf + *o, cap - *o, fmt, ap);
	va_end(ap);
	if (k > 0)
		*o += (size_t)k;
	if (*o >= cap)
		*o = cap - 1;
}

/* Describe the limits: "amplification <= 4x, bytes copied <= 10,000,000 (9.5 MiB)". */
const char *gp_limits_str(char *buf, size_t cap, const struct limits *l)
{
	char a[32], b[32];
	size_t o = 0;
	buf[0] = 0;
	if (l->has_amp)
		gp_check_appendf(buf, cap, &o, "%samplification <= %gx", o ? ", " : "", l->amp);
	if (l->has_copied)
		gp_check_appendf(buf, cap, &o, "%sbytes copied <= %s (%s)", o ? ", " : "",
		        gp_fmt_count(a, sizeof a, l->copied), gp_fmt_bytes(b, sizeof b, (double)l->copied));
	if (l->has_moves)
		gp_check_appendf(buf, cap, &o, "%smoves <= %s", o ? ", " : "",
		        gp_fmt_count(a, sizeof a, l->moves));
	if (!o)
		snprintf(buf, cap, "none");
	return buf;
}

/* The numbers a limit is compared with. */
/*
 * Compare m with l; for each limit exceeded append "QUANTITY VALUE exceeds the limit LIMIT"
 * (joined by "; ", followed by `suffix`) to msg. @return the number of limits exceeded.
 */
int gp_limits_over(const struct limits *l, const struct measure *m, const char *suffix,
                       char *msg, size_t cap)
{
	int over = 0;
	size_t o = 0;
	char a[32], b[32], c[32], d[32];
	msg[0] = 0;
	if (l->has_amp && m->amp > l->amp) {
		/* enough digits that the value visibly exceeds the limit */
		int prec = 2;
		for (; prec < 9; prec++) {
			snprintf(a, sizeof a, "%.*f", prec, m->amp);
			if (strtod(a, NULL) > l->amp)
				break;
		}
		gp_check_appendf(msg, cap, &o, "%samplification %.*fx exceeds the limit %gx%s",
		        over ? "; " : "", prec, m->amp, l->amp, suffix);
		over++;
	}
	if (l->has_copied && m->copied > l->copied) {
		gp_check_appendf(msg, cap, &o, "%sbytes copied %s (%s) exceeds the limit %s (%s)%s",
		        over ? "; " : "", gp_fmt_count(a, sizeof a, m->copied),
		        gp_fmt_bytes(b, sizeof b, (double)m->copied), gp_fmt_count(c, sizeof c, l->copied),
		        gp_fmt_bytes(d, sizeof d, (double)l->copied), suffix);
		over++;
	}
	if (l->has_moves && m->moves > l->moves) {
		gp_check_appendf(msg, cap, &o, "%smoves %s exceeds the limit %s%s", over ? "; " : "",
		        gp_fmt_count(a, sizeof a, m->moves), gp_fmt_count(b, sizeof b, l->moves), suffix);
		over++;
	}
	return over;
}
