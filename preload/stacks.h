/*
 * stacks.h - capture call stacks with libunwind and store each distinct one once.
 *
 * Capturing happens without any lock. Interning (id assignment and writing the STACK record)
 * happens under the trace lock, so a stack's record always precedes its first use in the
 * trace. A per-thread cache of recent stacks skips the lock for stacks seen before.
 */
#ifndef GP_STACKS_H
#define GP_STACKS_H

#include <stdint.h>

#include "options.h"
#include "tls.h"

/* Where our own code lives, so captured stacks can drop the profiler's frames. */
void gp_stacks_init(uintptr_t self_lo, uintptr_t self_hi);

/* Unwind the caller's stack into ips (innermost first, profiler frames dropped).
 * @return the number of frames (0 if unwinding failed). */
unsigned gp_stack_capture(uint64_t *ips, unsigned depth);

/* @return the id (>= 1) of the stack ips[0..n), writing its STACK record first if this trace
 * has not seen it yet; 0 if out of memory. Takes and releases the trace lock as needed. */
uint32_t gp_stack_intern(const uint64_t *ips, unsigned n);

/* Same, but the caller already holds the trace lock. */
uint32_t gp_stack_intern_locked(const uint64_t *ips, unsigned n);

/* Make sure the stack `id` (from an earlier gp_stack_intern) is written in this trace.
 * Trace lock held. @return id, or 0 if there is no such stack. */
uint32_t gp_stack_intern_id_locked(uint32_t id);

/*
 * Call sites: the return address of an allocation call, cheap to get, stands in for the
 * full stack until that call site is seen to start a chain ("hot"); from then on its
 * allocations capture full stacks. gp_callsite() @return the call site's index (< 2^31),
 * or GP_CALLSITE_NONE if the table is full, with GP_CALLSITE_HOT set if this allocation is
 * to capture its full stack.
 */
#define GP_CALLSITE_NONE 0x7fffffffu
#define GP_CALLSITE_HOT  0x80000000u

/* The call sites this thread allocated from lately (gp_tls.cs): a hit skips the table, and
 * most allocations do not read the shared table at all. `left` counts down the allocations
 * until the table is consulted again (1: every time). */
uint32_t gp_callsite_policy(uint32_t i, unsigned slot);
uint32_t gp_callsite_slow(uint64_t ra);

/* An interpreter allocates from hundreds of call sites: hash them over the cache. */
static inline unsigned gp_cs_slot(uint64_t ra)
{
	return (unsigned)((ra * 0x9e3779b97f4a7c15ull) >> (64 - GP_CS_TCACHE_BITS));
}

static inline uint32_t gp_callsite(uint64_t ra)
{
	unsigned slot = gp_cs_slot(ra);
	struct gp_cs_tcache *c = &gp_tls.cs[slot];
	if (__builtin_expect(c->ra == ra, 1)) {
		if (__builtin_expect(--c->left != 0, 1))
			return c->pl - 1;
		return gp_callsite_policy(c->pl - 1, slot);
	}
	return gp_callsite_slow(ra);
}
/* A chain began at a block of call site idx: mark it hot and @return the id of the
 * one-frame stack of its address (0 if none), written in this trace. */
uint32_t gp_callsite_origin(uint32_t idx);
/* A chain began at a block whose full stack was captured at call site `ra`. */
void gp_callsite_chain(uint64_t ra);
/* @return the innermost address of stack `id`, 0 if none (trace lock held). */
uint64_t gp_stack_first(uint32_t id);

/*
 * The stack of the allocator call being handled, whose caller returns to `ra` with its stack
 * pointer at `cfa` (the hook's __builtin_return_address(0) and __builtin_dwarf_cfa()).
 *
 * A per-thread cache remembers, for recent (ra, cfa) pairs, the stack found there and where
 * each frame's return address sits on the thread's stack. When the same call happens again
 * with the same stack pointer and every remembered slot still holds the remembered return
 * address, the stack is the same and no unwinding is needed (the common case of a loop that
 * grows a buffer). Otherwise it unwinds with libunwind.
 */
struct gp_stack_ref {
	void *s;             /* the interned stack, when known */
	unsigned n;          /* frames in ips (when s is NULL) */
	int cacheable;
	uint64_t ra, cfa;
	unsigned depth;
	uint64_t ips[GP_DEPTH_MAX];
	uint64_t slots[GP_DEPTH_MAX];
};
/* Outside any lock: find or unwind the stack (at most `depth` frames) into r. */
void gp_stack_get(uint64_t ra, uint64_t cfa, unsigned depth, struct gp_stack_ref *r);
/* The common case of gp_stack_get() and gp_stack_ref_id() together: @return the id of the
 * stack the cache holds for this call, unchanged and already written in this trace, or 0
 * if there is none (then use them). No lock. */
uint32_t gp_stack_hit(uint64_t ra, uint64_t cfa, unsigned depth);

/* Frames kept of an allocation's stack (a chain origin): enough to see past wrappers. */
#define GP_ORIGIN_DEPTH 16
/* Trace lock held: @return the stack's id (0 if none), written first if this trace has not
 * seen it; remembers it in this thread's cache. */
uint32_t gp_stack_ref_id_locked(struct gp_stack_ref *r);
/* The same, taking the trace lock only if the stack must be interned or written. */
uint32_t gp_stack_ref_id(struct gp_stack_ref *r);

/* The calling thread is exiting: release its cache. */
void gp_stacks_thread_exit(void);

/* fork: wait until no thread is unwinding (libunwind's locks are not fork-safe), and keep
 * it so until gp_stacks_fork_done (in the parent, or in the child with child = 1). */
void gp_stacks_fork_prepare(void);
void gp_stacks_fork_done(int child);

/* A new trace began (fork child, failed exec): stacks must be written again before use. */
void gp_stacks_new_trace(void);

#endif
