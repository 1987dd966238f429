#!/usr/bin/env python3
"""A run is one thing: `growprof record` writes one run folder, says a few lines, and
report, check and diff read run folders.

    check_run.py --growprof PATH/growprof --preload PATH/libgrowprof.so
                 --target PATH/gp-target-linear [--keep]

Each case runs in a fresh working folder. The program under record is a bash script that
runs basename, env and bash before it starts the C target tests/targets/linear.c, which
writes its own truth (per function: steps, bytes copied) to $GPTRUTH_OUTPUT; the script
then exits with a code, or kills itself with a signal, that the test chose. Asserted:
exactly one new entry in the working folder (the run folder, mode 0700 whatever the umask),
at most 6 summary lines on stderr naming the folder, the process count, the target as the
one process that grew and its hotspot with the truth's bytes copied; the script's exit code
and signal passed through; `report RUN` names the target's hotspot under a two-line header
that counts the shells in one line; -o into a missing folder works, -o where no folder can
be made refuses before the program runs; GROWPROF_OUTPUT naming a folder; bad run folders
(empty, foreign files, an unreadable trace, a damaged trace, only perf maps) get one line
naming them and exit 2, a damaged trace among whole ones is reported with a warning.
Exit status 0 if all holds, 1 otherwise.
"""

import argparse
import itertools
import json
import os
import re
import shutil
import stat
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gptest  # noqa: E402

TIMEOUT = 120

WRAPPER = """#!/bin/bash
# a shim like pyenv's: helper processes first, then the real program, then the shim's own end
name=$(basename "$0")
env true
bash -c '"$1"' inner "$TARGET" || exit 99
case "$END" in
  signal:*) kill -"${END#signal:}" $$ ;;
  *) exit "$END" ;;
esac
"""


class Case:
    def __init__(self, args):
        self.args = args
        self.failures = []
        self.passed = 0

    def check(self, what, cond, detail=""):
        if cond:
            self.passed += 1
            return
        msg = f"FAIL: {what}" + (f"\n  {detail}" if detail else "")
        self.failures.append(msg)
        print(msg, file=sys.stderr)

    def env(self, **extra):
        env = gptest.base_env()
        env["GROWPROF_LIB"] = os.path.abspath(self.args.preload)
        env.update(extra)
        return env

    def growprof(self, cwd, *argv, env=None, umask=None):
        cmd = [os.path.abspath(self.args.growprof), *argv]
        old = os.umask(umask if umask is not None else 0o022)  # inherited by the child
        try:
            p = gptest.run(cmd, env or self.env(), cwd, " ".join(argv[:2]), TIMEOUT)
        finally:
            os.umask(old)
        p.out = p.stdout.decode("utf-8", "replace")
        p.err = p.stderr.decode("utf-8", "replace")
        return p

    def detail(self, p):
        return f"exit {p.returncode}\n  stdout: {gptest.show(p.out, 1500)}\n  stderr: {gptest.show(p.err, 1500)}"


def fresh(root, name):
    d = os.path.join(root, name)
    os.mkdir(d)
    return d


def write_wrapper(d):
    path = os.path.join(d, "shim.sh")
    with open(path, "w") as f:
        f.write(WRAPPER)
    os.chmod(path, 0o755)
    return path


def truth_of(path):
    with open(path) as f:
        return json.load(f)


def hotspot_of(truth):
    """The target's function that copied most, by its own count."""
    fns = truth["functions"]
    return max(fns, key=lambda fn: fns[fn]["bytes_copied"])


def report_json(c, cwd, *inputs):
    p = c.growprof(cwd, "report", "--format", "json", *inputs)
    if p.returncode != 0:
        raise gptest.Failure(f"report --format json {' '.join(inputs)}: {c.detail(p)}")
    return json.loads(p.out)


