"""The tracer's modes, each with a number that can be wrong:

- lines: per-line hits of a function with known loop counts, through
  embprof-run --lines (module:qualname) and a file glob;
- clock=cpu: a function that sleeps gets (almost) no CPU time while a
  spinning one gets its full time; clock=wall gives the sleeper its time;
- threads: a thread started before the tracer, threads started after it,
  start/stop at run time from Python (embprof.start/stop) with exact
  counts; a second start/stop cycle adds up; reset zeroes;
- chrome: tracer.timeline=true gives a JSON trace with X events and
  thread names; a tiny timeline_max counts drops;
- a C call whose C_RETURN never reaches us (sys.setprofile called with
  builtins=true replaces our C profile function on 3.10/3.11) does not
  stop the enclosing Python frames from being counted;
- a trace function set (sys.settrace) inside a function tracer.lines
  selected survives that function's return.
"""
import json
import os
import re

import eptest as t

a = t.args()
R = a.embprof_run
d = t.tmpdir()


def write(name, text):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def load_stats(prof, suffix):
    code = ("import marshal,sys\n"
            "st = marshal.load(open(sys.argv[1], 'rb'))\n"
            "print(repr({(k[2], k[1]): v[:4] for k, v in st.items() "
            "if k[0].endswith(sys.argv[2])}))\n")
    p = t.run([R, "-c", code, prof, suffix], check_rc=0)
    return eval(p.stdout)


# ---- lines -------------------------------------------------------------
lines_py = write("linesw.py", """\
def work(n):
    total = 0
    for i in range(n):
        if i % 3 == 0:
            total += i
        else:
            total -= 1
    return total


def other(n):
    return n * 2


for _ in range(7):
    work(100)
    other(1)
""")
for spec in ("linesw:work", "*/linesw.py"):
    out = os.path.join(d, "l.lines.txt")
    t.run([R, "--lines", spec, "-o", out, lines_py], check_rc=0)
    rep = open(out).read()
    hits = {}
    for ln in rep.splitlines():
        m = re.match(r"^\s+(\d+)\s+(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s", ln)
        if m:
            hits[int(m.group(1))] = int(m.group(2))
    print(spec, hits)
    want = {2: 7, 4: 700, 5: 7 * 34, 7: 7 * 66, 8: 7}
    for ln, n in want.items():
        t.check(hits.get(ln) == n, "%s: line %d hits %s, expected %d\n%s"
                % (spec, ln, hits.get(ln), n, rep))
    t.check(hits.get(3) in (700, 707), "for line hits %s" % hits.get(3))
    t.check("Line Contents" in rep and "total += i" in rep, rep)
    if spec.startswith("linesw:"):
        t.check(12 not in hits, "other() was not selected: %s" % hits)

# ---- cpu clock ----------------------------------------------------------
clock_py = write("clockw.py", """\
import time


def spin(sec):
    end = time.thread_time() + sec
    x = 0
    while time.thread_time() < end:
        x += 1
    return x


def nap(sec):
    time.sleep(sec)


def main():
    for _ in range(4):
        spin(0.05)
        nap(0.05)


main()
""")
for clock in ("cpu", "wall"):
    out = os.path.join(d, "clock.%s.prof" % clock)
    t.run([R, "--trace-clock", clock, "-o", out, clock_py], check_rc=0)
    st = load_stats(out, "clockw.py")
    spin = [v for k, v in st.items() if k[0] == "spin"][0]
    nap = [v for k, v in st.items() if k[0] == "nap"][0]
    print(clock, "spin", spin, "nap", nap)
    t.check(spin[1] == 4 and nap[1] == 4, "calls")
    # spin burns 0.2 s of CPU: cpu time ~0.2, wall time >= that (more when
    # the machine is busy).
    t.check(0.14 < spin[2] and (clock == "wall" or spin[2] < 0.5),
            "%s: spin tottime %.3f, expected ~0.2" % (clock, spin[2]))
    if clock == "cpu":
        t.check(nap[2] < 0.02, "cpu: nap tottime %.4f, expected ~0" % nap[2])
    else:
        t.check(0.18 < nap[2] < 2.0, "wall: nap tottime %.3f" % nap[2])

