"""The tracer against cProfile, on the shared workloads (scaled down) and
on the host's own CPython (cProfile runs inside embprof-run with -m):

- every Python function of the workload file has exactly cProfile's call
  counts (total and primitive) and its callers' counts; threaded
  workloads are compared with a sys.setprofile counter on every thread,
  since cProfile sees only the thread that enabled it;
- the order of the top 10 by tottime agrees: a pair may swap only if
  cProfile's own times for the two are within 2x of each other, or under
  2% of the total (each profiler's per-call overhead lands in the
  functions it times, and cProfile's is several times ours: functions
  with many cheap calls grow more under cProfile);
- pstats.Stats(out).sort_stats('cumulative').print_callers(5) and
  print_callees work on our file, in the host's CPython;
- the stats text report and tracer.clock=cpu run on the same file.
"""
import os
import re
import sys

import eptest as t

a = t.args()
R = a.embprof_run
d = t.tmpdir()
src = a.source_dir or os.path.join(t.HERE, "..", "..")
wdir = os.path.join(src, "..", "shared", "bench", "workloads")
if not os.path.isdir(wdir):
    t.skip("no shared workloads at %s" % wdir)

SINGLE = ["calls.py", "loops.py", "alloc.py"]
THREADED = ["threads.py", "io.py"]


def scaled(name):
    """The workload with its size constants cut (same code otherwise)."""
    with open(os.path.join(wdir, name)) as f:
        text = f.read()

    def cut(m):
        key, val = m.group(1), int(m.group(2).replace("_", ""))
        new = 25 if key == "FIB_N" else max(3, val // 100)
        return "%s = %d" % (key, new)

    text = re.sub(r"^([A-Z_]+) = ([0-9_]+)$", cut, text, flags=re.M)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


LOAD = r"""
import marshal, sys
def load(p):
    with open(p, 'rb') as f:
        return marshal.load(f)
ours, ref = load(sys.argv[1]), load(sys.argv[2])
out = {'ours': {}, 'ref': {}}
for tag, st in (('ours', ours), ('ref', ref)):
    for k, v in st.items():
        if k[0].endswith(sys.argv[3]):
            out[tag][repr((k[1], k[2]))] = [v[0], v[1], v[2], {
                repr((c[1], c[2])): list(cv[:2]) for c, cv in v[4].items()
                if c[0].endswith(sys.argv[3])}]
print(repr(out))
"""

COUNTER = r"""
import sys, threading, runpy, collections, marshal
counts = collections.Counter()
def prof(frame, event, arg):
    if event == 'call':
        co = frame.f_code
        counts[(co.co_filename, co.co_firstlineno, co.co_name)] += 1
threading.setprofile(prof)
sys.setprofile(prof)
path, dest = sys.argv[1], sys.argv[0] + '.ref'
sys.argv = [path]
try:
    runpy.run_path(path, run_name='__main__')
finally:
    sys.setprofile(None)
    threading.setprofile(None)
    st = {k: (n, n, 0.0, 0.0, {}) for k, n in counts.items()}
    with open(dest, 'wb') as f:
        marshal.dump(st, f)
"""


def compare(name, ours, ref, callers):
    base = os.path.basename(name)
    p = t.run([R, "-c", LOAD, ours, ref, base], check_rc=0)
    data = eval(p.stdout)
    o, r = data["ours"], data["ref"]
    t.check(len(r) > 0, "%s: the reference saw no function" % name)
    for key, rv in r.items():
        if "<module>" in key and not callers:
            continue  # runpy's module run is not a call of its own
        t.check(key in o, "%s: %s missing from our profile" % (name, key))
        ov = o[key]
        t.check(ov[0] == rv[0] and ov[1] == rv[1],
                "%s: %s calls %s/%s, cProfile %s/%s"
                % (name, key, ov[1], ov[0], rv[1], rv[0]))
        if callers:
            t.check(ov[3] == rv[3], "%s: %s callers %r, cProfile %r"
                    % (name, key, ov[3], rv[3]))
    for key in o:
        if "<module>" in key and not callers:
            continue
        t.check(key in r, "%s: %s is ours only" % (name, key))
    return o, r


def check_top10(name, o, r):
    total = sum(v[2] for v in r.values()) or 1.0
    mine = sorted(o, key=lambda k: -o[k][2])[:10]
    for i in range(len(mine)):
        for j in range(i + 1, len(mine)):
            a_, b_ = r[mine[i]][2], r[mine[j]][2]
            if a_ >= b_ or b_ < 0.02 * total or a_ >= 0.5 * b_:
                continue
            t.fail("%s: top 10 by tottime disagrees: we put %s (%.4f s in "
                   "cProfile) before %s (%.4f s)" % (name, mine[i], a_,
                                                     mine[j], b_))
    print("  top by tottime:", ", ".join(k for k in mine[:5]))


def median_tt(runs):
    """Per-function median tottime over several runs (CPUs are shared)."""
    keys = set().union(*runs)
    return {k: sorted(r[k][2] if k in r else 0.0 for r in runs)[len(runs) // 2]
            for k in keys}


for name in SINGLE:
    path = scaled(name)
    mine, refs = [], []
    for i in range(3):
        ours = os.path.join(d, "%s.%d.prof" % (name, i))
        ref = os.path.join(d, "%s.%d.ref.prof" % (name, i))
        t.run([R, "-t", "--set", "tracer.builtins=true", "-o", ours, path],
              check_rc=0, timeout=300)
        t.run([R, "-m", "cProfile", "-o", ref, path], check_rc=0,
              timeout=300)
        o, r = compare(name, ours, ref, callers=True)
        mine.append(o)
        refs.append(r)
    mo, mr = median_tt(mine), median_tt(refs)
    check_top10(name, {k: [0, 0, v] for k, v in mo.items()},
                {k: [0, 0, v] for k, v in mr.items()})
    print("%s: %d functions, counts and callers equal cProfile's"
          % (name, len(r)))

for name in THREADED:
    path = scaled(name)
    ours = os.path.join(d, name + ".prof")
    counter = os.path.join(d, "counter.py")
    with open(counter, "w") as f:
        f.write(COUNTER)
    t.run([R, "-t", "-o", ours, path], check_rc=0, timeout=300)
    t.run([R, counter, path], check_rc=0, timeout=300)
    compare(name, ours, counter + ".ref", callers=False)
    print("%s: counts on every thread equal a setprofile counter's" % name)

# pstats in the host's own CPython, and our other formats on the same run.
path = scaled("calls.py")
out = os.path.join(d, "calls.prof")
p = t.run([R, "-t", "-o", out, path], check_rc=0)
t.check("profile written to" in p.stderr, "no summary line: " + p.stderr)
p = t.run([R, "-c", "import pstats; s = pstats.Stats(%r); "
           "s.sort_stats('cumulative').print_callers(5); "
           "s.sort_stats('tottime').print_callees(5); "
           "s.sort_stats('calls').print_stats(5)" % out], check_rc=0)
t.check("was called by" in p.stdout and "called..." in p.stdout
        and "fib" in p.stdout, "pstats output:\n" + p.stdout)
for clock in ("wall", "cpu"):
    txt = os.path.join(d, "calls.%s.stats.txt" % clock)
    t.run([R, "--trace-clock", clock, "-o", txt, path], check_rc=0)
    with open(txt) as f:
        rep = f.read()
    t.check("function calls" in rep and "(fib)" in rep
            and ("cpu-bound" in rep), "stats report:\n" + rep[:2000])
    t.check(("Clock: cpu" in rep) == (clock == "cpu"), "clock line")
print("ok")
