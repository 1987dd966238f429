#!/usr/bin/env python3
"""Relocations of real runtimes: the bytes they copy, and the code that grows the buffer.

    check_runtime.py --preload PATH/libgrowprof.so --copycount PATH/copycount.so
                     --growprof PATH/growprof --runtime python|python-malloc|node|jq

Each runtime grows one buffer by copying it whole into a new, larger one, N times:
  python         `out += b"x" * 37` in grow_bytes() (CPython's default allocator)
  python-malloc  the same with PYTHONMALLOC=malloc
  node           `b = Buffer.concat([b, piece])` (the old buffers are freed by the GC)
  jq             `[range(0;N) | "s\\(.)"] | join(",")` (jq 1.6 allocates twice the length
                 and copies the length)
The script states its own truth where it can (python, node: the sum of the lengths copied);
copycount.so, behind the profiler, counts independently every copy call of >= 4 KiB. It
runs the program plainly and under LD_PRELOAD="libgrowprof.so copycount.so" (exit 0, the
same stdout), then asserts on `growprof report --format json`:
  - relocation bytes copied within 3% of the truth and of copycount's bytes;
  - the growth is one chain of about N steps (max_chain_steps >= 0.97 N; node: >= 0.97 N
    steps, as V8's collector may allocate between a new buffer and the copy into it);
  - no relocation site is a free path (a function named *free*, *dealloc*, *DECREF*,
    *release*, a destructor, obmalloc.c);
  - python: the heaviest relocation site is in Objects/bytesobject.c, and its stack holds
    a bytesobject.c frame before any frame of obmalloc.c or ceval.c.
Exit 0 if all holds, 1 otherwise, 77 (skipped) without the runtime.
"""

import argparse
import glob
import json
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gptest  # noqa: E402
from gptest import base_env, show  # noqa: E402

SKIP = 77
TIMEOUT = 400

PY = """
def grow_bytes(n):
    out = b""
    total = 0
    for i in range(n):
        total += len(out)
        out += b"x" * 37
    return total, len(out)
print(*grow_bytes(%d))
"""
NODE = """
let b = Buffer.alloc(0);
const piece = Buffer.alloc(1000, 120);
let total = 0;
for (let i = 0; i < %d; i++) { total += b.length; b = Buffer.concat([b, piece]); }
console.log(total, b.length);
"""
JQ = '[range(0;%d) | "s\\(.)"] | join(",") | length'

FREE_PATH = re.compile(r"free|Free|dealloc|DECREF|DecRef|[Rr]elease|~|::_M_dispose|"
                       r"_M_deallocate")


def runtime_cmd(name, tmp):
    """@return (command, extra environment, N, truth bytes or None), or None to skip."""
    if name.startswith("python"):
        py = shutil.which("python3")
        if not py:
            return None
        n = 6000
        path = os.path.join(tmp, "grow.py")
        with open(path, "w") as f:
            f.write(PY % n)
        env = {"PYTHONMALLOC": "malloc"} if name == "python-malloc" else {}
        return [py, path], env, n, "first"
    if name == "node":
        node = shutil.which("node")
        if not node:
            return None
        n = 1500
        path = os.path.join(tmp, "grow.js")
        with open(path, "w") as f:
            f.write(NODE % n)
        return [node, path], {}, n, "first"
    if name == "jq":
        jq = shutil.which("jq")
        if not jq:
            return None
        n = 20000
        return [jq, "-n", JQ % n], {}, n, None
    raise SystemExit(f"unknown runtime {name}")


def within(got, want, pct):
    return want > 0 and abs(got - want) <= want * pct / 100


