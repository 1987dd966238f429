#!/usr/bin/env python3
"""The preload's layers, checked on its object files: `nm` every .o of libgrowprof.so, and
no file may reference a symbol defined by a file of a higher layer (nor one of its own
layer but another file), nor include the header of one; no preload source file is over
MAX_LINES lines.

usage: layers.py OBJDIR SRCDIR
"""
import os
import subprocess
import sys

# Top to bottom; a file may use the files of the layers below its own, never above.
# Files on one line are siblings: they use neither one another nor anything above.
LAYERS = [
    ["hooks"],
    ["lifecycle", "collector"],
    ["stacks"],
    ["modules", "tramp"],
    ["tbuf"],
    ["trace"],
    ["counts", "flusher", "perfmap", "options"],
    ["alloc"],
    ["tls"],
    ["blocks", "shadow"],
    ["ialloc"],
]
MAX_LINES = 800


def main():
    objdir, srcdir = sys.argv[1], sys.argv[2]
    rank = {f: i for i, names in enumerate(LAYERS) for f in names}
    objs = {}
    for root, _, files in os.walk(objdir):
        for f in files:
            if f.endswith(".c.o"):
                objs[f[: -len(".c.o")]] = os.path.join(root, f)
    errors = []
    missing = set(rank) - set(objs)
    unknown = set(objs) - set(rank)
    if missing or unknown:
        errors.append("object files and LAYERS differ: missing %s, unknown %s"
                      % (sorted(missing), sorted(unknown)))
    defined, used = {}, {}
    for name, path in objs.items():
        out = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
        used[name] = set()
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "U":
                used[name].add(parts[1])
            elif len(parts) == 3 and parts[1] in "TDBRVWGSu":
                defined[parts[2]] = name
    edges = 0
    for name, syms in sorted(used.items()):
        for s in sorted(syms):
            owner = defined.get(s)
            if owner is None or owner == name or not s.startswith("gp_"):
                continue
            edges += 1
            if name in rank and owner in rank and rank[owner] <= rank[name]:
                errors.append("%s.o uses %s of %s.o (%s)" % (
                    name, s, owner, "a higher layer" if rank[owner] < rank[name]
                    else "a sibling"))
    for f in sorted(os.listdir(srcdir)):
        if f.endswith((".c", ".h")):
            with open(os.path.join(srcdir, f)) as fh:
                lines = fh.readlines()
            n = len(lines)
            me = f[:-2]
            for line in lines:
                if line.startswith('#include "'):
                    inc = line.split('"')[1][:-2]
                    if me in rank and inc in rank and inc != me and rank[inc] <= rank[me]:
                        errors.append("%s includes %s.h (%s)" % (f, inc,
                                      "a higher layer" if rank[inc] < rank[me] else "a sibling"))
            if n > MAX_LINES:
                errors.append("%s has %d lines (at most %d)" % (f, n, MAX_LINES))
    for e in errors:
        print("layers: " + e)
    print("layers: %d object files, %d references between them, %d wrong"
          % (len(objs), edges, len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
