#!/usr/bin/env python3
"""GIL probe overhead and accuracy.

Overhead: a contended workload (4 CPU-bound threads, each doing a fixed
amount of work, so the GIL changes hands ~200 times a second and every
handover goes through the hook) and an uncontended one (one thread that
releases and retakes the GIL 200,000 times with time.sleep(0): no waiter,
so take_gil never waits and the hook never runs). Each runs under
embprof-run with every probe off and with the GIL probe on
(--set gil.enabled=true, default gil.hold_rate=1000), interleaved in
rounds with the order shuffled; the result is the median over rounds of
(probe on) / (probe off) of the same round, from the workload's own
`elapsed` line.

Accuracy: runs tests/hosts/gil_host (a native thread holds the GIL for
known times in C while another measures its own PyGILState_Ensure) and
compares the probe's wait for that thread with its own measurement.

    python3 bench/gil_overhead.py --build-dir build-bench [--rounds 7]
        [--workloads contended] [--switch-interval 0.0002]
"""
import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile

CONTENDED = r"""
import sys, threading, time
if %(interval)r:
    sys.setswitchinterval(%(interval)r)
def work():
    x = 0
    for i in range(%(n)d):
        x += i * i
t0 = time.perf_counter()
ts = [threading.Thread(target=work) for _ in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print("elapsed %%.6f" %% (time.perf_counter() - t0))
"""

UNCONTENDED = r"""
import time
t0 = time.perf_counter()
x = 0
for i in range(%(n)d):
    time.sleep(0)  # drops and retakes the GIL; nobody waits
    x += i
print("elapsed %%.6f" %% (time.perf_counter() - t0))
"""


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        sys.exit("%s failed: %s" % (" ".join(cmd), p.stderr[-2000:]))
    m = re.search(r"elapsed ([0-9.]+)", p.stdout)
    return float(m.group(1)), p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default="build-bench")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--contended-n", type=int, default=3000000)
    ap.add_argument("--uncontended-n", type=int, default=200000)
    ap.add_argument("--accuracy-runs", type=int, default=5)
    ap.add_argument("--switch-interval", type=float, default=0.0,
                    help="sys.setswitchinterval for the contended workload "
                    "(s; 0: CPython's default): a smaller one makes more "
                    "handovers, so the hook's cost per handover shows")
    ap.add_argument("--workloads", default="contended,uncontended",
                    help="comma-separated subset to run")
    ap.add_argument("--json")
    a = ap.parse_args()
    er = os.path.join(a.build_dir, "embprof-run")
    host = os.path.join(a.build_dir, "tests", "hosts", "gil_host")
    d = tempfile.mkdtemp(prefix="embprof-gilbench-")
    files = {}
    for name, src, n in (("contended", CONTENDED, a.contended_n),
                         ("uncontended", UNCONTENDED, a.uncontended_n)):
        if name not in a.workloads.split(","):
            continue
        files[name] = os.path.join(d, name + ".py")
        with open(files[name], "w") as f:
            f.write(src % {"n": n, "interval": a.switch_interval})
    configs = {"off": [er], "gil": [er, "--set", "gil.enabled=true"]}
    ratios = {w: [] for w in files}
    times = {(w, c): [] for w in files for c in configs}
    rnd = random.Random(1)
    for r in range(a.rounds):
        for w in files:
            order = list(configs)
            rnd.shuffle(order)
            got = {}
            for c in order:
                got[c], _ = run(configs[c] + [files[w]])
                times[(w, c)].append(got[c])
            ratios[w].append(got["gil"] / got["off"])
    out = {"overhead": {}, "accuracy": []}
    print("| workload | probe off (median s) | gil probe on (median s) | "
          "on/off, median of rounds | min-max |")
    print("|---|---|---|---|---|")
    for w in files:
        med = statistics.median(ratios[w])
        out["overhead"][w] = {"ratio_median": med,
                              "ratios": ratios[w],
                              "off": times[(w, "off")],
                              "gil": times[(w, "gil")]}
        print("| %s | %.3f | %.3f | %.4f (%+.2f %%) | %.4f-%.4f |" % (
            w, statistics.median(times[(w, "off")]),
            statistics.median(times[(w, "gil")]), med, 100 * (med - 1),
            min(ratios[w]), max(ratios[w])))
    if os.path.exists(host):
        print()
        print("| run | waiter measured (ms) | probe reported (ms) | error |")
        print("|---|---|---|---|")
        for i in range(a.accuracy_runs):
            od = tempfile.mkdtemp(prefix="embprof-gilacc-")
            so = subprocess.run([host, od], capture_output=True, text=True,
                                timeout=120).stdout
            m = re.search(r"waiter_ns=(\d+)", so)
            with open(os.path.join(od, "gil.json")) as f:
                rep = json.load(f)
            got = [t for t in rep["threads"] if t["name"] == "waiter"][0]
            truth = int(m.group(1))
            err = (got["wait_ns"] - truth) / truth
            out["accuracy"].append({"measured_ns": truth,
                                    "reported_ns": got["wait_ns"],
                                    "error": err})
            print("| %d | %.2f | %.2f | %+.3f %% |" % (
                i, truth / 1e6, got["wait_ns"] / 1e6, 100 * err))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
