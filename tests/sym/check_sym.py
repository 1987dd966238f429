#!/usr/bin/env python3
"""Every frame named: stripped binaries, debug files, debuginfod, perf maps, trampolines.

    check_sym.py --preload libgrowprof.so --growprof growprof --target symgrow
                 --case stripped|debuginfod|symtab|tramp|flame|python3.12|python3.13|python3.13-jit
                 [--source symgrow.c] [--keep]

symgrow (symgrow.c) grows one block per function, 1,999 realloc steps each, and prints its
truth (steps per function, truth.h). The cases:
  stripped    a `strip --strip-all` copy: .dynsym names grow_exported only, the static
              functions are '?? (symgrow.stripall+0x...)'; with GROWPROF_DEBUG_DIR holding the
              split debug file at .build-id/xx/rest.debug every site is named with the file
              and line of its realloc call (read from symgrow.c), --wrapper wrap_realloc moves
              that site to its caller, and a copy with only a .gnu_debuglink finds its debug
              file beside it.
  debuginfod  the same stripped copy named through a real `debuginfod -F DIR` serving the
              debug file on a free loopback port, with a fresh DEBUGINFOD_CACHE_PATH that
              then holds the file.
  symtab      a `strip --strip-debug` copy: .symtab names every site, without file:line.
  tramp       symgrow calls grow_tramp through a copy of CPython's perf trampoline in
              anonymous memory and names it in /tmp/perf-PID.map: the stack goes on through it
              to main, the frame is named from the map kept beside the trace (.perfmap, 0600,
              a copy of the map), from /tmp/perf-PID.map when that is gone, and unnamed (but
              the stack still complete) without either.
  python3.N   CPython 3.12+ (pyenv) `-X perf`: the top site's stack names the Python
              functions py::grow_bytes and py::outer from the kept map, and its whole stack
              (folded) goes from the interpreter's entry (Py_BytesMain) through every Python
              frame. Skipped (77) without that Python.
  python3.13-jit  the same with -X perf_jit, the names from the jitdump kept beside the
              trace (.jitdump, a copy of /tmp/jit-PID.dump).
  flame       the html report of a run whose deep stacks copy nothing and whose copying
              tower is shallow: for each weight the flame graph is as tall as the frames it
              draws (flame_height.js, headless Chromium; skipped without it).
Site steps are compared with the truth in every case. Exit 0 if all holds, 1 otherwise.
"""

import argparse
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gptest import Failure, base_env, run, show  # noqa: E402

SKIP = 77
TIMEOUT = 120
FUNCS = ["grow_local", "grow_exported", "wrap_realloc"]

PY_SCRIPT = r'''
def grow_bytes(n):
    b = bytearray()
    for i in range(n):
        b += b"abcdefghijklmnop" * 8
    return len(b)

def outer():
    return grow_bytes(20000)

print(outer())
'''


def check(cond, what):
    if not cond:
        raise Failure(what)


def tool(name):
    path = shutil.which(name)
    if not path:
        raise Failure(f"{name} is not installed (scripts/deps.sh --test)")
    return path


def sh(cmd, cwd, what):
    p = run(cmd, base_env(), cwd, what, TIMEOUT)
    if p.returncode != 0:
        raise Failure(f"{what}: exit {p.returncode}: {show(p.stderr)}")
    return p


def profile(args, exe, cmd, work, name):
    """Run cmd under the profiler; @return (trace path, the program's stdout)."""
    env = base_env()
    trace = os.path.join(work, name + ".zst")
    env["LD_PRELOAD"] = args.preload
    env["GROWPROF_OUTPUT"] = trace
    p = run([exe] + cmd, env, work, name, TIMEOUT)
    if p.returncode != 0:
        raise Failure(f"{name}: exit {p.returncode}: {show(p.stderr)}")
    check(os.path.exists(trace), f"{name}: no trace {trace}")
    return trace, p.stdout.decode()


def report(args, trace, extra=(), env_add=None, fmt="json"):
    env = base_env()
    env.update(env_add or {})
    p = run([args.growprof, "report", "--format", fmt] + list(extra) + [trace], env,
            os.path.dirname(trace), "growprof report", TIMEOUT)
    if p.returncode != 0:
        raise Failure(f"growprof report {trace}: exit {p.returncode}: {show(p.stderr)}")
    return json.loads(p.stdout) if fmt == "json" else p.stdout.decode()


def site(rep, fn):
    rows = [s for s in rep["sites"] if s["function"] == fn]
    check(len(rows) == 1, f"one site {fn} expected, report has: "
          f"{[(s['function'], s['steps']) for s in rep['sites']]}")
    return rows[0]


def truth_steps(truth, fn):
    return truth["functions"][fn]["steps"]


