/*
 * gp_format.h - the on-disk contract of a growprof trace.
 *
 * A trace file is one zstd stream (one or more frames; `zstd -t` accepts it). Decompressed,
 * it is:
 *
 *     "GROWPROF"            8 bytes magic
 *     version               1 byte, GP_FORMAT_VERSION
 *     record*               until the end
 *
 * Every record is   tag (1 byte) | payload length (varint, 1 to 4 bytes) | payload.
 * A reader skips a record whose tag it does not know, so later minor additions stay
 * readable; anything that changes the meaning of an existing record bumps the version, and a
 * reader rejects a version newer than its own with a clear message.
 *
 * Integers in payloads are unsigned LEB128 varints ("v" below); "s" is a varint length
 * followed by that many bytes (no terminating NUL); "z" is a zigzag-encoded signed varint.
 * Times are nanoseconds of CLOCK_MONOTONIC relative to the PROCESS record's `start_mono`, at
 * the resolution of CLOCK_MONOTONIC_COARSE (a few milliseconds) except in PROCESS.
 *
 * A complete trace ends with an END record. A trace without one was cut short (SIGKILL,
 * disk full, crash): every whole record before the damage is still valid.
 *
 * src/gp_codec.{h,c} is the one encoder and decoder of these records (SEGCOLS: gp_segcols):
 * a change to a record here is made there, and nowhere else.
 *
 * Identifiers (module, stack, chain) are assigned by the writer, start at 1, and are only
 * meaningful within one trace file. A record only refers to ids defined by earlier records.
 *
 * Version 2: the records of a chain (CHAIN, STEP, CHAIN_END) come in segments, each begun by
 * a SEGMENT record naming the thread that wrote them (each thread buffers its own records;
 * segments of different threads interleave, the records of one chain stay in order). In a
 * segment, "c" is a chain id written as a zigzag delta from the chain id of the previous
 * CHAIN, STEP or CHAIN_END record of the segment (from 0 for the first), and "t" a time
 * written as a varint: how much later it is than the previous time of the segment (from 0
 * for the first; a segment's times never decrease).
 *
 * Version 3: STEP packs its flags into its stack field and writes its time only when it
 * differs from the previous one of the segment (GP_STEP_TIMED): 5 bytes for most steps
 * instead of 7. Version 2 (still read) had "v stack, z delta, v flags, t time".
 *
 * Version 4: a segment may be written as one SEGCOLS record, the same records with their
 * fields gathered by column. The preload does so for a segment of mostly STEPs (long
 * chains growing in turn), whose chain ids break the matches between records: zstd finds
 * the long runs of like values in the columns instead, twice as fast and 25% smaller. A
 * segment of short chains begun and ended over and over stays plain: its records repeat
 * whole. A reader expands SEGCOLS into the SEGMENT record and the records it stands for.
 * Versions 2 and 3 (still read) had only plain segments.
 *
 * Version 1 (still read) had no SEGMENT record: "c" was a delta from the previous chain
 * record of the whole file, "t" an absolute time, and STEP carried the thread after its
 * time.
 */
#ifndef GP_FORMAT_H
#define GP_FORMAT_H

#define GP_MAGIC "GROWPROF"
#define GP_MAGIC_LEN 8
#define GP_FORMAT_VERSION 4

/* A stack has at most this many frames (GROWPROF_DEPTH is at most 256). */
#define GP_STACK_FRAMES_MAX 1024

/* No single record may be larger than this; a larger length means a damaged file. */
#define GP_RECORD_MAX (1u << 24)