def site(rep, fn):
    for s in rep["sites"]:
        if s["function"] == fn and s["kind"] == "realloc":
            return s
    return None


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def case_wrapper(c, root, end, umask):
    """The shim under record: one run folder, the summary, the exit status, report RUN."""
    what = f"record shim (end {end}, umask {umask:03o})"
    d = fresh(root, f"wrap-{end.replace(':', '-')}")
    shim = write_wrapper(d)
    truth_path = os.path.join(root, f"truth-{end.replace(':', '-')}.json")
    env = c.env(TARGET=os.path.abspath(c.args.target), END=end, GPTRUTH_OUTPUT=truth_path)
    before = set(os.listdir(d))
    p = c.growprof(d, "record", "--", "./shim.sh", env=env, umask=umask)
    if end.startswith("signal:"):
        sig = int(end.split(":")[1])
        c.check(f"{what}: growprof dies of the program's signal {sig}", p.returncode == -sig,
                c.detail(p))
    else:
        c.check(f"{what}: growprof exits {end} like the program", p.returncode == int(end),
                c.detail(p))
    new = sorted(set(os.listdir(d)) - before)
    c.check(f"{what}: exactly one new entry in the working folder", len(new) == 1, f"new: {new}")
    if len(new) != 1:
        return
    run = new[0]
    runpath = os.path.join(d, run)
    c.check(f"{what}: the entry is a folder growprof.shim.sh.PID",
            os.path.isdir(runpath) and re.fullmatch(r"growprof\.shim\.sh\.\d+", run), run)
    c.check(f"{what}: the run folder is 0700", mode(runpath) == 0o700, oct(mode(runpath)))
    traces = sorted(f for f in os.listdir(runpath) if f.endswith(".zst"))
    lines = p.err.splitlines()
    c.check(f"{what}: at most 6 summary lines on stderr", 1 <= len(lines) <= 6, c.detail(p))
    c.check(f"{what}: the summary names the run folder and the process count",
            bool(lines) and f"./{run}/" in lines[0]
            and f"{len(traces)} processes traced" in lines[0], c.detail(p))
    c.check(f"{what}: the summary says how to see more",
            bool(lines) and lines[-1] == f"growprof: see more: growprof report {run}", c.detail(p))
    truth = truth_of(truth_path)
    hot = hotspot_of(truth)
    rep = report_json(c, d, run)
    exes = sorted(os.path.basename(t["exe"]) for t in rep["traces"])
    c.check(f"{what}: JSON keeps every trace of the run", len(rep["traces"]) == len(traces),
            f"{len(rep['traces'])} in JSON, {len(traces)} files")
    for exe in ("bash", "basename", "env", "gp-target-linear"):
        c.check(f"{what}: a trace of {exe} is in the run", exe in exes, f"{exes}")
    target = [t for t in rep["traces"] if t["exe"].endswith("/gp-target-linear")]
    s = site(rep, hot)
    c.check(f"{what}: report RUN has the target's hotspot {hot} with its steps and bytes "
            f"copied", s is not None and s["steps"] == truth["functions"][hot]["steps"]
            and s["bytes_copied"] == truth["functions"][hot]["bytes_copied"],
            f"site {s and {k: s[k] for k in ('steps', 'bytes_copied')}}, truth "
            f"{truth['functions'][hot]}")
    if not target or s is None:
        return
    pid = target[0]["pid"]
    c.check(f"{what}: the summary names the target as the one process that grew",
            f", 1 grew (gp-target-linear[{pid}])" in lines[0], c.detail(p))
    mib = s["bytes_copied"] / 1048576
    c.check(f"{what}: the summary's top hotspot is {hot} with its bytes copied",
            len(lines) > 1 and lines[1].startswith(f"growprof: top hotspot: {hot} (linear.c:")
            and f"copied {mib:.1f} MiB, amplification {s['amplification']:.2f}x" in lines[1],
            c.detail(p))
    text = c.growprof(d, "report", run)
    tl = text.out.splitlines()
    others = len(traces) - 1
    c.check(f"{what}: report RUN exits 0", text.returncode == 0, c.detail(text))
    c.check(f"{what}: the header names the process that grew",
            bool(tl) and tl[0] == f"growprof report: {len(traces)} processes, 1 grew: "
            f"gp-target-linear[{pid}]", c.detail(text))
    nbash = exes.count("bash")
    c.check(f"{what}: the header counts the {others} others in one line",
            len(tl) > 1 and tl[1].startswith(f"  +{others} processes with little or no growth: ")
            and f"bash x{nbash}" in tl[1] and "basename" in tl[1] and "env" in tl[1],
            c.detail(text))
    notes = list(itertools.takewhile(lambda ln: not ln.startswith("  allocs "), tl[2:]))
    c.check(f"{what}: only per-trace warnings between the header and the totals",
            all(ln.startswith("warning: ") for ln in notes), c.detail(text))
    first = [ln for ln in tl if re.match(r"\s+1\. ", ln)]
    c.check(f"{what}: the first hotspot of report RUN is {hot}",
            bool(first) and re.match(rf"\s+1\. {hot} \(linear\.c:\d+\)$", first[0]),
            c.detail(text))
    dot = c.growprof(d, "report", ".")
    one_line_exit2(c, f"{what}: report of the working folder, which holds the run", dot,
                   f"growprof report: .: no trace in it, but run folders: name one (./{run})")
    # check and diff take the folder too
    chk = c.growprof(d, "check", "--max-copied", str(s["bytes_copied"] - 1), "--per-site", run)
    c.check(f"{what}: check RUN fails a limit one byte under the hotspot",
            chk.returncode == 1 and hot in chk.out + chk.err, c.detail(chk))
    chk = c.growprof(d, "check", "--max-copied", str(rep["totals"]["bytes_copied"]), run)
    c.check(f"{what}: check RUN passes at the run's own bytes copied", chk.returncode == 0,
            c.detail(chk))
    dif = c.growprof(d, "diff", run, "--", os.path.join(run, f"growprof.gp-target-linear.{pid}.zst"))
    c.check(f"{what}: diff RUN -- TRACE exits 0", dif.returncode == 0, c.detail(dif))


