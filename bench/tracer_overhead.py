#!/usr/bin/env python3
"""Added time of the deterministic tracer, side by side in one run.

For each embprof-run given (one per CPython build) and each workload
(call-heavy calls.py, loop-heavy loops.py from ../shared/bench/workloads,
sizes cut by --scale), runs interleaved rounds of:

  baseline    embprof-run script                     (every probe off)
  tracer      embprof-run -t -o x.prof               (wall clock)
  tracer-cpu  embprof-run -t --trace-clock cpu
  noop-hook   our mechanism installed, callbacks return at once
              (EMBPROF_TRACER_NOOP=1): the floor of the mechanism
  noop-prof   a no-op C PyEval_SetProfile function instead (=setprofile)
  cProfile    embprof-run -m cProfile -o x.prof
  yappi       yappi wall clock, when importable in that CPython

The time is the workload's own "elapsed" line (interpreter start-up and
the profile write are left out). Prints medians and, per workload, our
added time against cProfile's and against the no-op hook's:

  python3 bench/tracer_overhead.py --embprof-run build-t/embprof-run \
      --embprof-run build-t312/embprof-run --runs 5
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WL = os.path.join(REPO, "..", "shared", "bench", "workloads")

YAPPI = r"""
import runpy, sys, yappi
yappi.set_clock_type(sys.argv[1])
path = sys.argv[2]
sys.argv = [path]
yappi.start(builtins=False)
runpy.run_path(path, run_name='__main__')
yappi.stop()
"""


def scaled(src, scale, d):
    with open(src) as f:
        text = f.read()

    def cut(m):
        key, val = m.group(1), int(m.group(2).replace("_", ""))
        if key == "FIB_N":  # fib grows by 1.618 per step
            steps = 0
            while scale < 1 and 1.618 ** -(steps + 1) >= scale:
                steps += 1
            return "%s = %d" % (key, val - steps)
        return "%s = %d" % (key, max(1, int(val * scale)))

    text = re.sub(r"^([A-Z_]+) = ([0-9_]+)$", cut, text, flags=re.M)
    out = os.path.join(d, os.path.basename(src))
    with open(out, "w") as f:
        f.write(text)
    return out


def elapsed(cmd, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(cmd, capture_output=True, text=True, env=e,
                       timeout=1800)
    m = re.search(r"^elapsed ([0-9.]+)$", p.stdout, re.M)
    if p.returncode != 0 or m is None:
        return None
    return float(m.group(1))


def has_yappi(run):
    p = subprocess.run([run, "-c", "import yappi"], capture_output=True)
    return p.returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embprof-run", action="append", required=True)
    ap.add_argument("--workloads-dir", default=WL)
    ap.add_argument("--workload", action="append",
                    default=None, help="calls.py, loops.py (default both)")
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="embprof-tbench-")
    prof = os.path.join(d, "x.prof")
    names = a.workload or ["calls.py", "loops.py"]
    for run in a.embprof_run:
        ver = subprocess.run([run, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True).stdout.strip()
        print("## CPython %s (%s), scale %g, median of %d" % (ver, run,
                                                               a.scale, a.runs))
        print()
        print("| workload | baseline s | tracer | tracer-cpu | noop-hook "
              "| noop-prof | cProfile | yappi | ours/cProfile added "
              "| ours/noop-hook added |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name in names:
            path = scaled(os.path.join(a.workloads_dir, name), a.scale, d)
            variants = [
                ("baseline", [run, path], None),
                ("tracer", [run, "-t", "-o", prof, path], None),
                ("tracer-cpu", [run, "-t", "--trace-clock", "cpu", "-o",
                                prof, path], None),
                ("noop-hook", [run, "-t", "-o", prof, path],
                 {"EMBPROF_TRACER_NOOP": "1"}),
                ("noop-prof", [run, "-t", "-o", prof, path],
                 {"EMBPROF_TRACER_NOOP": "setprofile"}),
                ("cProfile", [run, "-m", "cProfile", "-o", prof, path], None),
            ]
            if has_yappi(run):
                yp = os.path.join(d, "yappi_run.py")
                with open(yp, "w") as f:
                    f.write(YAPPI)
                variants.append(("yappi", [run, yp, "wall", path], None))
            times = {v[0]: [] for v in variants}
            for _ in range(a.runs):  # interleaved: drift hits all alike
                for vname, cmd, env in variants:
                    t = elapsed(cmd, env)
                    if t is not None:
                        times[vname].append(t)
            med = {k: statistics.median(v) for k, v in times.items() if v}
            base = med["baseline"]

            def cell(k):
                if k not in med:
                    return "-"
                return "%.2fx" % (med[k] / base)

            add = {k: med[k] - base for k in med}
            r_cp = add["tracer"] / add["cProfile"] if add.get("cProfile") else 0
            r_noop = (add["tracer"] / add["noop-hook"]
                      if add.get("noop-hook", 0) > 0 else float("inf"))
            print("| %s | %.3f | %s | %s | %s | %s | %s | %s | %.2f | %.2f |"
                  % (name, base, cell("tracer"), cell("tracer-cpu"),
                     cell("noop-hook"), cell("noop-prof"), cell("cProfile"),
                     cell("yappi"), r_cp, r_noop))
            sys.stdout.flush()
        print()


if __name__ == "__main__":
    main()