enum gp_tag {
	/* v pid, v ppid, v start_realtime_ns, v start_mono_ns, s exe, s cmdline (args joined by
	 * NUL), v depth (GROWPROF_DEPTH in force) */
	GP_TAG_PROCESS = 1,
	/* v id, v bias (dlpi_addr), v lo, v hi (absolute range of its PT_LOAD segments),
	 * s path, s build_id (raw bytes, may be empty). A module whose range overlaps an older
	 * one replaces it for addresses seen from here on (dlclose + dlopen reuse). */
	GP_TAG_MODULE = 2,
	/* v id, v nframes, then nframes addresses: the first as v, each next as z delta from
	 * the previous. Innermost first; frames inside the profiler are already dropped, so
	 * every frame is a return address (the call instruction is just before it). */
	GP_TAG_STACK = 3,
	/* A block had its first step: a chain begins.
	 * c chain, v origin_stack (0 = unknown), v size (the block's size before the step),
	 * t time, [v kind: GP_CHAIN_REALLOC (default when absent) or GP_CHAIN_RELOCATION] */
	GP_TAG_CHAIN = 4,
	/* c chain, v stack << 3 | flags (GP_STEP_*), z new_size - old_size,
	 * [t time: present if flags has GP_STEP_TIMED, else the same as the previous time],
	 * [v copied: bytes seen copied from the old block, for a relocation step].
	 * (Version 2: c chain, v stack, z new_size - old_size, v flags, t time, [v copied].)
	 * The old size is the chain's current size: its CHAIN record's size, then each step's
	 * new size (steps of one chain are written in the order they happened). */
	GP_TAG_STEP = 5,
	/* c chain: the chain's block was freed (free or realloc(p, 0)). */
	GP_TAG_CHAIN_END = 6,
	/* Counters kept in the process, cumulative since its trace began:
	 * v allocs, v frees, v failed, v steps, v chains, [v own: of allocs, those glibc made for
	 * the profiler's own flusher thread (its TLS), counted as an interposer in front counts
	 * them, kept apart so that a process with no allocator call of its own is still seen].
	 * Written with every flush, so a cut-short trace still has recent counts. */
	GP_TAG_COUNTS = 7,
	/* v reason (GP_END_*), v time. The last record of a complete trace. */
	GP_TAG_END = 8,
	/* v thread (a small number, 1 for the first thread that wrote a chain record). Begins a
	 * segment: the chain records up to the next SEGMENT are that thread's (version 2). */
	GP_TAG_SEGMENT = 9,
	/* Version 4: a segment by columns, standing for a SEGMENT record and its chain records:
	 *   v thread (as in SEGMENT), v count (of records),
	 *   count bytes: each record's tag (GP_TAG_CHAIN, GP_TAG_STEP or GP_TAG_CHAIN_END),
	 *   count bytes: each record's number of fields (varints, at most GP_SEGCOLS_FIELDS),
	 *   then GP_SEGCOLS_COLS columns, each s (a varint length, then bytes): for CHAIN,
	 *   then STEP, then CHAIN_END, and for each field index 0 to GP_SEGCOLS_FIELDS - 1, the
	 *   varints of that field of the records of that tag that have it, in their order.
	 * Record i is its tag, then the next varint of each of its fields' columns. */
	GP_TAG_SEGCOLS = 10,
	GP_TAG_MAX_KNOWN = 10,
};

/* The layout of GP_TAG_SEGCOLS. */
#define GP_SEGCOLS_FIELDS 6
#define GP_SEGCOLS_COLS (3 * GP_SEGCOLS_FIELDS)

enum gp_step_flags {
	GP_STEP_MOVED = 1u << 0, /* the result differs from the old pointer */
	GP_STEP_REMAP = 1u << 1, /* ... and the old block was mmapped (glibc used mremap) */
	GP_STEP_TIMED = 1u << 2, /* version 3: a time follows (the format's, not a step's) */
};

enum gp_chain_kind {
	GP_CHAIN_REALLOC = 0,    /* steps are reallocs */
	GP_CHAIN_RELOCATION = 1, /* steps are malloc + copy + free of the old block */
};

enum gp_end_reason {
	GP_END_EXIT = 0,  /* return from main, exit(), or library unload */
	GP_END__EXIT = 1, /* _exit() / _Exit() */
	GP_END_EXEC = 2,  /* the process replaced itself; the new image writes its own trace */
};

#endif