def case_output_option(c, root):
    """-o into a missing folder works; -o where no folder can be made refuses first."""
    d = fresh(root, "opt")
    target = os.path.abspath(c.args.target)
    env = c.env(GPTRUTH_OUTPUT=os.path.join(root, "truth-opt.json"))
    p = c.growprof(d, "record", "-o", "new/deep/run", "--", target, env=env, umask=0o022)
    runpath = os.path.join(d, "new/deep/run")
    c.check("-o new/deep/run: exit 0", p.returncode == 0, c.detail(p))
    c.check("-o new/deep/run: the folder and its parents are made 0700",
            os.path.isdir(runpath) and [mode(os.path.join(d, x)) for x in
                                        ("new", "new/deep", "new/deep/run")] == [0o700] * 3,
            str([oct(mode(os.path.join(d, x))) for x in ("new", "new/deep", "new/deep/run")
                 if os.path.exists(os.path.join(d, x))]))
    c.check("-o new/deep/run: nothing else in the working folder", os.listdir(d) == ["new"],
            str(os.listdir(d)))
    if os.path.isdir(runpath):
        rep = report_json(c, d, "new/deep/run")
        truth = truth_of(os.path.join(root, "truth-opt.json"))
        c.check("-o new/deep/run: the run holds the target's trace with its steps",
                len(rep["traces"]) == 1 and rep["totals"]["steps"] == truth["totals"]["steps"],
                f"{rep['totals']} vs {truth['totals']}")
    with open(os.path.join(d, "afile"), "w") as f:
        f.write("not a folder\n")
    os.mkdir(os.path.join(d, "full"))
    with open(os.path.join(d, "full", "x"), "w") as f:
        f.write("x\n")
    for out, why in (("afile/run", "cannot create the run folder afile/run"),
                     ("afile", "afile exists and is not a folder"),
                     ("full", "full is not empty"),
                     ("new/deep/run", "new/deep/run is not empty")):
        marker = os.path.join(d, "ran")
        p = c.growprof(d, "record", "-o", out, "--", "touch", marker)
        c.check(f"-o {out}: refused with exit 2 and one line saying why",
                p.returncode == 2 and p.err.count("\n") == 1 and why in p.err, c.detail(p))
        c.check(f"-o {out}: the program did not run", not os.path.exists(marker))
    # the default folder cannot be made (the working folder was removed): refused first
    marker = os.path.join(root, "ran-gone")
    os.mkdir(os.path.join(d, "gone"))
    p = gptest.run(["sh", "-c", 'cd gone && rmdir ../gone && exec "$@"', "sh",
                    os.path.abspath(c.args.growprof), "record", "--", "touch", marker],
                   c.env(), d, "record in a removed folder", TIMEOUT)
    err = p.stderr.decode()
    c.check("record in a removed working folder: exit 2, one line", p.returncode == 2
            and err.count("\n") == 1 and "cannot create the run folder ./growprof.touch." in err,
            f"exit {p.returncode}, stderr {err!r}")
    c.check("record in a removed working folder: the program did not run",
            not os.path.exists(marker))
    # the default folder cannot be made in a folder we may not write: also refused first
    ro = fresh(root, "readonly")
    os.chmod(ro, 0o555)
    if os.access(ro, os.W_OK):  # root writes anywhere: nothing to refuse
        os.chmod(ro, 0o755)
        return
    marker = os.path.join(root, "ran-ro")
    p = c.growprof(ro, "record", "--", "touch", marker)
    c.check("record in a read-only folder: exit 2, one line", p.returncode == 2
            and p.err.count("\n") == 1 and "cannot create the run folder" in p.err, c.detail(p))
    c.check("record in a read-only folder: the program did not run", not os.path.exists(marker))
    os.chmod(ro, 0o755)


