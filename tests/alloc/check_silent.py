#!/usr/bin/env python3
"""A traced process that made no allocator calls at all is said so, not shown as a success.

    check_silent.py --preload PATH/libgrowprof.so --growprof PATH/growprof
                    (--target PATH | --go SRC.go) [--allocates] [--keep]

The program is silent.c (dynamically linked, never calls malloc), a Go program (--go: built
here with cgo and the external linker, so that the preload is loaded; its runtime allocates
on its own), or with --allocates one that does allocate (family.c). In a fresh temporary
directory this
  1. runs it plainly, then under `growprof record -- PROG`: the same stdout and exit status;
  2. record's stderr names the process as one that "made no allocator calls at all" (not
     with --allocates);
  3. `growprof report` (text) has that line for the process, naming it EXE[PID]; `--format
     json` gives the trace "allocator_calls": 0 (with --allocates: allocs - own_allocs + frees
     + steps + failed of its totals, > 0, and no such line anywhere).
--go exits 77 (skipped) without the go tool.
Exit status 0 if all holds, 1 otherwise.
"""

import argparse
import glob
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gptest  # noqa: E402
from gptest import base_env, show  # noqa: E402

SKIP = 77
TIMEOUT = 200
PHRASE = "made no allocator calls at all"
Failure = gptest.Failure


Skip = gptest.Skip


def build_go(src, tmp):
    go = shutil.which("go")
    if not go:
        return None
    env = base_env()
    env.update(GOCACHE=os.path.join(tmp, "gocache"), GOPATH=os.path.join(tmp, "gopath"),
               CGO_ENABLED="1", GO111MODULE="off", HOME=tmp)
    exe = os.path.join(tmp, "gohello")
    r = gptest.run([go, "build", "-ldflags=-linkmode=external", "-o", exe, src], env, tmp,
                   "go build", TIMEOUT)
    if r.returncode != 0:
        raise Failure(f"go build: exit {r.returncode}\n{show(r.stderr)}")
    return exe


def check(a, tmp):
    errs = []
    target = a.target or build_go(a.go, tmp)
    if target is None:
        raise Skip("no go tool")
    name = os.path.basename(target)
    plain = gptest.run([target], base_env(), tmp, "plain run", TIMEOUT)
    env = base_env()
    env["GROWPROF_LIB"] = a.preload
    rec = gptest.run([a.growprof, "record", "--", target], env, tmp, "growprof record", TIMEOUT)
    if (rec.returncode, rec.stdout) != (plain.returncode, plain.stdout):
        errs.append(f"record: exit {rec.returncode}, stdout {show(rec.stdout)!r}; plainly "
                    f"exit {plain.returncode}, stdout {show(plain.stdout)!r}")
    said = PHRASE in rec.stderr.decode("utf-8", "replace")
    if said != (not a.allocates):
        errs.append(f"record's stderr {'says' if said else 'does not say'} {PHRASE!r}:\n"
                    f"{show(rec.stderr)}")
    traces = glob.glob(os.path.join(tmp, f"growprof.{name}.*.zst"))
    traces += glob.glob(os.path.join(tmp, f"growprof.{name}.*", "*.zst"))
    if len(traces) != 1:
        raise Failure(f"expected one trace of {name}, found {traces}\n{show(rec.stderr)}")
    text = gptest.run([a.growprof, "report", traces[0]], base_env(), tmp, "report", TIMEOUT)
    js = gptest.run([a.growprof, "report", "--format", "json", traces[0]], base_env(), tmp,
                    "report --format json", TIMEOUT)
    if text.returncode != 0 or js.returncode != 0:
        raise Failure(f"report: exit {text.returncode} / {js.returncode}\n{show(text.stderr)}")
    rep = json.loads(js.stdout)
    ti = rep["traces"][0]
    t = rep["totals"]
    # own_allocs: what glibc allocated for the profiler's flusher thread (its TLS), counted
    # in allocs as an interposer in front counts it, but no call of the program's
    own = ti.get("own_allocs")
    if not isinstance(own, int) or not 0 <= own <= 2:
        errs.append(f"own_allocs = {own!r}, expected 0 to 2 (the flusher thread's TLS)")
        own = 0
    calls = t["allocs"] - own + t["frees"] + t["steps"] + t["failed"]
    if ti.get("allocator_calls") != calls:
        errs.append(f"allocator_calls = {ti.get('allocator_calls')}, the totals add up to "
                    f"{calls}")
    out = text.stdout.decode("utf-8", "replace")
    line = f"note: {name}[{ti['pid']}] {PHRASE}"
    if a.allocates:
        if calls == 0 or PHRASE in out:
            errs.append(f"an allocating program: {calls} calls, report:\n{show(out)}")
    elif calls != 0 or line not in out:
        errs.append(f"{calls} allocator calls; expected the line {line!r} in:\n{show(out)}")
    return errs


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preload", required=True)
    ap.add_argument("--growprof", required=True)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--target")
    g.add_argument("--go")
    ap.add_argument("--allocates", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args(argv)
    for k in ("preload", "growprof", "target", "go"):
        if getattr(a, k):
            setattr(a, k, os.path.abspath(getattr(a, k)))
    return gptest.main_of(check, a, "gp-silent-")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
