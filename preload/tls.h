/* tls.h - per-thread state of the preload, initial-exec TLS (no allocation on first use). */
#ifndef GP_TLS_H
#define GP_TLS_H

#include <stdint.h>

struct gp_tls {
	int busy;      /* inside the profiler: nested allocator calls go straight through */
	uint32_t tnum; /* small thread number for STEP records, 0 = not assigned yet */
};

extern __thread struct gp_tls gp_tls __attribute__((tls_model("initial-exec")));

#endif
