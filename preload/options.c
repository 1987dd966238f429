/* options.c - the environment the preload obeys (see options.h). */
#define _GNU_SOURCE
#include "options.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

unsigned gp_depth = 64;
char gp_out_pattern[1024] = "growprof.%e.%p.zst";

int gp_options_read(void)
{
	if (!environ)
		return -1; /* too early in start-up: gp_init_late reads it again */
	int off = 0;
	const char *v = getenv("GROWPROF_DISABLE");
	if (v && *v && strcmp(v, "0") != 0)
		off = 1;
	v = getenv("GROWPROF_DEPTH");
	if (v && *v) {
		unsigned long d = strtoul(v, NULL, 10);
		gp_depth = d < 1 ? 1 : d > GP_DEPTH_MAX ? GP_DEPTH_MAX : (unsigned)d;
	}
	v = getenv("GROWPROF_OUTPUT");
	if (v && *v) {
		size_t n = strlen(v);
		if (n < sizeof gp_out_pattern)
			memcpy(gp_out_pattern, v, n + 1);
	}
	return off;
}