def check(args, tmp):
    spec = runtime_cmd(args.runtime, tmp)
    if spec is None:
        return None
    cmd, extra, n, truth_kind = spec
    env = base_env()
    env.pop("PYTHONMALLOC", None)
    env.update(extra)
    plain = gptest.run(cmd, env, tmp, "plain run", TIMEOUT)
    if plain.returncode != 0:
        raise gptest.Failure(f"plain run exited {plain.returncode}:\n{show(plain.stderr)}")
    truth = int(plain.stdout.split()[0]) if truth_kind else None

    penv = dict(env)
    penv["LD_PRELOAD"] = f"{args.preload} {args.copycount}"
    penv["GROWPROF_OUTPUT"] = os.path.join(tmp, "trace.%p.zst")
    penv["COPYCOUNT_OUTPUT"] = os.path.join(tmp, "copies.%p")
    prof = gptest.run(cmd, penv, tmp, "profiled run", TIMEOUT)
    errors = []
    if prof.returncode != 0:
        raise gptest.Failure(f"profiled run exited {prof.returncode}:\n{show(prof.stderr)}")
    if prof.stdout != plain.stdout:
        errors.append(f"stdout differs: plain {show(plain.stdout)} profiled {show(prof.stdout)}")
    traces = sorted(glob.glob(os.path.join(tmp, "trace.*.zst")))
    copies = sorted(glob.glob(os.path.join(tmp, "copies.*")))
    if not traces or not copies:
        raise gptest.Failure(f"traces {traces}, copy counts {copies}")
    cc_bytes = 0
    for c in copies:
        with open(c) as f:
            cc_bytes += int(f.read().split()[1])
    rep = gptest.run([args.growprof, "report", "--format", "json"] + traces, base_env(), tmp,
                     "growprof report", TIMEOUT)
    if rep.returncode != 0:
        raise gptest.Failure(f"growprof report exited {rep.returncode}:\n{show(rep.stderr)}")
    report = json.loads(rep.stdout)
    rtot = report["relocation_totals"]
    rsites = [s for s in report["sites"] if s.get("kind") == "relocation"]
    rsites.sort(key=lambda s: -int(s.get("bytes_copied") or 0))

    got = int(rtot.get("bytes_copied") or 0)
    if truth is not None and not within(got, truth, 3):
        errors.append(f"relocation bytes_copied {got:,}, the program copied {truth:,}")
    if not within(got, cc_bytes, 3):
        errors.append(f"relocation bytes_copied {got:,}, copycount.so counted {cc_bytes:,} "
                      f"in copies of >= 4 KiB")
    if args.runtime == "node":
        # V8's garbage collector may allocate between the new buffer and the copy into it
        # (under load, a few times in a run): the step is lost and the chain starts over.
        steps = sum(int(s.get("steps") or 0) for s in rsites
                    if int(s.get("bytes_copied") or 0) >= got / 100)
        if steps < 0.97 * n:
            errors.append(f"{steps} steps at the growing sites, the program grew one buffer "
                          f"{n} times")
    elif int(rtot.get("max_chain_steps") or 0) < 0.97 * n:
        errors.append(f"max_chain_steps {rtot.get('max_chain_steps')}, the program grew one "
                      f"buffer {n} times")
    for s in rsites:
        fn, fl = s.get("function") or "", s.get("file") or ""
        if FREE_PATH.search(fn.split("(")[0]) or fl.endswith("obmalloc.c"):
            errors.append(f"relocation site on a free path: {fn} ({fl}:{s.get('line')})")
    if args.runtime.startswith("python"):
        top = rsites[0] if rsites else {}
        fl = top.get("file") or ""
        if not fl.endswith("Objects/bytesobject.c"):
            errors.append(f"heaviest relocation site {top.get('function')} at {fl}:"
                          f"{top.get('line')}, not in Objects/bytesobject.c")
        files = [f.get("file") or "" for f in top.get("stack") or []]
        first = next((i for i, f in enumerate(files) if f.endswith("bytesobject.c")), None)
        before = [f for f in files[:first if first is not None else len(files)]
                  if f.endswith(("obmalloc.c", "ceval.c"))]
        if first is None or before:
            errors.append(f"the stack has no bytesobject.c frame before obmalloc.c/ceval.c: "
                          f"{files[:12]}")
    summary = (f"{args.runtime}: relocation bytes_copied={got:,} (truth "
               f"{truth if truth is None else format(truth, ',')}, copycount {cc_bytes:,}), "
               f"steps={rtot.get('steps')} chains={rtot.get('chains')} "
               f"max_chain_steps={rtot.get('max_chain_steps')}; top sites: "
               + "; ".join(f"{s.get('function')} ({s.get('file')}) {s.get('bytes_copied'):,}"
                           for s in rsites[:3]))
    return errors, summary


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for a in ("--preload", "--copycount", "--growprof", "--runtime"):
        ap.add_argument(a, required=True)
    args = ap.parse_args(argv)
    for a in ("preload", "copycount", "growprof"):
        setattr(args, a, os.path.abspath(getattr(args, a)))
    with tempfile.TemporaryDirectory(prefix="gp-rt-") as tmp:
        try:
            res = check(args, tmp)
        except gptest.Failure as e:
            print(f"FAIL {args.runtime}: {e}")
            return 1
        if res is None:
            print(f"SKIP: no {args.runtime}")
            return SKIP
        errors, summary = res
        print(summary)
        for e in errors:
            print("FAIL:", e)
        return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
