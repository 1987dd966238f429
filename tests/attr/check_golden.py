#!/usr/bin/env python3
"""Golden outputs of every report format on the checked-in fixture traces (issue 21: so that
drift in sites, numbers, patterns and advice is caught).

    check_golden.py GROWPROF SRCROOT [--update]

For each fixture (tests/fixtures/v1-basic.zst, v3-threads.zst) and each output -- report
text, json, folded, html (the page without its compiled-in style sheet and script: the data
and tables), pprof (decompressed), check --per-site, and diff v2-threads -> v3-threads --
runs the viewer from SRCROOT (so file names in the output are relative) and compares with
tests/attr/golden/NAME exactly (diff -u on failure). The fixtures were recorded elsewhere:
their program's frames show as module+0xoffset; the C library's frames are named from this
machine's libc when it has the same file, so those names are replaced by "[libc]" on both
sides. --update rewrites the golden files (after a deliberate change: review the diff).
Exit 0 if all match, 1 otherwise.
"""
import difflib
import gzip
import os
import re
import subprocess
import sys

FIX = "tests/fixtures"
SKIP = ["--skip-module", "counter.so"]
CASES = []
for fx in ("v1-basic", "v3-threads"):
    t = f"{FIX}/{fx}.zst"
    CASES += [
        (f"{fx}.text", ["report", "--top", "20"] + SKIP + [t], 0),
        (f"{fx}.json", ["report", "--format", "json"] + SKIP + [t], 0),
        (f"{fx}.folded", ["report", "--format", "folded"] + SKIP + [t], 0),
        (f"{fx}.html", ["report", "--format", "html"] + SKIP + [t], 0),
        (f"{fx}.pprof", ["report", "--format", "pprof"] + SKIP + [t], 0),
        (f"{fx}.check", ["check", "--per-site", "--max-amplification", "1"] + SKIP + [t], 1),
    ]
CASES.append(("v2-v3.diff", ["diff"] + SKIP + [f"{FIX}/v2-threads.zst", "--", f"{FIX}/v3-threads.zst"], 0))

LIBC = re.compile(rb"__libc_start_main_impl|__libc_start_call_main|__libc_start_main|"
                  rb"libc\.so\.6\+0x[0-9a-f]+")


def normalize(name, data):
    if name.endswith(".pprof"):
        data = gzip.decompress(data)
    if name.endswith(".html"):
        data = re.sub(rb"<style>.*?</style>", b"<style>(compiled in)</style>", data, flags=re.S)
        data = re.sub(rb"<script>.*?</script>", b"<script>(compiled in)</script>", data, flags=re.S)
    return LIBC.sub(b"[libc]", data)


def main():
    growprof, root = os.path.abspath(sys.argv[1]), sys.argv[2]
    update = "--update" in sys.argv[3:]
    golden = os.path.join(root, "tests", "attr", "golden")
    bad = 0
    for name, args, want_rc in CASES:
        p = subprocess.run([growprof] + args, cwd=root, capture_output=True)
        if p.returncode != want_rc:
            print(f"FAIL {name}: exit {p.returncode}, want {want_rc}: {p.stderr.decode()[:500]}")
            bad += 1
            continue
        got = normalize(name, p.stdout)
        path = os.path.join(golden, name)
        if update:
            with open(path, "wb") as f:
                f.write(got)
            print(f"updated {name}")
            continue
        try:
            with open(path, "rb") as f:
                want = f.read()
        except OSError as e:
            print(f"FAIL {name}: {e}")
            bad += 1
            continue
        if got != want:
            bad += 1
            if name.endswith(".pprof"):
                print(f"FAIL {name}: the profile differs ({len(got)} bytes, golden {len(want)})")
                continue
            diff = difflib.unified_diff(want.decode(errors="replace").splitlines(),
                                        got.decode(errors="replace").splitlines(),
                                        f"golden/{name}", "now", lineterm="", n=2)
            print(f"FAIL {name}:\n" + "\n".join(list(diff)[:80]))
        else:
            print(f"ok {name}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