def case_preload_folder(c, root):
    """GROWPROF_OUTPUT naming a folder; without it the trace lands as before."""
    d = fresh(root, "plain")
    target = os.path.abspath(c.args.target)
    lib = os.path.abspath(c.args.preload)
    env = c.env(LD_PRELOAD=lib, GROWPROF_OUTPUT="runs/one/",
                GPTRUTH_OUTPUT=os.path.join(root, "truth-plain.json"))
    old = os.umask(0)
    try:
        p = gptest.run([target], env, d, "plain", TIMEOUT)
    finally:
        os.umask(old)
    c.check("GROWPROF_OUTPUT=runs/one/: the program exits 0", p.returncode == 0)
    folder = os.path.join(d, "runs/one")
    files = os.listdir(folder) if os.path.isdir(folder) else []
    c.check("GROWPROF_OUTPUT=runs/one/: the folders are made 0700 even under umask 000",
            os.path.isdir(folder) and mode(os.path.join(d, "runs")) == 0o700
            and mode(folder) == 0o700, str(files))
    c.check("GROWPROF_OUTPUT=runs/one/: one trace in it, growprof.gp-target-linear.PID.zst",
            len(files) == 1 and re.fullmatch(r"growprof\.gp-target-linear\.\d+\.zst", files[0]),
            str(files))
    env = c.env(LD_PRELOAD=lib, GPTRUTH_OUTPUT=os.path.join(root, "truth-plain2.json"))
    p = gptest.run([target], env, d, "plain", TIMEOUT)
    zst = [f for f in os.listdir(d) if f.endswith(".zst")]
    c.check("plain LD_PRELOAD: ./growprof.gp-target-linear.PID.zst as before",
            len(zst) == 1 and re.fullmatch(r"growprof\.gp-target-linear\.\d+\.zst", zst[0]),
            str(os.listdir(d)))
    if len(zst) == 1:
        rep = report_json(c, d, zst[0])
        c.check("plain LD_PRELOAD: the file is named after the process's pid",
                zst[0] == f"growprof.gp-target-linear.{rep['traces'][0]['pid']}.zst", zst[0])


def one_line_exit2(c, what, p, needle):
    c.check(f"{what}: exit 2 with one line naming it",
            p.returncode == 2 and p.err.count("\n") == 1 and needle in p.err and not p.out,
            c.detail(p))


