#!/usr/bin/env python3
"""A real server on another allocator: Debian's redis-server (linked with jemalloc).

    check_redis.py --preload PATH/libgrowprof.so --counter PATH/counter.so
                   --growprof PATH/growprof [--keep]

In a fresh temporary directory this
  1. starts redis-server under LD_PRELOAD="counter.so libgrowprof.so" on a free loopback
     port (127.0.0.1 only, no persistence) and waits for PING to answer PONG;
  2. drives it with `redis-benchmark -q -n 20000 -t set,get,lpush,incr`: exit 0, a
     requests-per-second line for each of SET, GET, INCR and LPUSH, then checks what the
     server holds: LLEN mylist = 20000 (every LPUSH), GET counter:__rand_int__ = 20000
     (every INCR);
  3. shuts it down with `redis-cli shutdown nosave`: the server exits 0;
  4. runs `growprof report --format json` on its trace: totals equal counter.so's exactly
     (allocs, frees, steps, ... max_chain_steps), steps and moves > 0, no remaps (jemalloc's
     blocks are never glibc's), and the growth is sds's: a site with steps whose function,
     or the first caller past redis's allocator wrappers (zmalloc, zrealloc*, ...), is one
     of sds.c's (_sdsMakeRoomFor & co.).
Debian's redis-server is stripped: its functions are named from its dynamic symbol table
(files and lines need its debug file); zrealloc_usable is not a known allocator wrapper
yet, hence the look past the wrappers.
Exit 77 (skipped) when redis-server, redis-benchmark or redis-cli is not installed.
Exit status 0 if all holds, 1 otherwise (with a readable account).
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
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gptest  # noqa: E402
from gptest import base_env, show  # noqa: E402

TOTAL_KEYS = ["allocs", "frees", "steps", "failed", "grows", "shrinks", "moves", "remaps",
              "bytes_copied", "chains", "max_chain_steps"]
REQUESTS = 20000
SKIP = 77
TIMEOUT = 240
WRAPPER = re.compile(r"^(z(try)?(malloc|calloc|realloc|free)\w*|ztry\w*|malloc|realloc)$")
SDS = re.compile(r"^_?sds\w+$")
Failure = gptest.Failure


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port, tmp, *args):
    r = gptest.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)] + list(args),
                   base_env(), tmp, "redis-cli " + " ".join(args), 30)
    return r.returncode, r.stdout.decode().strip()


def sds_site(site):
    """The site's function, or its first caller past the allocator wrappers, if sds's."""
    names = [f.get("function") or "" for f in site.get("stack") or []]
    if not names:
        names = [site.get("function") or ""]
    for n in names:
        if not WRAPPER.match(n):
            return n if SDS.match(n) else None
    return None


def check(a, tmp):
    errs = []
    port = free_port()
    env = base_env()
    env["LD_PRELOAD"] = f"{a.counter} {a.preload}"
    env["GROWPROF_OUTPUT"] = os.path.join(tmp, "redis.%p.zst")
    env["GPCOUNT_OUTPUT"] = os.path.join(tmp, "redis.%p.count.json")
    log = open(os.path.join(tmp, "redis.out"), "wb")
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--daemonize", "no", "--dir", tmp],
        env=env, cwd=tmp, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while True:
            rc, out = cli(port, tmp, "ping")
            if out == "PONG":
                break
            if server.poll() is not None or time.time() > deadline:
                raise Failure(f"redis-server under the preload never answered PING "
                              f"(exit {server.poll()}):\n{show(open(log.name, 'rb').read())}")
            time.sleep(0.2)
        b = gptest.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-q",
                        "-n", str(REQUESTS), "-t", "set,get,lpush,incr"],
                       base_env(), tmp, "redis-benchmark", TIMEOUT)
        out = b.stdout.decode("utf-8", "replace")
        if b.returncode != 0:
            errs.append(f"redis-benchmark: exit {b.returncode}\n{show(b.stderr)}")
        for t in ("SET", "GET", "INCR", "LPUSH"):
            if not re.search(rf"(^|\r|\n){t}: [0-9.]+ requests per second", out):
                errs.append(f"redis-benchmark printed no throughput for {t}:\n{show(out)}")
        rc, n = cli(port, tmp, "llen", "mylist")
        if n != str(REQUESTS):
            errs.append(f"LLEN mylist = {n!r}, {REQUESTS} LPUSHes were made")
        rc, n = cli(port, tmp, "get", "counter:__rand_int__")
        if n != str(REQUESTS):
            errs.append(f"GET counter:__rand_int__ = {n!r}, {REQUESTS} INCRs were made")
        cli(port, tmp, "shutdown", "nosave")
        try:
            src = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise Failure("redis-server did not exit after SHUTDOWN NOSAVE")
        if src != 0:
            errs.append(f"redis-server exited {src}:\n{show(open(log.name, 'rb').read())}")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()

    traces = glob.glob(os.path.join(tmp, "redis.*.zst"))
    counts = glob.glob(os.path.join(tmp, "redis.*.count.json"))
    if len(traces) != 1 or len(counts) != 1:
        raise Failure(f"expected one trace and one count of redis-server, found "
                      f"{traces} {counts}")
    r = gptest.run([a.growprof, "report", "--format", "json", "--top", "1000", traces[0]],
                   base_env(), tmp, "growprof report", TIMEOUT)
    if r.returncode != 0:
        raise Failure(f"growprof report: exit {r.returncode}\n{show(r.stderr)}")
    rep = json.loads(r.stdout)
    t = rep["totals"]
    with open(counts[0]) as f:
        count = json.load(f)
    for k in TOTAL_KEYS:
        if t.get(k) != count.get(k):
            errs.append(f"totals[{k}] = {t.get(k)}, counter.so says {count.get(k)}")
    if count.get("unknown_reallocs") or count.get("unknown_frees"):
        errs.append(f"counter.so saw blocks it never saw allocated: {count}")
    if not t.get("steps") or not t.get("moves"):
        errs.append(f"no growth seen in redis-server: {t}")
    if t.get("remaps") != 0:
        errs.append(f"{t.get('remaps')} remaps in a jemalloc process")
    sds = [(sds_site(s), s.get("function"), s.get("steps")) for s in rep["sites"]
           if s.get("steps") and sds_site(s)]
    if not sds:
        errs.append("no growth site in sds.c: "
                    f"{[(s.get('function'), s.get('steps')) for s in rep['sites'][:10]]}")
    else:
        print(f"sds growth sites (sds function, site, steps): {sds[:5]}")
    return errs


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preload", required=True)
    ap.add_argument("--counter", required=True)
    ap.add_argument("--growprof", required=True)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args(argv)
    for k in ("preload", "counter", "growprof"):
        setattr(a, k, os.path.abspath(getattr(a, k)))
    missing = [p for p in ("redis-server", "redis-benchmark", "redis-cli") if not shutil.which(p)]
    if missing:
        print(f"skipped: not installed: {' '.join(missing)}")
        return SKIP
    return gptest.main_of(check, a, "gp-redis-")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
