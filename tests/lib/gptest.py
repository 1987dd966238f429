"""What the test checkers share: a clean environment, running a program, short output."""
import os
import shutil
import subprocess
import tempfile

SKIP = 77  # meson's exit status for a skipped test


class Failure(Exception):
    pass


class Skip(Exception):
    """The test cannot run here (a package or a tool is missing): exit SKIP."""


def base_env():
    """This environment without anything that would profile, count or redirect a run."""
    env = dict(os.environ)
    for k in ("LD_PRELOAD", "GROWPROF_OUTPUT", "GROWPROF_DISABLE", "GROWPROF_DEPTH",
              "GPCOUNT_OUTPUT", "GPTRUTH_OUTPUT", "GPTRUTH_LOG",
              "DEBUGINFOD_URLS", "GROWPROF_DEBUG_DIR"):  # symbols: no network, no extra dirs
        env.pop(k, None)
    return env


def run(cmd, env, cwd, what, timeout):
    """Run cmd (stdin from /dev/null, output captured); Failure if it hangs or cannot start."""
    try:
        return subprocess.run(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure(f"{what}: timed out after {timeout} s: {' '.join(cmd)}")
    except OSError as e:
        raise Failure(f"{what}: cannot run {cmd[0]}: {e}")


def show(data, limit=4000):
    """Program output (bytes or text) for a message, cut after `limit` characters."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    if len(text) > limit:
        text = text[:limit] + f"\n... ({len(text) - limit} more characters)"
    return text


def main_of(check, args, prefix):
    """Run check(args, tmp) in a fresh temporary folder (kept with args.keep) and @return the
    exit status: 0 if it returned no errors, 1 if it did (each printed "FAIL: ..."), SKIP if
    it raised Skip."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        errs = check(args, tmp)
    except Failure as e:
        errs = [str(e)]
    except Skip as e:
        print(f"skipped: {e}")
        return SKIP
    finally:
        if getattr(args, "keep", False):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    for e in errs:
        print("FAIL:", e)
    if not errs:
        print("ok")
    return 1 if errs else 0
