#!/usr/bin/python3
"""Wall-clock overhead of embprof-run's sampler on the shared workloads.

    /usr/bin/python3 bench/overhead.py [--rounds 5] [--json FILE] ...

For every workload (calls loops alloc threads io by default, found in
--workloads-dir, by default ../shared/bench/workloads next to the repo)
it runs interleaved rounds; each round runs every configuration once, in
a fresh random order:

  baseline   embprof-run W.py                       (every probe off)
  baseline-again  the same command once more: the A/A noise floor
  r100       embprof-run -o TMP.folded -r 100 W.py
  r1000      embprof-run -o TMP.folded -r 1000 W.py
  python     /usr/bin/python3 W.py                  (peer: a 2nd baseline)
  static     embprof-run-static W.py                (libpython linked in
                                                     statically, probes off)
  cprofile   /usr/bin/python3 -m cProfile -o /dev/null W.py   (peer)

It times the whole command (time.perf_counter around subprocess.run) and
parses the workload's own `elapsed <s>` line and the child's CPU time
(rusage: user + system of all its threads). A ratio is a configuration's
time divided by the baseline's time *of the same round*; the table shows
the median ratio over rounds. Separately (outside the rounds) each sampling
configuration runs --top-runs more times with a top export (-o TMP.txt) to
read the sampler's own CPU share ("sampler: X% of one CPU").

Targets (from the issue): overhead <= 0.5 % at 100 Hz and <= 2 % at 1 kHz,
judged on the median wall ratio. PASS/MISS is printed per workload; a miss
never makes the exit status non-zero: this is a benchmark, not a test.

Standard library only. Output: a Markdown report on stdout, progress on
stderr, and everything (raw times included) with --json FILE.
"""

import argparse
import json
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_WORKLOADS = ["calls", "loops", "alloc", "threads", "io"]
DEFAULT_WORKLOADS_DIR = os.path.join(REPO, "..", "shared", "bench", "workloads")
DEFAULT_BUILD = os.path.join(REPO, "build-bench")
PYTHON = "/usr/bin/python3"
TARGETS = {100: 0.005, 1000: 0.02}  # rate -> max overhead (fraction)

ELAPSED_RE = re.compile(r"^elapsed\s+([0-9.]+)\s*$", re.M)
P99_RE = re.compile(r"p99_ms=([0-9.]+)")
SAMPLER_RE = re.compile(r"^sampler: ([0-9.]+)% of one CPU \(([0-9.]+) ms\)"
                        r".*?(\d+) walk errors.*?(\d+) missed ticks", re.M)
HEADER_RE = re.compile(r"^embprof top: .*? (\d+) samples of (\d+) threads, "
                       r"([0-9.]+) s sampled", re.M)
