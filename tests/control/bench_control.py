"""Benchmark of the control socket (issue 5's targets).

1. Requests/s and latency of `status` while the sampler runs at 1 kHz on a
   busy host: one client back to back (latency), then 4 clients
   (throughput). Target: >= 20,000 requests/s, p99 < 1 ms.
2. The host's slowdown while 50 clients poll `top` every 100 ms, against
   the same host with the sampler at 1 kHz and no clients: the same fixed
   CPU-bound Python work, runs interleaved A B A B ..., medians compared.
   Target: <= 1 %.

Usage: bench_control.py --embprof-run B --ctl-load B [--reps 5] [--json F]
Prints a Markdown summary. Not run by ctest (timing on a shared 2-core
machine is noise for a pass/fail test); the numbers go to
docs/PERFORMANCE.md.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

WORK = r'''
import os, sys, time
go, result = sys.argv[1], sys.argv[2]
while not os.path.exists(go):
    time.sleep(0.01)
def work(n):
    s = 0
    for i in range(n):
        s += i * i % 7
    return s
t, c = time.perf_counter(), time.thread_time()
for _ in range(100):
    work(200000)
with open(result, "w") as f:
    f.write("%r %r" % (time.perf_counter() - t, time.thread_time() - c))
'''


def wait_for(path, proc, timeout=30):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.time() > deadline:
            raise SystemExit("host did not start: %s" %
                             proc.stderr.read().decode())
        time.sleep(0.02)


def load(a, sock, clients, seconds, interval_ms, request):
    r = subprocess.run([a.ctl_load, sock, str(clients), str(seconds),
                        str(interval_ms), request], capture_output=True,
                       text=True, timeout=seconds + 60)
    return json.loads(r.stdout)


def throughput(a, d):
    sock = os.path.join(d, "t.sock")
    stop = os.path.join(d, "t.stop")
    host = subprocess.Popen(
        [a.embprof_run, "--socket", sock, "--set", "sampler.rate=1000",
         "--set", "sampler.enabled=true",
         os.path.join(HERE, "workload.py"), os.path.join(d, "t.progress"),
         stop], stderr=subprocess.PIPE)
    try:
        wait_for(sock, host)
        time.sleep(1)
        one = load(a, sock, 1, 5, 0, "status")
        four = load(a, sock, 4, 5, 0, "status")
    finally:
        open(stop, "w").close()
        host.wait(timeout=60)
    return one, four


def one_run(a, d, clients, tag):
    sock = os.path.join(d, tag + ".sock")
    go, result = os.path.join(d, tag + ".go"), os.path.join(d, tag + ".res")
    for p in (go, result):
        if os.path.exists(p):
            os.unlink(p)
    script = os.path.join(d, "work.py")
    host = subprocess.Popen(
        [a.embprof_run, "--socket", sock, "--set", "sampler.rate=1000",
         "--set", "sampler.enabled=true", script, go, result],
        stderr=subprocess.PIPE)
    loader = None
    try:
        wait_for(sock, host)
        if clients:
            loader = subprocess.Popen(
                [a.ctl_load, sock, str(clients), "120", "100", "top n=20"],
                stdout=subprocess.PIPE, text=True)
            time.sleep(0.5)
        open(go, "w").close()
        host.wait(timeout=300)
    finally:
        if loader is not None:
            loader.terminate()
            loader.wait()
        if host.poll() is None:
            host.kill()
    wall, cpu = open(result).read().split()
    return float(wall), float(cpu)


def slowdown(a, d):
    with open(os.path.join(d, "work.py"), "w") as f:
        f.write(WORK)
    base, loaded = [], []
    for i in range(a.reps):
        base.append(one_run(a, d, 0, "a%d" % i))
        loaded.append(one_run(a, d, 50, "b%d" % i))
    return base, loaded


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--embprof-run", required=True)
    p.add_argument("--ctl-load", required=True)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--json")
    a = p.parse_args()
    d = tempfile.mkdtemp(prefix="embprof-ctl-bench-")
    one, four = throughput(a, d)
    base, loaded = slowdown(a, d)
    mb = statistics.median(w for w, _ in base)
    ml = statistics.median(w for w, _ in loaded)
    cb = statistics.median(c for _, c in base)
    cl = statistics.median(c for _, c in loaded)
    out = {"status_1_client": one, "status_4_clients": four,
           "work_sampler_only": base, "work_50_clients_top": loaded,
           "slowdown_pct": 100 * (ml / mb - 1),
           "cpu_slowdown_pct": 100 * (cl / cb - 1)}
    print("| measurement | result |")
    print("|---|---|")
    print("| `status`, 1 client back to back, sampler at 1 kHz | %d req/s, "
          "p50 %.0f us, p99 %.0f us, max %.0f us |"
          % (one["requests_per_s"], one["p50_us"], one["p99_us"],
             one["max_us"]))
    print("| `status`, 4 clients back to back, sampler at 1 kHz | %d req/s, "
          "p50 %.0f us, p99 %.0f us, max %.0f us |"
          % (four["requests_per_s"], four["p50_us"], four["p99_us"],
             four["max_us"]))
    print("| host work, sampler at 1 kHz (median of %d) | %.3f s wall, "
          "%.3f s thread CPU |" % (a.reps, mb, cb))
    print("| same + 50 clients polling `top` every 100 ms | %.3f s wall "
          "(%+.2f %%), %.3f s thread CPU (%+.2f %%) |"
          % (ml, out["slowdown_pct"], cl, out["cpu_slowdown_pct"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