def case_bad_folders(c, root):
    d = fresh(root, "bad")
    target = os.path.abspath(c.args.target)
    env = c.env(GPTRUTH_OUTPUT=os.path.join(root, "truth-bad.json"))
    p = c.growprof(d, "record", "-o", "good", "--", target, env=env)
    traces = [f for f in os.listdir(os.path.join(d, "good")) if f.endswith(".zst")]
    if p.returncode != 0 or len(traces) != 1:
        c.check("bad folders: a good run to start from", False, c.detail(p))
        return
    good = os.path.join(d, "good", traces[0])
    whole = report_json(c, d, "good")
    os.mkdir(os.path.join(d, "empty"))
    for cmd in ("report", "check", "diff"):
        extra = ["--max-moves", "1"] if cmd == "check" else []
        tail = ["--", "good"] if cmd == "diff" else []
        p = c.growprof(d, cmd, *extra, "empty", *tail)
        one_line_exit2(c, f"{cmd} of an empty folder", p, f"growprof {cmd}: empty: no trace")
    os.mkdir(os.path.join(d, "foreign"))
    for name in ("notes.txt", "data.csv"):
        with open(os.path.join(d, "foreign", name), "w") as f:
            f.write("hello\n")
    p = c.growprof(d, "report", "foreign")
    one_line_exit2(c, "report of a folder of foreign files", p, "foreign: not a growprof run")
    os.mkdir(os.path.join(d, "maps"))
    with open(os.path.join(d, "maps", "growprof.python3.1.perfmap"), "w") as f:
        f.write("7f0000001000 40 py::f:x.py\n")
    p = c.growprof(d, "report", "maps")
    one_line_exit2(c, "report of a folder of perf maps only", p, "maps: no trace in this folder")
    # a perf map beside a trace is the run's, not a trace and not foreign
    shutil.copytree(os.path.join(d, "good"), os.path.join(d, "withmap"))
    stem = traces[0][:-len(".zst")]
    with open(os.path.join(d, "withmap", stem + ".perfmap"), "w") as f:
        f.write("7f0000001000 40 py::f:x.py\n")
    rep = report_json(c, d, "withmap")
    c.check("a perf map beside its trace: the same report", rep["totals"] == whole["totals"]
            and len(rep["traces"]) == 1, f"{rep['totals']} vs {whole['totals']}")
    # an unreadable trace inside: never skipped quietly
    shutil.copytree(os.path.join(d, "good"), os.path.join(d, "unreadable"))
    os.symlink("gone.zst", os.path.join(d, "unreadable", "growprof.lost.1.zst"))
    for cmd in ("report", "check"):
        extra = ["--max-moves", "1"] if cmd == "check" else []
        p = c.growprof(d, cmd, *extra, "unreadable")
        one_line_exit2(c, f"{cmd} of a run with an unreadable trace", p,
                       "unreadable/growprof.lost.1.zst: cannot read")
    # a damaged trace among whole ones: report what is whole, say what is not
    shutil.copytree(os.path.join(d, "good"), os.path.join(d, "damaged"))
    with open(good, "rb") as f:
        data = bytearray(f.read())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0x5A
    bad = os.path.join(d, "damaged", "growprof.broken.2.zst")
    with open(bad, "wb") as f:
        f.write(data)
    p = c.growprof(d, "report", "damaged")
    warn = [ln for ln in p.out.splitlines() if "growprof.broken.2.zst" in ln]
    c.check("report of a partly damaged run: exit 0, one warning names the damaged trace",
            p.returncode == 0 and len(warn) == 1
            and warn[0].startswith("warning: damaged/growprof.broken.2.zst: "), c.detail(p))
    rep = report_json(c, d, "damaged")
    hot = hotspot_of(truth_of(os.path.join(root, "truth-bad.json")))
    s, w = site(rep, hot), site(whole, hot)
    c.check("report of a partly damaged run: the whole trace is counted whole",
            s is not None and w is not None and s["steps"] >= w["steps"]
            and rep["totals"]["steps"] >= whole["totals"]["steps"],
            f"{rep['totals']} vs {whole['totals']}")
    p = c.growprof(d, "check", "--max-moves", "100000000", "damaged")
    one_line_exit2(c, "check of a partly damaged run", p, "damaged/growprof.broken.2.zst: ")
    os.mkdir(os.path.join(d, "alldamaged"))
    shutil.copy(bad, os.path.join(d, "alldamaged"))
    p = c.growprof(d, "report", "alldamaged")
    one_line_exit2(c, "report of a run whose only trace is damaged", p,
                   "alldamaged: no readable trace")


def case_missing_module(c, root):
    """A run reported where its program is gone: the module is named as missing."""
    d = fresh(root, "moved")
    prog = os.path.join(d, "prog")
    shutil.copy(c.args.target, prog)
    env = c.env(GPTRUTH_OUTPUT=os.path.join(root, "truth-moved.json"))
    p = c.growprof(d, "record", "-o", "run", "--", prog, env=env)
    c.check("a moved program: record exits 0", p.returncode == 0, c.detail(p))
    before = c.growprof(d, "report", "run")
    c.check("a program still there: no warning about modules",
            before.returncode == 0 and "not found here" not in before.out, c.detail(before))
    os.remove(prog)
    after = c.growprof(d, "report", "run")
    c.check("a program gone: one warning names it as missing",
            after.returncode == 0 and f"warning: 1 module not found here, so its frames are "
            f"unnamed: {prog}\n" in after.out, c.detail(after))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--growprof", required=True)
    ap.add_argument("--preload", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    c = Case(args)
    root = tempfile.mkdtemp(prefix="gp-run-")
    try:
        case_wrapper(c, root, "7", 0o022)
        case_wrapper(c, root, "0", 0o000)
        case_wrapper(c, root, "signal:15", 0o077)
        case_wrapper(c, root, "signal:9", 0o022)
        case_output_option(c, root)
        case_preload_folder(c, root)
        case_bad_folders(c, root)
        case_missing_module(c, root)
    except gptest.Failure as e:
        c.check("the run went through", False, str(e))
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if c.failures:
        print(f"{len(c.failures)} failed, {c.passed} passed", file=sys.stderr)
        return 1
    print(f"ok: {c.passed} checks")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