# embprof-run's closing line on stderr (since 6685770)
CLOSING_RE = re.compile(r"\((\d+) samples; sampler used ([0-9.]+)% of one "
                        r"CPU, (\d+) walk errors")


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Measure embprof-run's sampling overhead against its "
        "own all-probes-off baseline (and peers) on the shared workloads.",
        epilog="Example: /usr/bin/python3 bench/overhead.py --rounds 5 "
        "--json /tmp/overhead.json > /tmp/overhead.md")
    p.add_argument("--workloads-dir", default=DEFAULT_WORKLOADS_DIR,
                   help="directory holding WORKLOAD.py files "
                   "(default: %(default)s)")
    p.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                   help="comma-separated workload names (default: "
                   "%(default)s)")
    p.add_argument("--build-dir", default=DEFAULT_BUILD,
                   help="build tree holding embprof-run (default: "
                   "%(default)s)")
    p.add_argument("--embprof-run", default=None,
                   help="path of embprof-run (default: BUILD_DIR/embprof-run)")
    p.add_argument("--python", default=PYTHON,
                   help="interpreter for the peer runs (default: "
                   "%(default)s); should be the one embprof-run embeds")
    p.add_argument("--rounds", type=int, default=5,
                   help="interleaved rounds (default: %(default)s)")
    p.add_argument("--rates", default="100,1000",
                   help="sampling rates in Hz, comma-separated (default: "
                   "%(default)s)")
    p.add_argument("--mode", choices=["wall", "cpu"], default=None,
                   help="pass --mode to the sampling runs (default: "
                   "embprof-run's default, wall)")
    p.add_argument("--peers", default="python,static,cprofile",
                   help="peers in the same rounds, comma-separated, from "
                   "python (plain /usr/bin/python3), static (BUILD_DIR/"
                   "embprof-run-static, libpython linked in, probes off), "
                   "cprofile; empty for none (default: %(default)s)")
    p.add_argument("--no-aa", dest="aa", action="store_false",
                   help="do not run the baseline a second time per round "
                   "(the A/A noise floor)")
    p.add_argument("--top-runs", type=int, default=1,
                   help="extra runs per sampling config with a top export, "
                   "for the sampler CPU share; 0 to skip (default: "
                   "%(default)s)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for the shuffled order (default: random)")
    p.add_argument("--taskset", metavar="CPUS", default="",
                   help="run every command under `taskset -c CPUS` (e.g. "
                   "1): pinned to one CPU the sampler shares it with the "
                   "workload, so its whole cost shows in wall time, and "
                   "the spread from landing on a slower vCPU goes away "
                   "(default: not pinned)")
    p.add_argument("--split", metavar="MAIN,SAMPLER", default="",
                   help="run every command pinned to CPU MAIN and move "
                   "embprof-run's sampler thread to CPU SAMPLER as soon as "
                   "it exists: the workload keeps a CPU to itself, so what "
                   "is left of the overhead is interference (caches, "
                   "kernel locks, wake-ups), not the sampler's CPU time "
                   "(overrides --taskset)")
    p.add_argument("--max-foreign", type=float, default=0.25,
                   help="a run during which other processes used more than "
                   "this much of one CPU on average (from /proc/stat) is "
                   "disturbed and run again (default: %(default)s)")
    p.add_argument("--retries", type=int, default=1,
                   help="times a disturbed run is repeated before it is "
                   "kept anyway, flagged (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds before a single run is killed")
    p.add_argument("--json", metavar="FILE",
                   help="also write every measurement as JSON to FILE")
    a = p.parse_args(argv)
    if a.rounds < 1:
        p.error("--rounds must be at least 1")
    a.workloads = [w for w in a.workloads.split(",") if w]
    a.rates = [int(r) for r in a.rates.split(",") if r]
    a.peers = [x for x in a.peers.split(",") if x]
    for x in a.peers:
        if x not in ("python", "cprofile", "static"):
            p.error("unknown peer %r (known: python, cprofile, static)" % x)
    if a.embprof_run is None:
        a.embprof_run = os.path.join(a.build_dir, "embprof-run")
    a.embprof_run_static = os.path.join(a.build_dir, "embprof-run-static")
    if "static" in a.peers and not os.access(a.embprof_run_static, os.X_OK):
        sys.stderr.write("overhead.py: no %s, peer 'static' skipped\n"
                         % a.embprof_run_static)
        a.peers.remove("static")
    return a


def fail(msg):
    sys.stderr.write("overhead.py: %s\n" % msg)
    sys.exit(2)


