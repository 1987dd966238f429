/*
 * perfmap.h - keep a runtime's perf map (/tmp/perf-PID.map: CPython -X perf, Node
 * --perf-basic-prof, LuaJIT, JVM agents) beside the trace, so that the viewer can name JIT
 * and interpreter frames later and on another machine, after /tmp is cleaned.
 */
#ifndef GP_PERFMAP_H
#define GP_PERFMAP_H

/* Copy /tmp/perf-PID.map, if the process has one, to `trace_path` without its ".zst" plus
 * ".perfmap", and a jitdump /tmp/jit-PID.dump (CPython 3.13 -X perf_jit) to ... ".jitdump"
 * (mode 0600, never over an existing file). Plain system calls only, no allocation; errno
 * preserved. Called once the trace is complete. */
void gp_perfmap_keep(const char *trace_path, int pid);

#endif
