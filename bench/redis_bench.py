"""The redis workload of bench/run.py: a server on another allocator (Debian's redis-server is
linked with jemalloc), measured by its clients' throughput rather than by CPU time.

Each round starts redis-server (loopback only, no persistence) on a free port, plain or
under LD_PRELOAD=libgrowprof.so, drives it with `redis-benchmark -q -n N -t
set,get,lpush,incr,lrange`, reads the requests per second of every test it prints, and
shuts it down with `redis-cli shutdown nosave`. The modes alternate, their order rotated
every round. The figure is, per test, the median over rounds of growprof's throughput
divided by the plain run's of the same round, and their geometric mean (goal >= 0.95);
and the server's own CPU time for the run (/proc/PID/stat before the shutdown), as a ratio
the same way: throughput on a loaded machine swings with whatever else runs.
"""
import os
import re
import shutil
import socket
import statistics
import subprocess
import time

GOAL = 0.95
TESTS = "set,get,lpush,incr,lrange"


def available():
    """None if redis-server, redis-benchmark and redis-cli are installed, else why not."""
    missing = [p for p in ("redis-server", "redis-benchmark", "redis-cli") if not shutil.which(p)]
    return f"not installed: {' '.join(missing)}" if missing else None


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(port, *args):
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)] + list(args),
                          capture_output=True, timeout=30).stdout.decode().strip()


def _cpu(pid):
    """User + system CPU seconds of a live process so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _round(env, wdir, requests, timeout):
    """One server, one benchmark: {test: requests per second, "cpu": the server's CPU
    seconds}, and the server's exit code."""
    port = _port()
    with open(os.path.join(wdir, f"server.{port}.log"), "wb") as log:
        srv = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", wdir],
                               env=env, cwd=wdir, stdin=subprocess.DEVNULL, stdout=log,
                               stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 30
            while _cli(port, "ping") != "PONG":
                if srv.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"redis-server did not start (exit {srv.poll()})")
                time.sleep(0.1)
            b = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-q",
                                "-n", str(requests), "-t", TESTS],
                               capture_output=True, timeout=timeout)
            cpu = _cpu(srv.pid)
            _cli(port, "shutdown", "nosave")
            rc = srv.wait(timeout=30)
        finally:
            if srv.poll() is None:
                srv.kill()
                srv.wait()
    out = b.stdout.decode("utf-8", "replace").replace("\r", "\n")
    # "SET: 1234.56 requests per second", "LRANGE_100 (first 100 elements): ..."
    rps = {m.group(1): float(m.group(2))
           for m in re.finditer(r"^([^:\n]+): ([0-9.]+) requests per second", out, re.M)}
    rps["cpu"] = cpu
    return rps, rc


def bench_redis(so, runs, requests, timeout, env0, work, log):
    """The workload's row: per test medians of the throughput ratio, and notes."""
    wdir = os.path.join(work, "redis")
    os.makedirs(wdir)
    modes = ["plain", "growprof"]
    rps = {m: [] for m in modes}
    notes = []
    for i in range(runs):
        for mode in modes[i % 2:] + modes[:i % 2]:
            env = dict(env0)
            if mode == "growprof":
                env["LD_PRELOAD"] = so
                env["GROWPROF_OUTPUT"] = os.path.join(wdir, f"growprof.{i}.%p.zst")
            r, rc = _round(env, wdir, requests, timeout)
            rps[mode].append(r)
            if rc != 0:
                notes.append(f"{mode} round {i + 1}: redis-server exited {rc}")
            log(f"[redis] run {i + 1}/{runs} {mode:9s} "
                + " ".join(f"{k} {v:,.0f}/s" for k, v in r.items()))
        for f in os.listdir(wdir):  # traces can be large: only their existence matters
            if f.startswith("growprof."):
                os.unlink(os.path.join(wdir, f))
    tests = [t for t in rps["plain"][0]
             if t != "cpu" and all(t in r for rs in rps.values() for r in rs)]
    ratio = {t: statistics.median(g[t] / p[t] for p, g in zip(rps["plain"], rps["growprof"]))
             for t in tests}
    plain = {t: statistics.median(p[t] for p in rps["plain"]) for t in tests}
    geo = statistics.geometric_mean(ratio.values()) if ratio else None
    # the server's CPU for the same requests: steadier than throughput on a busy machine
    cpu = statistics.median(g["cpu"] / p["cpu"] for p, g in zip(rps["plain"], rps["growprof"])
                            if p["cpu"] > 0)
    return {"workload": "redis", "runs": runs, "requests": requests, "tests": tests,
            "rps_plain": plain, "ratio": ratio, "ratio_geomean": geo, "goal": GOAL,
            "cpu_plain": statistics.median(p["cpu"] for p in rps["plain"]), "cpu_ratio": cpu,
            "notes": notes, "raw": rps}


def render_redis(row, table, fx):
    """The workload's table (with run.py's table() and fx())."""
    rows = [[t, f"{row['rps_plain'][t]:,.0f}/s", fx(row["ratio"][t], 3, "x")]
            for t in row["tests"]]
    g = row["ratio_geomean"]
    verdict = "-" if g is None else "ok" if g >= row["goal"] else f"MISS -{(1 - g) * 100:.0f}%"
    rows.append(["all (geometric mean)", "", fx(g, 3, "x") + f"  (goal >= {row['goal']}: "
                 f"{verdict})"])
    rows.append(["server CPU for the run", fx(row["cpu_plain"], 2, " s"),
                 fx(row["cpu_ratio"], 3, "x") + " (growprof / plain)"])
    s = [f"redis-server (jemalloc), redis-benchmark -q -n {row['requests']} -t {TESTS} on "
         f"loopback, {row['runs']} rounds per mode: throughput under growprof / plain "
         "(median of the per-round ratios)", "",
         table(["test", "plain", "growprof / plain"], rows)]
    s += [f"  - redis: {n}" for n in row["notes"]]
    return "\n".join(s)