def clean_env():
    """The caller's EMBPROF_* settings must not turn probes on in the
    baseline (or change the sampling runs)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("EMBPROF_") and not k.startswith("PYTHON")}
    return env


def configs(a, tmp):
    """name -> argv builder (workload path -> argv)."""
    out = {"baseline": lambda w: [a.embprof_run, w]}
    if a.aa:
        # The same command again: its ratio to the baseline is the noise
        # floor any overhead figure has to be read against.
        out["baseline-again"] = lambda w: [a.embprof_run, w]
    mode = ["--mode", a.mode] if a.mode else []
    for r in a.rates:
        out["r%d" % r] = (lambda w, r=r: [a.embprof_run, "-o",
                                          os.path.join(tmp, "x.folded"),
                                          "-r", str(r)] + mode + [w])
    if "python" in a.peers:
        out["python"] = lambda w: [a.python, w]
    if "static" in a.peers:
        out["static"] = lambda w: [a.embprof_run_static, w]
    if "cprofile" in a.peers:
        out["cprofile"] = lambda w: [a.python, "-m", "cProfile", "-o",
                                     "/dev/null", w]
    return out


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def busy_cpu_s():
    """Seconds of CPU time all CPUs have spent busy since boot."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user + nice + system only: interrupt time (columns irq, softirq)
    # grows with a workload's own context switches (threads.py's GIL
    # convoy), so it would count against the workload itself.
    return sum(v[:3]) / float(os.sysconf("SC_CLK_TCK"))


def disturbed(a, r):
    return (r["ok"] and r.get("foreign") is not None and
            r["foreign"] > a.max_foreign)


TASKSET = []
SAMPLER_CPU = None  # --split: the CPU the sampler thread is moved to


def move_sampler(pid, cpu, deadline):
    """Moves pid's thread named embprof-sampler to cpu, as soon as it
    exists (it starts in embprof_init, before the script runs). Returns
    True once moved."""
    while time.perf_counter() < deadline:
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            return False
        for tid in tids:
            try:
                with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                    if f.read().strip() == "embprof-sampler":
                        os.sched_setaffinity(int(tid), {cpu})
                        return True
            except OSError:
                continue
        time.sleep(0.0005)
    return False


def communicate(argv, env, timeout, split):
    """subprocess.run, plus moving the sampler thread when split."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, text=True)
    moved = None
    if split:
        moved = move_sampler(p.pid, SAMPLER_CPU, time.perf_counter() + 2.0)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise subprocess.TimeoutExpired(argv, timeout, output=out,
                                        stderr=err)
    return p.returncode, out, err, moved


def run(argv, timeout, env):
    split = SAMPLER_CPU is not None and "-o" in argv and \
        os.path.basename(argv[0]).startswith("embprof-run")
    argv = TASKSET + argv
    load = loadavg()
    b0 = busy_cpu_s()
    c0 = children_cpu()
    t0 = time.perf_counter()
    try:
        rc, out, err, moved = communicate(argv, env, timeout, split)
    except subprocess.TimeoutExpired as e:
        return {"ok": False, "rc": "timeout after %gs" % timeout,
                "argv": argv, "stderr": str(e.stderr or "")[-2000:],
                "wall": None}
    t = time.perf_counter() - t0
    cpu = children_cpu() - c0
    b1 = busy_cpu_s()
    # CPU that something else on the machine used while we ran (other
    # users' builds and tests): the interference a round is judged by.
    foreign = (b1 - b0 - cpu) / t if b0 is not None and b1 is not None \
        else None
    if rc != 0:
        # Recorded, reported, left out of the ratios; the benchmark goes on.
        return {"ok": False, "argv": argv, "wall": t, "stderr":
                err[-2000:], "stdout": out[-500:],
                "rc": "signal %d" % -rc if rc < 0 else "exit %d" % rc}
    if split and not moved:
        return {"ok": False, "argv": argv, "wall": t, "stderr": err[-2000:],
                "rc": "--split: no embprof-sampler thread to move"}
    m = ELAPSED_RE.findall(out)
    p99 = P99_RE.search(out)
    c = CLOSING_RE.search(err)
    return {"ok": True, "wall": t, "cpu": cpu, "load1": load,
            "foreign": foreign,
            "elapsed": float(m[-1]) if m else None,
            "p99_ms": float(p99.group(1)) if p99 else None,
            "samples": int(c.group(1)) if c else None,
            "sampler_pct": float(c.group(2)) if c else None,
            "walk_errors": int(c.group(3)) if c else None}


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def machine(a):
    info = {"nproc": os.cpu_count(), "kernel": platform.release()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["python"] = subprocess.run(
            [PYTHON, "-c", "import sys; print(sys.version.split()[0])"],
            stdout=subprocess.PIPE, text=True).stdout.strip()
    except OSError:
        pass
    try:
        info["binary_built"] = time.strftime(
            "%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(
                a.embprof_run)))
    except OSError:
        pass
    try:
        info["commit"] = subprocess.run(
            ["git", "-C", REPO, "log", "-1", "--format=%h %s"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True).stdout.strip()
    except OSError:
        pass
    return info


def top_share(a, w, rate, tmp, env):
    """One run with a top export; returns the sampler line's figures."""
    out = os.path.join(tmp, "x.txt")
    mode = ["--mode", a.mode] if a.mode else []
    r = run([a.embprof_run, "-o", out, "-r", str(rate)] + mode + [w],
            a.timeout, env)
    if not r["ok"]:
        return r
    with open(out) as f:
        text = f.read()
    m = SAMPLER_RE.search(text)
    h = HEADER_RE.search(text)
    if m is None:
        return {"ok": False, "rc": "no 'sampler:' line in the top export",
                "argv": r.get("argv"), "wall": r["wall"]}
    return {"ok": True, "cpu_pct": float(m.group(1)), "cpu_ms": float(m.group(2)),
            "walk_errors": int(m.group(3)), "missed_ticks": int(m.group(4)),
            "samples": int(h.group(1)) if h else None,
            "threads": int(h.group(2)) if h else None,
            "sampled_s": float(h.group(3)) if h else None,
            "wall": r["wall"]}


