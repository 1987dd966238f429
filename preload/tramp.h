/*
 * tramp.h - unwind through CPython's perf trampolines (python -X perf, PYTHONPERFSUPPORT=1).
 *
 * CPython 3.12+ calls each Python function's evaluation through a copy of an 11-byte
 * trampoline (sub $8,%rsp; call *%rcx; add $8,%rsp; ret) in anonymous memory, so that perf
 * sees one code address per Python function (named in /tmp/perf-PID.map). The copies have no
 * unwind info and no frame pointer: libunwind stops at the first one. Their layout is fixed,
 * so stepping over one is simple: the caller's return address sits 8 bytes above the
 * trampoline's stack pointer and the caller's stack pointer 16 bytes above, every other
 * register untouched.
 */
#ifndef GP_TRAMP_H
#define GP_TRAMP_H

#include <stdint.h>

/* Is `ip`, a return address, the one inside a CPython trampoline (just after its call)?
 * Never faults: memory not known to hold trampolines is read with a syscall that fails
 * instead. Costs a load and a compare for code on a page seen before (one syscall the first
 * time). Preserves errno. */
int gp_tramp_is(uint64_t ip);

/* Does the stack ips[0..n) from unw_backtrace (`ended_early`: it stopped before the depth
 * asked for) pass through a trampoline? libunwind stops at one, or with frame pointers
 * guesses past it through the caller's rbp and loses that caller. Until the process shows
 * trampolines are possible (one found, or a perf map or jitdump written for it), only the
 * last frame is looked at, and every 256th stack of a thread whether the map exists. */
int gp_tramp_in(const uint64_t *ips, int n, int ended_early);

/* Unwind the caller's stack into ips[0..max) like unw_backtrace, stepping over trampolines
 * by their layout. Slower than unw_backtrace (libunwind's general stepping): for stacks
 * that unw_backtrace ended at a trampoline. @return the number of frames. */
int gp_tramp_backtrace(uint64_t *ips, int max);

#endif
