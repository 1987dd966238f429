#!/usr/bin/env python3
"""Check the visual outputs of `growprof report`: folded, pprof, html.

    check_outputs.py --preload PATH/libgrowprof.so --growprof PATH/growprof
                     --demo PATH/growdemo --reloc PATH/gp-output-reloc
                     --proto PATH/profile.proto [--keep]

In a fresh temporary directory it records growdemo (a linear and a doubling string builder;
one of its arguments holds < > & to test escaping) and gp-output-reloc (a buffer grown by
malloc + copy + free: a relocation chain), then for each trace checks against
`growprof report --format json`:
  folded  every line is "STACK N"; append_linear / append_doubling (grow_by_copy) are leaf
          frames; the weights add up to the run's bytes_copied, and with --weight moves /
          steps to its moves / steps (realloc and relocation totals together); relocation
          stacks end with "[relocation]"; no frame of the profiler or libc;
  pprof   -o FILE is gzip; `protoc --decode perftools.profiles.Profile` reads it; the sample
          types are bytes_copied/bytes, moves/count, steps/count; each function's samples
          add up to its site in the JSON report; the mapping carries the build id; refuses
          to write to a terminal (exit 2);
  html    one file with no http(s) src/href, no external script, style sheet or import;
          names both functions, escapes the < > & of the command line, embeds the flame data
          that add up to the totals, and one chart per hotspot.
Exit status 0 if all holds, 1 otherwise (with a readable account), 77 if protoc is missing.
"""

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

RUN_TIMEOUT = 100
NASTY = "</script><b>&amp;x\"'"


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def run(cmd, **kw):
    kw.setdefault("timeout", RUN_TIMEOUT)
    return subprocess.run(cmd, capture_output=True, **kw)


def record(args, tmp, prog, prog_args, name):
    env = dict(os.environ, LD_PRELOAD=args.preload,
               GROWPROF_OUTPUT=os.path.join(tmp, name + ".%p.zst"))
    r = run([prog] + prog_args, env=env, cwd=tmp)
    check(r.returncode == 0, f"{prog} under the profiler exited {r.returncode}: {r.stderr!r}")
    traces = sorted(os.path.join(tmp, f) for f in os.listdir(tmp)
                    if f.startswith(name + ".") and f.endswith(".zst"))
    check(len(traces) == 1, f"expected one trace of {name}, found {traces}")
    return traces


def report(args, traces, *opts, binary=False):
    r = run([args.growprof, "report", *opts, *traces])
    check(r.returncode == 0, f"growprof report {' '.join(opts)} exited {r.returncode}: "
          f"{r.stderr.decode(errors='replace')}")
    return r.stdout if binary else r.stdout.decode()


def totals(rep):
    """The run's numbers, realloc and relocation chains together."""
    t = dict(rep["totals"])
    for k, v in rep.get("relocation_totals", {}).items():
        if k in ("steps", "moves", "bytes_copied"):
            t[k] = t.get(k, 0) + v
    return t


def parse_folded(text):
    lines = text.splitlines()
    check(lines, "folded output is empty")
    out = []
    for ln in lines:
        m = re.match(r"^(.+) (\d+)$", ln)
        check(m, f"folded line does not parse as 'STACK N': {ln!r}")
        frames = m.group(1).split(";")
        check(all(frames), f"empty frame in {ln!r}")
        check(int(m.group(2)) > 0, f"weight 0 printed: {ln!r}")
        out.append((frames, int(m.group(2))))
    return out


def check_folded(args, traces, rep, leaves, reloc):
    t = totals(rep)
    for weight, key in (("bytes_copied", "bytes_copied"), ("moves", "moves"), ("steps", "steps")):
        opts = ["--format", "folded"] + ([] if weight == "bytes_copied" else ["--weight", weight])
        rows = parse_folded(report(args, traces, *opts))
        total = sum(n for _, n in rows)
        check(total == t[key], f"folded --weight {weight}: weights add up to {total}, "
              f"the report's total {key} is {t[key]}")
        for frames, _ in rows:
            for f in frames:
                check(not re.search(r"libgrowprof|^__libc_start|^_start$|^malloc$|^realloc$", f),
                      f"profiler/libc frame {f!r} in folded stack {';'.join(frames)}")
        names = {fr[-2] if fr[-1] == "[relocation]" else fr[-1] for fr, _ in rows}
        for leaf in leaves:
            check(leaf in names, f"folded --weight {weight}: no stack ends at {leaf}: {names}")
        if weight == "bytes_copied":
            by_leaf = {}
            for fr, n in rows:
                by_leaf[";".join(fr)] = n
            for leaf in leaves:
                site = [s for s in rep["sites"] if s["function"] == leaf]
                got = sum(n for fr, n in rows
                          if (fr[-2] if fr[-1] == "[relocation]" else fr[-1]) == leaf)
                want = sum(s["bytes_copied"] for s in site)
                check(got == want, f"folded: {leaf} weighs {got}, its sites copied {want}")
            # outermost first: main comes before the site
            for fr, _ in rows:
                if fr[-1] in leaves and "main" in fr:
                    check(fr.index("main") < len(fr) - 1, f"main is not outermost in {fr}")
        if reloc:
            check(any(fr[-1] == "[relocation]" for fr, _ in rows),
                  f"folded --weight {weight}: no stack marked [relocation]")
    r = run([args.growprof, "report", "--format", "folded", "--weight", "nonsense", *traces])
    check(r.returncode == 2, f"--weight nonsense exited {r.returncode}, not 2")