def fmt_s(x):
    return "—" if x is None else "%.2f" % x


def fmt_ratio(x):
    return "—" if x is None else "%.3f" % x


def fmt_range(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return ""
    return " (%.3f–%.3f)" % (min(xs), max(xs))


def counts(kept):
    out = {}
    for w, n, _ in kept:
        out[(w, n)] = out.get((w, n), 0) + 1
    return out


def report(a, res, names, info, elapsed_total, failures, disturbed_runs):
    o = []
    o.append("## embprof-run overhead (%d rounds, %s, %s)" % (
        a.rounds, "shuffled order per round",
        "split: workload on CPU %s, sampler thread on CPU %s" % tuple(
            a.split.split(",")) if a.split else
        "pinned: taskset -c %s" % a.taskset if a.taskset else "not pinned"))
    o.append("")
    o.append("Machine: %s, %s vCPUs, kernel %s, CPython %s; source HEAD "
             "`%s`; %s built %s." % (
                 info.get("cpu", "?"), info.get("nproc", "?"),
                 info.get("kernel", "?"), info.get("python", "?"),
                 info.get("commit", "?"), os.path.basename(a.embprof_run),
                 info.get("binary_built", "?")))
    o.append("")
    others = [n for n in names if n != "baseline"]
    o.append("Wall time of the whole command ÷ baseline of the same round, "
             "median over rounds (min–max in brackets). Baseline = "
             "`embprof-run W.py`, every probe off.")
    o.append("")
    o.append("| workload | baseline s | " + " | ".join(others) + " |")
    o.append("|---|---|" + "---|" * len(others))
    for w, r in res.items():
        cells = []
        for n in others:
            cells.append(fmt_ratio(r["ratio_wall"][n]) +
                         fmt_range(r["ratios_wall"][n]))
        o.append("| %s | %s | %s |" % (w, fmt_s(r["baseline_wall"]),
                                       " | ".join(cells)))
    o.append("")
    o.append("Same, from the workload's own `elapsed` line (excludes "
             "interpreter start-up, profile export and shutdown):")
    o.append("")
    o.append("| workload | baseline s | " + " | ".join(others) + " |")
    o.append("|---|---|" + "---|" * len(others))
    for w, r in res.items():
        cells = [fmt_ratio(r["ratio_elapsed"][n]) for n in others]
        be = r["baseline_elapsed"]
        o.append("| %s | %s | %s |" % (w, "%.2f" % be if be else "—",
                                       " | ".join(cells)))
    o.append("")
    o.append("CPU time (user + system, all threads, from the child's "
             "rusage) ÷ baseline of the same round, median; this is where "
             "the sampler thread's own work shows when it runs on another "
             "CPU:")
    o.append("")
    o.append("| workload | baseline CPU s | " + " | ".join(others) + " |")
    o.append("|---|---|" + "---|" * len(others))
    for w, r in res.items():
        cells = [fmt_ratio(r["ratio_cpu"][n]) for n in others]
        o.append("| %s | %s | %s |" % (w, fmt_s(r["baseline_cpu"]),
                                       " | ".join(cells)))
    shares = [(w, n, median([x["sampler_pct"] for x in r["raw"][n]
                             if x["ok"]]))
              for w, r in res.items() for n in others
              if any(x.get("sampler_pct") is not None for x in r["raw"][n])]
    if shares:
        o.append("")
        o.append("Sampler share of one CPU in the timed runs (embprof-run's "
                 "closing line), median over rounds: " + "; ".join(
                     "%s %s %.2f %%" % (w, n, v) for w, n, v in shares) + ".")
    loads = [x["load1"] for r in res.values() for v in r["raw"].values()
             for x in v if x["ok"] and x["load1"] is not None]
    if loads:
        o.append("")
        o.append("1-minute load average at the start of the runs: median "
                 "%.2f, max %.2f (a busy machine widens every range)." % (
                     median(loads), max(loads)))
    p99 = {w: r for w, r in res.items() if r.get("p99_ms")}
    if p99:
        o.append("")
        o.append("Latency thread p99 lateness, median ms: " + "; ".join(
            "%s: " % w + ", ".join("%s %.1f" % (n, v)
                                   for n, v in r["p99_ms"].items()
                                   if v is not None)
            for w, r in p99.items()))
    if a.top_runs > 0:
        o.append("")
        o.append("Sampler thread's own CPU (top export, median of %d "
                 "extra run%s): %% of one CPU over the sampled time, CPU µs "
                 "per tick (rate × seconds sampled) and per sample kept:" % (
                     a.top_runs, "" if a.top_runs == 1 else "s"))
        o.append("")
        o.append("| workload | " + " | ".join(
            "r%d CPU %% | r%d µs/tick | r%d µs/sample" % (r, r, r)
            for r in a.rates) + " |")
        o.append("|---|" + "---|---|---|" * len(a.rates))
        for w, r in res.items():
            cells = []
            for rate in a.rates:
                t = r["top"].get("r%d" % rate)
                if t is None:
                    cells += ["—", "—", "—"]
                else:
                    cells.append("%.3f" % t["cpu_pct"])
                    for k in ("us_per_tick", "us_per_sample"):
                        cells.append("%.1f" % t[k] if t.get(k) else "—")
            o.append("| %s | %s |" % (w, " | ".join(cells)))
    o.append("")
    o.append("Targets (median wall ratio − 1):")
    o.append("")
    for rate in a.rates:
        if rate not in TARGETS:
            continue
        lim = TARGETS[rate]
        n = "r%d" % rate
        verdicts = []
        for w, r in res.items():
            x = r["ratio_wall"][n]
            ok = x is not None and x - 1 <= lim
            verdicts.append(ok)
            o.append("- %d Hz <= %.1f %%: %s %s (%+.2f %%)" % (
                rate, lim * 100, w, "PASS" if ok else "MISS",
                (x - 1) * 100 if x is not None else float("nan")))
        o.append("- **%d Hz <= %.1f %%: %s** (%d of %d workloads)" % (
            rate, lim * 100, "PASS" if all(verdicts) else "MISS",
            sum(verdicts), len(verdicts)))
    o.append("")
    kept = [(w, n, x) for w, r in res.items() for n, v in r["raw"].items()
            for x in v if x.get("disturbed")]
    o.append("Interference: %d run%s repeated because other processes used "
             "more than %.0f %% of a CPU meanwhile; %d disturbed run%s kept "
             "after %d retries%s." % (
                 len(disturbed_runs), "" if len(disturbed_runs) == 1 else "s",
                 100 * a.max_foreign, len(kept), "" if len(kept) == 1 else "s",
                 a.retries, (" (" + ", ".join(
                     "%s %s%s" % (w, n, " x%d" % c if c > 1 else "")
                     for (w, n), c in counts(kept).items()) + ")")
                 if kept else ""))
    o.append("")
    if failures:
        o.append("**%d run%s failed** (left out of every ratio; the round's "
                 "other runs still count):" % (
                     len(failures), "" if len(failures) == 1 else "s"))
        o.append("")
        for f in failures:
            o.append("- %s %s%s: %s%s" % (
                f["workload"], f["config"],
                " round %d" % f["round"] if f["round"] else "", f["rc"],
                (" — " + f["stderr"].strip().splitlines()[-1][:200])
                if f.get("stderr", "").strip() else ""))
    else:
        o.append("No run failed.")
    o.append("")
    o.append("Total benchmark time: %.0f s." % elapsed_total)
    return "\n".join(o)


def main(argv=None):
    a = parse_args(argv if argv is not None else sys.argv[1:])
    wdir = os.path.abspath(a.workloads_dir)
    if not os.path.isdir(wdir):
        fail("workloads directory %s does not exist; the workloads are not "
             "in this repo: pass --workloads-dir DIR (they live in "
             "/work/shared/bench/workloads on the bench machines)" % wdir)
    paths = {}
    for w in a.workloads:
        path = os.path.join(wdir, w + ".py")
        if not os.path.isfile(path):
            fail("workload %s not found in %s" % (w + ".py", wdir))
        paths[w] = path
    if not os.access(a.embprof_run, os.X_OK):
        fail("%s is not an executable; build it first:\n  cmake -S %s -B "
             "%s -DPython3_EXECUTABLE=/usr/bin/python3 "
             "-DCMAKE_BUILD_TYPE=Release && cmake --build %s -j2" % (
                 a.embprof_run, REPO, a.build_dir, a.build_dir))
    if a.peers and not os.access(a.python, os.X_OK):
        fail("peer interpreter %s not found (--python)" % a.python)
    if a.taskset:
        TASKSET[:] = ["taskset", "-c", a.taskset]
    if a.split:
        global SAMPLER_CPU
        try:
            main_cpu, SAMPLER_CPU = [int(x) for x in a.split.split(",")]
        except ValueError:
            fail("--split takes MAIN,SAMPLER (two CPU numbers), e.g. 1,0")
        TASKSET[:] = ["taskset", "-c", str(main_cpu)]
    rng = random.Random(a.seed)
    env = clean_env()
    info = machine(a)
    t_start = time.perf_counter()
    res = {}
    failures = []
    disturbed_runs = []
    with tempfile.TemporaryDirectory(prefix="embprof-bench-") as tmp:
        cfg = configs(a, tmp)
        names = list(cfg)
        raw = {w: {n: [] for n in names} for w in a.workloads}
        for rnd in range(a.rounds):
            for w in a.workloads:
                order = names[:]
                rng.shuffle(order)
                for n in order:
                    for attempt in range(a.retries + 1):
                        r = run(cfg[n](paths[w]), a.timeout, env)
                        r["retried"] = attempt
                        if not disturbed(a, r) or attempt == a.retries:
                            break
                        sys.stderr.write(
                            "round %d/%d %-8s %-9s disturbed (%.0f %% of a "
                            "CPU used by others), again\n" % (
                                rnd + 1, a.rounds, w, n, 100 * r["foreign"]))
                        disturbed_runs.append({"workload": w, "config": n,
                                               "round": rnd + 1,
                                               "foreign": r["foreign"]})
                    r["disturbed"] = disturbed(a, r)
                    raw[w][n].append(r)
                    if not r["ok"]:
                        failures.append({"workload": w, "config": n,
                                         "round": rnd + 1, "rc": r["rc"],
                                         "stderr": r.get("stderr", "")})
                        sys.stderr.write("round %d/%d %-8s %-9s FAILED: %s\n"
                                         % (rnd + 1, a.rounds, w, n, r["rc"]))
                        continue
                    sys.stderr.write("round %d/%d %-8s %-9s %7.3f s\n" % (
                        rnd + 1, a.rounds, w, n, r["wall"]))
        top = {w: {} for w in a.workloads}
        for w in a.workloads:
            for rate in a.rates:
                runs = []
                for _ in range(a.top_runs):
                    x = top_share(a, paths[w], rate, tmp, env)
                    if not x["ok"]:
                        failures.append({"workload": w, "config":
                                         "r%d top export" % rate,
                                         "round": None, "rc": x["rc"],
                                         "stderr": x.get("stderr", "")})
                        sys.stderr.write("top      %-8s r%-8d FAILED: %s\n"
                                         % (w, rate, x["rc"]))
                        continue
                    runs.append(x)
                    sys.stderr.write("top      %-8s r%-8d %6.3f %% of a CPU\n"
                                     % (w, rate, runs[-1]["cpu_pct"]))
                if runs:
                    t = {k: median([x[k] for x in runs])
                         for k in ("cpu_pct", "cpu_ms", "walk_errors",
                                   "missed_ticks", "samples", "threads",
                                   "sampled_s")}
                    t["us_per_sample"] = (1000.0 * t["cpu_ms"] / t["samples"]
                                          if t["samples"] else None)
                    t["us_per_tick"] = (
                        1000.0 * t["cpu_ms"] / (rate * t["sampled_s"])
                        if t["sampled_s"] else None)
                    t["runs"] = runs
                    top[w]["r%d" % rate] = t
    for w in a.workloads:
        base = raw[w]["baseline"]
        okb = [x for x in base if x["ok"]]
        r = {"baseline_wall": median([x["wall"] for x in okb]),
             "baseline_elapsed": median([x["elapsed"] for x in okb]),
             "baseline_cpu": median([x["cpu"] for x in okb]),
             "ratios_wall": {}, "ratio_wall": {}, "ratio_elapsed": {},
             "ratio_cpu": {},
             "p99_ms": {}, "top": top[w], "raw": raw[w]}
        for n in names:
            # Pairs of the same round in which both runs succeeded.
            pairs = [(x, b) for x, b in zip(raw[w][n], base)
                     if x["ok"] and b["ok"]]
            rw = [x["wall"] / b["wall"] for x, b in pairs]
            re_ = [x["elapsed"] / b["elapsed"] for x, b in pairs
                   if x["elapsed"] and b["elapsed"]]
            r["ratios_wall"][n] = rw
            r["ratio_wall"][n] = median(rw)
            r["ratio_elapsed"][n] = median(re_)
            r["ratio_cpu"][n] = median([x["cpu"] / b["cpu"]
                                        for x, b in pairs if b["cpu"] > 0])
            r["p99_ms"][n] = median([x["p99_ms"] for x in raw[w][n]
                                     if x["ok"]])
        if all(v is None for v in r["p99_ms"].values()):
            r["p99_ms"] = None
        res[w] = r
    total = time.perf_counter() - t_start
    text = report(a, res, names, info, total, failures, disturbed_runs)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": info, "args": vars(a),
                       "commands": {n: TASKSET + cfg[n]("WORKLOAD.py")
                                    for n in names},
                       "targets": {str(k): v for k, v in TARGETS.items()},
                       "results": res, "failures": failures,
                       "disturbed": disturbed_runs,
                       "total_s": total}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
