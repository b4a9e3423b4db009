"""Helpers shared by the integration test drivers (stdlib only).

Each driver is a script run by ctest as
  python3 test_x.py --embprof-run PATH [--build-dir DIR] [--source-dir DIR]
It exits 0 on success, 1 on failure (with the reason), 77 when a tool it
needs is missing (ctest reports SKIP).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = os.path.join(HERE, "workloads")
SKIP = 77


def args():
    p = argparse.ArgumentParser()
    p.add_argument("--embprof-run", required=True)
    p.add_argument("--build-dir")
    p.add_argument("--source-dir")
    p.add_argument("--host", action="append", default=[])
    return p.parse_args()


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def skip(msg):
    print("SKIP:", msg)
    sys.exit(SKIP)


def check(cond, msg):
    if not cond:
        fail(msg)


def workload(name):
    return os.path.join(WORKLOADS, name)


def tmpdir():
    return tempfile.mkdtemp(prefix="embprof-test-")


def run(cmd, timeout=120, env=None, cwd=None, check_rc=None):
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       env=e, cwd=cwd)
    if check_rc is not None and p.returncode != check_rc:
        fail("%s exited %d, expected %d\nstdout:\n%s\nstderr:\n%s"
             % (" ".join(cmd), p.returncode, check_rc, p.stdout[-3000:],
                p.stderr[-3000:]))
    return p


LINE = re.compile(r"^(.*) (\d+)$")


def read_collapsed(path):
    """[(thread, [frames root first], count)]; every line must parse."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            m = LINE.match(line)
            check(m is not None, "%s:%d is not a folded line: %r"
                  % (path, n, line))
            parts = m.group(1).split(";")
            out.append((parts[0], parts[1:], int(m.group(2))))
    return out


def func_of(frame):
    """'name (file:line)' -> 'name'"""
    return frame.rsplit(" (", 1)[0]


def shares(stacks, funcs, thread_filter=None):
    """Share (percent) of the total count whose stack contains each func."""
    total = 0
    got = {f: 0 for f in funcs}
    for thread, frames, count in stacks:
        if thread_filter and not thread_filter(thread):
            continue
        total += count
        names = {func_of(fr) for fr in frames}
        for f in funcs:
            if f in names:
                got[f] += count
    check(total > 0, "no samples")
    return {f: 100.0 * got[f] / total for f in funcs}, total
