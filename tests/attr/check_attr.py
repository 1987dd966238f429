#!/usr/bin/env python3
"""Right about where and what (issue 21): the site, pattern and advice of known growth.

    check_attr.py --preload libgrowprof.so --growprof growprof --target PROG
    check_attr.py --preload libgrowprof.so --growprof growprof --python PY SCRIPT [--malloc]

--target: PROG prints its truth as the last line of stdout (attr_c.c): {"file", "sites":
[{"function", "kind", "pattern", "steps", "moves", "bytes_copied"}], "free_paths": [...]}.
Under the preload, `growprof report --format json` must have, for each listed builder,
exactly one site row with that function and kind (two builders sharing release() are two
rows, rows that would print the same are one), in that file, with the truth's steps, moves,
bytes copied and pattern; its advice states the copies and bytes it saves (never 0) or, for
geometric growth, that copying is amortized; no site, origin or advice names a free path;
`report` (text) and `check --per-site` name the relocation sites with their [relocation] tag.

--python: SCRIPT grows bytes with `out += b"x" * 37` (and str with +=); the relocation site
that copied most must be in Objects/bytesobject.c (bytes_concat / _PyBytes_FromSize), with
b"".join / bytearray / io.BytesIO advice and never "grow geometrically"; no site or advice
names a free path (_PyObject_Free, Py_DECREF, _Py_Dealloc, *_dealloc). --malloc runs it
with PYTHONMALLOC=malloc. Exit 77 (skipped) if PY is missing or has no line information
(stripped, no debug file), or if the preload records
relocation steps at the free of the old block (the code that released it then is all a
stack can name: the preload side of issue 21 item 1 is not in this build).
Exit 0 if all holds, 1 otherwise (each problem printed).
"""
import argparse
import fnmatch
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gptest  # noqa: E402
from gptest import base_env, show  # noqa: E402

SKIP = 77
# What must never be a site or be named in advice (view.c's free paths, a sample).
FREE_PATHS = ["free", "cfree", "_PyObject_Free", "PyObject_Free", "Py_DECREF", "Py_XDECREF",
              "_Py_Dealloc", "*_dealloc", "*dealloc", "operator delete*", "*::~*", "release"]


def is_free_path(fn, extra=()):
    return fn is not None and any(fnmatch.fnmatchcase(fn, p) for p in list(FREE_PATHS) + list(extra))


def fmt_count(n):
    return f"{n:,}"


def fmt_bytes(v):
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    u = 0
    while v >= 1024 and u < 5:
        v /= 1024
        u += 1
    return f"{v:.0f} B" if u == 0 else f"{v:.1f} {units[u]}"


def profile(args, cmd, env_extra, tmp):
    env = base_env()
    env.update(env_extra)
    env["LD_PRELOAD"] = args.preload
    env["GROWPROF_OUTPUT"] = os.path.join(tmp, "trace.%p.zst")
    p = gptest.run(cmd, env, tmp, "the profiled run", 300)
    if p.returncode != 0:
        raise gptest.Failure(f"the profiled run exited {p.returncode}: {show(p.stderr)}")
    traces = sorted(glob.glob(os.path.join(tmp, "trace.*.zst")))
    if not traces:
        raise gptest.Failure("the profiled run left no trace")
    return p.stdout.decode(), traces


def viewer(args, sub, traces, tmp, rc_ok=(0,)):
    p = gptest.run([args.growprof] + sub + traces, base_env(), tmp, "growprof " + sub[0], 300)
    if p.returncode not in rc_ok:
        raise gptest.Failure(f"growprof {' '.join(sub)} exited {p.returncode}: {show(p.stderr)}")
    return p.stdout.decode()


def no_free_paths(errors, report, extra=()):
    for which in ("sites", "origins"):
        for s in report[which]:
            fn = s.get("function")
            if is_free_path(fn, extra):
                errors.append(f"a free path is a {which[:-1]}: {fn} ({s.get('file')}), "
                              f"{s['kind']}, copied {s['bytes_copied']}")
            adv = s.get("advice") or ""
            for name in extra:
                if f" {name} " in adv or f" {name}(" in adv:
                    errors.append(f"advice names the free path {name}: {adv}")
            if "saves 0 " in adv or "(saves 0" in adv or "saves ~0 " in adv:
                errors.append(f"advice that saves nothing at {fn}: {adv}")