def realloc_lines(source):
    """The line of the GP_REALLOC call in each function of symgrow.c."""
    lines, fn = {}, None
    with open(source) as f:
        for no, text in enumerate(f, 1):
            m = re.match(r"GP_SITE (?:static )?\w+ \*?(\w+)\(", text)
            if m:
                fn = m.group(1)
            if "GP_REALLOC(" in text and fn:
                lines[fn] = no
    return lines


def expect_named(rep, truth, lines, what, with_lines=True):
    for fn in FUNCS:
        s = site(rep, fn)
        check(s["steps"] == truth_steps(truth, fn),
              f"{what}: {fn} has {s['steps']} steps, the program made {truth_steps(truth, fn)}")
        if with_lines:
            check(s["file"] and s["file"].endswith("symgrow.c") and s["line"] == lines[fn],
                  f"{what}: {fn} at {s['file']}:{s['line']}, its realloc is at symgrow.c:"
                  f"{lines[fn]}")
        else:
            check(s["file"] is None and s["line"] is None,
                  f"{what}: {fn} has a position {s['file']}:{s['line']} without DWARF")


def build_id(path):
    p = sh([tool("readelf"), "-n", path], None, "readelf")
    m = re.search(r"Build ID: ([0-9a-f]+)", p.stdout.decode())
    if not m:
        raise Failure(f"{path} has no build id")
    return m.group(1)


def split(args, work):
    """symgrow.debug (the debug part) and symgrow.stripall (no symbols but .dynsym)."""
    exe = os.path.join(work, "symgrow.stripall")
    dbg = os.path.join(work, "symgrow.debug")
    sh([tool("objcopy"), "--only-keep-debug", args.target, dbg], work, "objcopy")
    sh([tool("strip"), "--strip-all", "-o", exe, args.target], work, "strip")
    return exe, dbg