def decode_pprof(args, data):
    check(data[:2] == b"\x1f\x8b", "the pprof file is not gzip")
    raw = gzip.decompress(data)
    proto_dir, proto = os.path.split(os.path.abspath(args.proto))
    r = run(["protoc", "--decode", "perftools.profiles.Profile", "-I", proto_dir, proto],
            input=raw)
    check(r.returncode == 0, f"protoc --decode failed: {r.stderr.decode(errors='replace')}")
    return r.stdout.decode()


def parse_text_proto(text):
    """A small reader of protoc's text format: messages become dicts of lists."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|[{}]|[A-Za-z_][A-Za-z0-9_]*:?|-?\d+', text)
    pos = 0

    def value(tok):
        if tok.startswith('"'):
            return bytes(tok[1:-1], "latin-1").decode("unicode_escape").encode(
                "latin-1").decode("utf-8", errors="replace")
        if tok in ("true", "false"):
            return tok == "true"
        return int(tok)

    def message():
        nonlocal pos
        msg = {}
        while pos < len(tokens) and tokens[pos] != "}":
            key = tokens[pos]
            pos += 1
            if key.endswith(":"):
                msg.setdefault(key[:-1], []).append(value(tokens[pos]))
                pos += 1
            else:
                check(tokens[pos] == "{", f"unexpected token after {key}: {tokens[pos]}")
                pos += 1
                sub = message()
                check(tokens[pos] == "}", "unbalanced braces in protoc output")
                pos += 1
                msg.setdefault(key, []).append(sub)
        return msg

    return message()


def check_pprof(args, traces, rep, tmp, leaves, reloc):
    out = os.path.join(tmp, "profile.pb.gz")
    report(args, traces, "--format", "pprof", "-o", out)
    with open(out, "rb") as f:
        data = f.read()
    p = parse_text_proto(decode_pprof(args, data))
    st = p["string_table"]
    check(st[0] == "", "string_table[0] is not empty")
    types = [(st[v["type"][0]], st[v["unit"][0]]) for v in p["sample_type"]]
    check(types == [("bytes_copied", "bytes"), ("moves", "count"), ("steps", "count")],
          f"sample types are {types}")
    funcs = {f["id"][0]: st[f["name"][0]] for f in p["function"]}
    files = {f["id"][0]: st[f.get("filename", [0])[0]] for f in p["function"]}
    locs = {loc["id"][0]: loc for loc in p["location"]}
    t = totals(rep)
    sums = [0, 0, 0]
    leaf_sums = {}
    kinds = set()
    for s in p["sample"]:
        vals = s["value"] + [0] * (3 - len(s["value"]))
        for i in range(3):
            sums[i] += vals[i]
        leaf = locs[s["location_id"][0]]
        name = funcs[leaf["line"][0]["function_id"][0]]
        if name == "[relocation]":
            leaf = locs[s["location_id"][1]]
            name = funcs[leaf["line"][0]["function_id"][0]]
        leaf_sums.setdefault(name, [0, 0, 0])
        for i in range(3):
            leaf_sums[name][i] += vals[i]
        for lab in s.get("label", []):
            if st[lab["key"][0]] == "kind":
                kinds.add(st[lab["str"][0]])
    check(sums == [t["bytes_copied"], t["moves"], t["steps"]],
          f"pprof samples add up to {sums}, the report's totals are "
          f"{[t['bytes_copied'], t['moves'], t['steps']]}")
    for leaf in leaves:
        check(leaf in funcs.values(), f"pprof names no function {leaf}: {sorted(funcs.values())}")
        site = [s for s in rep["sites"] if s["function"] == leaf]
        want = [sum(s[k] for s in site) for k in ("bytes_copied", "moves", "steps")]
        check(leaf_sums.get(leaf) == want,
              f"pprof: samples at {leaf} are {leaf_sums.get(leaf)}, its sites {want}")
        fid = [i for i, n in funcs.items() if n == leaf][0]
        check(files[fid].endswith(".c"), f"pprof: {leaf} has no source file ({files[fid]!r})")
        lines = [ln.get("line", [0])[0] for loc in locs.values() for ln in loc["line"]
                 if ln["function_id"][0] == fid]
        check(any(n > 0 for n in lines), f"pprof: {leaf} has no line number")
    check("realloc" in kinds or not rep["sites"], f"pprof: no sample labelled kind=realloc: {kinds}")
    if reloc:
        check("relocation" in kinds, f"pprof: no sample labelled kind=relocation: {kinds}")
    maps = p.get("mapping", [])
    check(maps, "pprof has no mapping")
    check(any(len(st[m.get("build_id", [0])[0]]) >= 16 for m in maps),
          "pprof: no mapping has a build id")
    check(os.path.basename(st[maps[0]["filename"][0]]) == os.path.basename(rep["traces"][0]["exe"]),
          "pprof: mapping[0] is not the executable")
    # Binary output never goes to a terminal: run it on a pseudo-terminal.
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(args.growprof, [args.growprof, "report", "--format", "pprof", *traces])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    check(os.WEXITSTATUS(status) == 2 and b"\x1f\x8b" not in out,
          f"pprof to a terminal: exit {os.WEXITSTATUS(status)}, output {out[:200]!r}")


def check_html(args, traces, rep, tmp, leaves, reloc, nasty):
    out = os.path.join(tmp, "report.html")
    report(args, traces, "--format", "html", "-o", out)
    with open(out, encoding="utf-8") as f:
        html = f.read()
    check(html == report(args, traces, "--format", "html"), "html on stdout differs from -o")
    check(html.lstrip().lower().startswith("<!doctype html>"), "html does not start with a doctype")
    for m in re.finditer(r"\b(src|href|action|poster|data)\s*=\s*[\"']?\s*([^\"'\s>]+)", html, re.I):
        check(not re.match(r"(https?:)?//", m.group(2), re.I),
              f"html loads from the network: {m.group(0)!r}")
    check(not re.search(r"<script[^>]*\bsrc\s*=", html, re.I), "html has an external script")
    check(not re.search(r"<link\b", html, re.I), "html links an external resource")
    check(not re.search(r"@import|url\(\s*[\"']?https?:", html, re.I), "css imports from the network")
    for leaf in leaves:
        check(leaf in html, f"html does not name {leaf}")
    if nasty:
        check(NASTY not in html, "html holds the command line's < > & unescaped")
        check("&lt;/script&gt;&lt;b&gt;&amp;amp;x&quot;&#39;" in html,
              "html does not show the command line escaped")
    # exactly one data block, whose stacks add up to the totals
    m = re.search(r'<script id="gp-data" type="application/json">(.*?)</script>', html, re.S)
    check(m, "html has no flame graph data")
    data = json.loads(m.group(1))
    t = totals(rep)
    for i, k in enumerate(("bytes_copied", "moves", "steps")):
        got = sum(s[i + 1] for s in data["stacks"])
        check(got == t[k], f"html flame data: {k} adds up to {got}, the report says {t[k]}")
        check(data["total"][k] == t[k], f"html flame total {k} is {data['total'][k]}, not {t[k]}")
    nsites = len(rep["sites"])
    charts = re.findall(r'<figure class="chartbox"', html)
    check(len(charts) == min(nsites, 8), f"html has {len(charts)} charts for {nsites} sites")
    check(html.count("<svg") == len(charts), "an SVG that is not a chart")
    check(re.search(r'class="move"', html), "no move marked in the charts")
    if reloc:
        check('<tr class="relocation">' in html, "html table has no relocation row")
        check("relocation chains" in html, "html totals have no relocation column")
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preload", required=True)
    ap.add_argument("--growprof", required=True)
    ap.add_argument("--demo", required=True)
    ap.add_argument("--reloc", required=True)
    ap.add_argument("--proto", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    for k in ('preload', 'growprof', 'demo', 'reloc', 'proto'):  # meson passes paths relative to the build directory
        setattr(args, k, os.path.abspath(getattr(args, k)))
    if not shutil.which("protoc"):
        print("SKIP: protoc is not installed (Debian protobuf-compiler)")
        return 77
    tmp = tempfile.mkdtemp(prefix="gp-output-")
    try:
        cases = [
            ("growdemo", args.demo, ["65536", NASTY], ["append_linear", "append_doubling"], False),
            ("reloc", args.reloc, [], ["grow_by_copy"], True),
        ]
        for name, prog, prog_args, leaves, reloc in cases:
            traces = record(args, tmp, prog, prog_args, name)
            rep = json.loads(report(args, traces, "--format", "json"))
            t = totals(rep)
            check(t["bytes_copied"] > 0, f"{name}: nothing copied: {rep['totals']}")
            if reloc:
                check(rep.get("relocation_totals", {}).get("steps", 0) > 0,
                      f"{name}: no relocation chain recorded: {rep.get('relocation_totals')}")
            check_folded(args, traces, rep, leaves, reloc)
            check_pprof(args, traces, rep, tmp, leaves, reloc)
            check_html(args, traces, rep, tmp, leaves, reloc, nasty=bool(prog_args))
            print(f"ok: {name}: folded, pprof and html agree with the JSON report "
                  f"(copied {t['bytes_copied']}, moves {t['moves']}, steps {t['steps']})")
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        print(f"(files kept in {tmp})", file=sys.stderr)
        return 1
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