def check_c(args, tmp):
    out, traces = profile(args, [args.target], {}, tmp)
    truth = json.loads(out.strip().splitlines()[-1])
    report = json.loads(viewer(args, ["report", "--format", "json", "--top", "100000"], traces, tmp))
    errors = []
    for want in truth["sites"]:
        fn, kind = want["function"], want["kind"]
        rows = [s for s in report["sites"] if s["function"] == fn and s["kind"] == kind]
        if len(rows) != 1:
            errors.append(f"{fn} ({kind}): {len(rows)} site rows, want exactly 1: "
                          + "; ".join(f"{s['function']} {s['kind']}" for s in report["sites"][:20]))
            continue
        s = rows[0]
        if not s["file"] or os.path.basename(s["file"]) != truth["file"]:
            errors.append(f"{fn}: file {s['file']}, want {truth['file']}")
        for k in ("steps", "moves", "bytes_copied"):
            if s[k] != want[k]:
                errors.append(f"{fn}: {k} {s[k]}, want {want[k]}")
        if s["pattern"] != want["pattern"]:
            errors.append(f"{fn}: pattern {s['pattern']} ({s.get('pattern_detail')}), "
                          f"want {want['pattern']}")
        if s["peak_bytes"] > s["peak_sum_bytes"] or s["peak_bytes"] <= 0:
            errors.append(f"{fn}: peak_bytes {s['peak_bytes']} (the largest block) against "
                          f"peak_sum_bytes {s['peak_sum_bytes']}")
        adv = s["advice"]
        if want["pattern"] == "geometric":
            if "amortized" not in adv:
                errors.append(f"{fn}: geometric growth, advice does not say amortized: {adv}")
        elif s["moves"] > 0:
            saves = (f"saves {fmt_count(s['moves'])} cop{'y' if s['moves'] == 1 else 'ies'} / "
                     f"{fmt_bytes(s['bytes_copied'])}")
            if saves not in adv:
                errors.append(f"{fn}: advice without \"{saves}\": {adv}")
            if f" in {fn} " not in adv:
                errors.append(f"{fn}: advice does not name {fn}: {adv}")
        if want["pattern"] == "linear" and s["moves"] > 0 and "reserve ~" not in adv:
            errors.append(f"{fn}: linear growth, advice without a reserve size: {adv}")
    no_free_paths(errors, report, truth.get("free_paths", []))
    # The text report and check name relocation sites as such.
    text = viewer(args, ["report", "--top", "100"], traces, tmp)
    chk = viewer(args, ["check", "--per-site", "--max-amplification", "1"], traces, tmp, (0, 1))
    for want in truth["sites"]:
        if want["kind"] != "relocation":
            continue
        tag = f"[relocation] {want['function']} ({truth['file']}:"
        if tag not in text:
            errors.append(f"the text report lacks \"{tag}\"")
        if tag not in chk:
            errors.append(f"check --per-site lacks \"{tag}\":\n{show(chk.encode(), 1500)}")
    return errors


def check_python(args, tmp):
    if not shutil.which(args.python):
        print(f"SKIP: no {args.python}")
        return None
    # The interpreter itself, not a wrapper script in front of it (pyenv's shims).
    real = subprocess.run([args.python, "-c", "import sys; print(sys.executable)"],
                          capture_output=True, text=True, env=base_env())
    if real.returncode == 0 and real.stdout.strip():
        args.python = real.stdout.strip()
    env = {"PYTHONMALLOC": "malloc"} if args.malloc else {}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    _, traces = profile(args, [args.python, args.script], env, tmp)
    report = json.loads(viewer(args, ["report", "--format", "json", "--top", "100000"], traces, tmp))
    errors = []
    no_free_paths(errors, report, ["_PyObject_Free", "Py_DECREF", "_Py_Dealloc", "bytes_dealloc"])
    rel = [s for s in report["sites"] if s["kind"] == "relocation"]
    if not rel:
        return errors + ["no relocation site at all (bytes += relocates)"]
    top = max(rel, key=lambda s: s["bytes_copied"])
    base = os.path.basename(top["file"] or "")
    if not top["file"]:
        print(f"SKIP: {args.python} has no line information (stripped, no debug file): its "
              f"top relocation site is {top['function']} at {top['address']}")
        return None if not errors else errors
    if base != "bytesobject.c":
        errors.append(f"the top relocation site is {top['function']} ({top['file']}), "
                      "want Objects/bytesobject.c")
    else:
        if top["function"] not in ("bytes_concat", "_PyBytes_FromSize", "PyBytes_FromStringAndSize"):
            errors.append(f"the top relocation site is {top['function']}, want bytes_concat "
                          "or _PyBytes_FromSize")
        adv = top["advice"]
        for words in ('b"".join', "bytearray", "io.BytesIO"):
            if words not in adv:
                errors.append(f"bytes += advice without {words}: {adv}")
        if "geometric" in adv:
            errors.append(f"bytes cannot grow geometrically: {adv}")
    # str += of varying slices: the relocation's stack is taken at the copy, inside CPython's
    # character copier; the site is the concatenation that called it, with str's advice.
    ustr = [s for s in rel if os.path.basename(s["file"] or "") == "unicodeobject.c"]
    if not ustr:
        errors.append("no relocation site in unicodeobject.c (str += relocates)")
    else:
        st = max(ustr, key=lambda s: s["bytes_copied"])
        if st["function"] not in ("PyUnicode_Concat", "PyUnicode_Append", "unicode_concatenate",
                                  "PyUnicode_AppendAndDel", "resize_compact"):
            errors.append(f"the str += site is {st['function']}, want the concatenation "
                          "(PyUnicode_Concat / PyUnicode_Append), not a character copier")
        for words in ('"".join', "io.StringIO"):
            if words not in st["advice"]:
                errors.append(f"str += advice without {words}: {st['advice']}")
        if st["pattern"] != "linear":
            errors.append(f"str += of 1..20 characters is linear, not {st['pattern']}")
    return errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preload", required=True)
    ap.add_argument("--growprof", required=True)
    ap.add_argument("--target")
    ap.add_argument("--python")
    ap.add_argument("--script")
    ap.add_argument("--malloc", action="store_true")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    for k in ("preload", "growprof", "target", "script"):
        if getattr(args, k):
            setattr(args, k, os.path.abspath(getattr(args, k)))
    tmp = tempfile.mkdtemp(prefix="gp-attr-")
    try:
        errors = check_c(args, tmp) if args.target else check_python(args, tmp)
    except gptest.Failure as e:
        errors = [str(e)]
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if errors is None:
        return SKIP
    for e in errors:
        print("FAIL: " + e)
    print("ok" if not errors else f"{len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