# ---- threads and run-time start/stop -----------------------------------
thr_py = write("thrw.py", """\
import threading, time, embprof


def leaf(i):
    return i + 1


def worker(n, ev=None):
    if ev is not None:
        ev.wait()
    for i in range(n):
        leaf(i)


go = threading.Event()
early = threading.Thread(target=worker, args=(1000, go))
early.start()                      # exists before the tracer starts
leaf(0)                            # not traced
embprof.start("tracer")
go.set()
ts = [threading.Thread(target=worker, args=(500,)) for _ in range(3)]
for t in ts:
    t.start()
for t in ts:
    t.join()
early.join()
embprof.stop("tracer")
leaf(0)                            # not traced
embprof.start("tracer")            # a second run adds up
worker(10)
embprof.stop("tracer")
embprof.export("thr.prof")
embprof.reset()
try:
    embprof.export("thr2.prof")
    print("reset: export after reset succeeded")
except embprof.Error as e:
    print("reset: export refused:", e)
""")
p = t.run([R, thr_py], check_rc=0, cwd=d)
st = load_stats(os.path.join(d, "thr.prof"), "thrw.py")
print("threads", st)
leaf = [v for k, v in st.items() if k[0] == "leaf"][0]
worker = [v for k, v in st.items() if k[0] == "worker"][0]
t.check(leaf[1] == 1000 + 3 * 500 + 10, "leaf calls %d" % leaf[1])
t.check(worker[1] == 3 + 1, "worker calls %d (the early thread's call "
        "began before start)" % worker[1])
t.check("export refused" in p.stdout, "reset: " + p.stdout)

# ---- chrome --------------------------------------------------------------
out = os.path.join(d, "t.trace.json")
calls_py = write("tl.py", "def f(i):\n    return i\n\n"
                 "for i in range(5000):\n    f(i)\n")
t.run([R, "-t", "--set", "tracer.timeline=true", "-o", out, calls_py],
      check_rc=0)
doc = json.load(open(out))
ev = doc["traceEvents"]
xs = [e for e in ev if e["ph"] == "X" and e["name"] == "f"]
t.check(len(xs) == 5000, "chrome: %d X events for f" % len(xs))
t.check(any(e["ph"] == "M" and e["name"] == "thread_name" for e in ev),
        "chrome: no thread_name")
t.check(all(e["dur"] >= 0 and e["ts"] >= 0 for e in xs), "chrome: times")
t.run([R, "-t", "--set", "tracer.timeline=true", "--set",
       "tracer.timeline_max=1000", "-o", out, calls_py], check_rc=0)
doc = json.load(open(out))
t.check(doc["otherData"]["dropped"] >= 4000, "chrome: dropped %r"
        % doc["otherData"])

# ---- a builtin call that never returns to us ---------------------------
lost_py = write("lostw.py", """\
import sys


def noop(frame, event, arg):
    pass


def inner():
    sys.setprofile(noop)   # the C_RETURN of this call goes to noop
    sys.setprofile(None)


def leaf():
    return len([1])


def outer():
    inner()
    return leaf()


for _ in range(5):
    outer()
""")
out = os.path.join(d, "lost.prof")
t.run([R, "-t", "--set", "tracer.builtins=true", "-o", out, lost_py],
      check_rc=0)
st = load_stats(out, "lostw.py")
print("lost C_RETURN", st)
for fn in ("inner", "outer", "leaf"):
    v = [v for k, v in st.items() if k[0] == fn]
    t.check(v and v[0][0] == 5 and v[0][1] == 5,
            "%s calls %r, expected 5: a leftover builtin frame swallowed "
            "the returns of its callers" % (fn, v))
o = [v for k, v in st.items() if k[0] == "outer"][0]
i = [v for k, v in st.items() if k[0] == "inner"][0]
t.check(o[3] >= i[3], "outer cumtime %.6f < inner's %.6f" % (o[3], i[3]))

# ---- a debugger's trace function outlives a lines-selected frame -------
dbg_py = write("dbgw.py", """\
import sys


def mytrace(frame, event, arg):
    return None


def sel():
    x = 1
    sys.settrace(mytrace)   # a debugger/coverage attaches here
    return x


def main():
    sel()
    return sys.gettrace()


got = main()
sys.settrace(None)
print("trace after the selected frame:", got is mytrace, got)
""")
p = t.run([R, "--lines", "dbgw:sel", "-o", os.path.join(d, "dbg.lines.txt"),
           dbg_py], check_rc=0)
t.check("trace after the selected frame: True" in p.stdout,
        "the trace function set inside a lines-selected frame was "
        "replaced at its return: " + p.stdout)
print("ok")