def case_stripped(args, work):
    exe, dbg = split(args, work)
    lines = realloc_lines(args.source)
    trace, out = profile(args, exe, [], work, "stripall")
    truth = json.loads(out)

    rep = report(args, trace)
    s = site(rep, "grow_exported")  # in .dynsym: --export-dynamic
    check(s["steps"] == truth_steps(truth, "grow_exported") and s["file"] is None,
          f"stripped: grow_exported from .dynsym: {s}")
    unnamed = [s for s in rep["sites"] if s["function"] is None]
    check(len(unnamed) == 2 and all(s["module"] == exe for s in unnamed),
          f"stripped: 2 unnamed sites in {exe} expected (grow_local, wrap_realloc): "
          f"{[(s['function'], s['module']) for s in rep['sites']]}")
    text = report(args, trace, fmt="text")
    check(re.search(r"\?\? \(symgrow\.stripall\+0x[0-9a-f]+\)", text),
          f"stripped: no '?? (symgrow.stripall+0x...)' in the text report:\n{show(text)}")

    # The debug file by build id under a debug root.
    bid = build_id(exe)
    root = os.path.join(work, "debugroot")
    os.makedirs(os.path.join(root, ".build-id", bid[:2]))
    shutil.copy(dbg, os.path.join(root, ".build-id", bid[:2], bid[2:] + ".debug"))
    env = {"GROWPROF_DEBUG_DIR": root}
    expect_named(report(args, trace, env_add=env), truth, lines, "build-id debug file")
    rep = report(args, trace, ["--wrapper", "wrap_realloc"], env_add=env)
    s = site(rep, "grow_via_wrap")
    check(s["steps"] == truth_steps(truth, "wrap_realloc"),
          f"--wrapper wrap_realloc: grow_via_wrap has {s['steps']} steps, "
          f"wrap_realloc made {truth_steps(truth, 'wrap_realloc')}")
    check(not [x for x in rep["sites"] if x["function"] == "wrap_realloc"],
          "--wrapper wrap_realloc: wrap_realloc is still a site")

    # The debug file by .gnu_debuglink, beside the binary.
    linked = os.path.join(work, "linked")
    os.mkdir(linked)
    lexe = os.path.join(linked, "symgrow.linked")
    sh([tool("objcopy"), "--add-gnu-debuglink=" + dbg, exe, lexe], work, "objcopy debuglink")
    shutil.copy(dbg, os.path.join(linked, "symgrow.debug"))
    trace, out = profile(args, lexe, [], linked, "linked")
    expect_named(report(args, trace), json.loads(out), lines, "debuglink")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def case_debuginfod(args, work):
    server = shutil.which("debuginfod")
    if not server:
        print("debuginfod is not installed (Debian package debuginfod): skipped")
        return SKIP
    exe, dbg = split(args, work)
    lines = realloc_lines(args.source)
    trace, out = profile(args, exe, [], work, "stripall")
    truth = json.loads(out)
    served = os.path.join(work, "served")
    os.mkdir(served)
    shutil.move(dbg, os.path.join(served, "symgrow.debug"))
    bid = build_id(exe)
    port = free_port()
    log = open(os.path.join(work, "debuginfod.log"), "w")
    proc = subprocess.Popen([server, "-F", "-p", str(port), "-d",
                             os.path.join(work, "index.sqlite"), served],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=base_env())
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:  # until it has scanned the directory and serves the file
            try:
                with urllib.request.urlopen(f"{url}/buildid/{bid}/debuginfo", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise Failure(f"debuginfod on port {port} does not serve {bid}: "
                              f"{show(open(log.name).read())}")
            time.sleep(0.3)
        cache = os.path.join(work, "cache")
        env = {"DEBUGINFOD_URLS": url, "DEBUGINFOD_CACHE_PATH": cache}
        expect_named(report(args, trace, env_add=env), truth, lines, "debuginfod")
        check(os.path.exists(os.path.join(cache, bid, "debuginfo")),
              f"debuginfod: the client's cache {cache} has no {bid}/debuginfo")
        # From the cache now, with the server gone.
        proc.terminate()
        proc.wait(timeout=30)
        expect_named(report(args, trace, env_add=env), truth, lines, "debuginfod cache")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    return 0


def case_symtab(args, work):
    exe = os.path.join(work, "symgrow.symtab")
    sh([tool("strip"), "--strip-debug", "-o", exe, args.target], work, "strip")
    trace, out = profile(args, exe, [], work, "symtab")
    expect_named(report(args, trace), json.loads(out), None, ".symtab", with_lines=False)


def stack_names(s):
    return [f["function"] for f in s["stack"]]


def case_tramp(args, work):
    trace, out = profile(args, args.target, ["tramp"], work, "tramp")
    truth = json.loads(out)
    pids = [t["pid"] for t in report(args, trace)["traces"]]
    tmpmap = f"/tmp/perf-{pids[0]}.map"
    kept = trace[:-len(".zst")] + ".perfmap"
    try:
        check(os.path.exists(kept), f"tramp: no perf map kept beside the trace ({kept})")
        check(os.stat(kept).st_mode & 0o777 == 0o600,
              f"tramp: {kept} has mode {oct(os.stat(kept).st_mode & 0o777)}, not 0600")
        check(open(kept).read() == open(tmpmap).read(), f"tramp: {kept} differs from {tmpmap}")

        def stack(what):
            s = site(report(args, trace), "grow_tramp")
            check(s["steps"] == truth_steps(truth, "grow_tramp"),
                  f"{what}: grow_tramp has {s['steps']} steps, the program made "
                  f"{truth_steps(truth, 'grow_tramp')}")
            names = stack_names(s)
            check(names[:1] == ["grow_tramp"] and names[2:4] == ["run_tramp", "main"] and
                  s["stack"][1]["module"] is None,
                  f"{what}: the stack does not go from grow_tramp through the trampoline "
                  f"to main: {names}")
            return names[1]

        os.unlink(tmpmap)  # from the kept copy
        check(stack("kept map") == "c::tramp_grow", "kept map: the trampoline is not named")
        folded = report(args, trace, ["--weight", "steps"], fmt="folded")
        steps = truth_steps(truth, "grow_tramp")
        check(re.search(rf"(^|;)main;run_tramp;c::tramp_grow;grow_tramp {steps}$", folded, re.M),
              f"kept map: no folded stack main;run_tramp;c::tramp_grow;grow_tramp {steps}:"
              f"\n{folded}")
        shutil.move(kept, tmpmap)  # from /tmp while it is there
        check(stack("/tmp map") == "c::tramp_grow", "/tmp map: the trampoline is not named")
        os.unlink(tmpmap)
        check(stack("no map") is None, "no map: the trampoline has a name")
    finally:
        if os.path.exists(tmpmap):
            os.unlink(tmpmap)


def find_python(version):
    roots = [os.environ.get("PYENV_ROOT", ""), os.path.expanduser("~/.pyenv"), "/root/.pyenv"]
    for root in roots:
        if root:
            found = sorted(glob.glob(os.path.join(root, "versions", version + ".*", "bin",
                                                  "python" + version)))
            if found:
                return found[-1]
    return shutil.which("python" + version)


def case_python(args, work, version, jit=False):
    """-X perf (perf map), or with jit -X perf_jit (a jitdump, CPython 3.13+)."""
    py = find_python(version)
    if not py:
        print(f"no CPython {version} (pyenv): skipped")
        return SKIP
    script = os.path.join(work, "w.py")
    with open(script, "w") as f:
        f.write(PY_SCRIPT)
    opt = "perf_jit" if jit else "perf"
    trace, out = profile(args, py, ["-X", opt, script], work, "py")
    pid = report(args, trace)["traces"][0]["pid"]
    tmpmap = f"/tmp/jit-{pid}.dump" if jit else f"/tmp/perf-{pid}.map"
    try:
        check(out.strip() == str(20000 * 128), f"{py}: printed {out!r}")
        kept = trace[:-len(".zst")] + (".jitdump" if jit else ".perfmap")
        check(os.path.exists(kept), f"{py} -X {opt}: no {kept} kept beside the trace")
        check(open(kept, "rb").read() == open(tmpmap, "rb").read(),
              f"{py} -X {opt}: {kept} differs from {tmpmap}")
        if os.path.exists(tmpmap):
            os.unlink(tmpmap)  # the kept copy alone must do
        rep = report(args, trace)
        top = rep["sites"][0]
        names = stack_names(top)
        g, o = f"py::grow_bytes:{script}", f"py::outer:{script}"
        check(g in names and o in names and names.index(g) < names.index(o),
              f"{py}: the top site's stack does not name {g} then {o}: {names}")
        # A site's stack in the JSON report may be that of a chain's origin (16 frames);
        # the flame graph's stacks are whole: one of them goes from the interpreter's entry
        # through every Python frame to the site.
        folded = report(args, trace, ["--weight", "steps"], fmt="folded").splitlines()
        whole = [ln for ln in folded if ln.startswith("Py_BytesMain;") and f";{o};" in ln and
                 f";{g};" in ln and f"py::<module>:{script};" in ln and
                 ln.rsplit(" ", 1)[0].endswith(";" + top["function"])]
        check(whole, f"{py}: no folded stack from Py_BytesMain through <module>, outer and "
              f"grow_bytes to {top['function']}:\n{show(chr(10).join(folded))}")
        check(top["steps"] > 0 and top["bytes_copied"] > 0 and top["function"] is not None,
              f"{py}: the top site grows nothing: {top}")
    finally:
        if os.path.exists(tmpmap):
            os.unlink(tmpmap)
    return 0


def case_flame(args, work):
    """The html flame graph as tall as what it draws (flame_height.js in Chromium)."""
    chromium = os.environ.get("GP_CHROMIUM", "/usr/bin/chromium")
    node = shutil.which("node")
    modules = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "output",
                           "node_modules")
    if not os.access(chromium, os.X_OK) or not node or \
            not os.path.isdir(os.path.join(modules, "playwright-core")):
        print("no chromium, node or playwright-core (scripts/deps.sh --test): skipped")
        return SKIP
    trace, out = profile(args, args.target, ["flame"], work, "flame")
    truth = json.loads(out)
    check(truth_steps(truth, "shrink_deep") > 0 and
          truth["functions"]["grow_pair"]["bytes_copied"] > 0,
          f"flame: symgrow did not both shrink deep and copy shallow: {truth}")
    html = os.path.join(work, "report.html")
    p = run([args.growprof, "report", "--format", "html", "-o", html, trace], base_env(),
            work, "growprof report --format html", TIMEOUT)
    check(p.returncode == 0, f"growprof report --format html: exit {p.returncode}: "
          f"{show(p.stderr)}")
    env = base_env()
    env["NODE_PATH"] = modules
    p = run([node, os.path.join(os.path.dirname(os.path.abspath(__file__)), "flame_height.js"),
             html], env, work, "flame_height.js", 180)
    print(p.stdout.decode(errors="replace"))
    check(p.returncode == 0, f"flame graph height: {show(p.stdout)} {show(p.stderr)}")
    found = json.loads(p.stdout)
    byw = {m["weight"]: m for m in found["weights"]}
    # The case this is about: the copying tower is shallow, the deep stacks copy nothing.
    check(byw[0]["deepest"] < byw[2]["deepest"] and byw[0]["rects"] > 0,
          f"flame: the trace does not have deep stacks without copies: {found['weights']}")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preload", required=True)
    ap.add_argument("--growprof", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--source")
    ap.add_argument("--case", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    for k in ("preload", "growprof", "target"):
        setattr(args, k, os.path.abspath(getattr(args, k)))
    args.source = args.source or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                              "symgrow.c")
    cases = {"stripped": case_stripped, "debuginfod": case_debuginfod,
             "symtab": case_symtab, "tramp": case_tramp, "flame": case_flame,
             "python3.12": lambda a, w: case_python(a, w, "3.12"),
             "python3.13": lambda a, w: case_python(a, w, "3.13"),
             "python3.13-jit": lambda a, w: case_python(a, w, "3.13", jit=True)}
    if args.case not in cases:
        ap.error(f"unknown case {args.case}")
    work = tempfile.mkdtemp(prefix="gp-sym-")
    try:
        rc = cases[args.case](args, work) or 0
    except Failure as e:
        print(f"FAIL {args.case}: {e}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if rc == 0:
        print(f"ok {args.case}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
