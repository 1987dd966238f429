"""What the test checkers share: a clean environment, running a program, short output."""
import os
import subprocess


class Failure(Exception):
    pass


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
