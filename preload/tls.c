/* tls.c - the per-thread state (tls.h): defined at the bottom, so that every layer may use it. */
#include "tls.h"

__thread struct gp_tls gp_tls __attribute__((tls_model("initial-exec")));
