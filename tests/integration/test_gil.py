"""The GIL probe against ground truth (tests/hosts/gil_host.c).

A native thread holds the GIL in C for known times while another measures
its own PyGILState_Ensure; the probe's wait for that thread must match the
thread's own measurement within 5 %, and the long holds must be diagnosed
as native code that does not release the GIL.

  test_gil.py --embprof-run X --host PATH_TO_gil_host [--host attach]
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eptest  # noqa: E402

a = eptest.args()
if not a.host:
    eptest.fail("--host PATH_TO_gil_host is required")
host = a.host[0]
mode = a.host[1:] if len(a.host) > 1 else []
if not os.path.exists(host):
    eptest.skip("%s was not built (no static libpython?)" % host)

worst = 0.0
for attempt in range(3):
    d = eptest.tmpdir()
    p = eptest.run([host, d] + mode, timeout=60, check_rc=0)
    m = re.search(r"waiter_ns=(\d+) waiter_count=(\d+) holds=(\d+) "
                  r"hold_ms=(\d+)", p.stdout)
    eptest.check(m is not None, "no measurement line in %r" % p.stdout)
    truth_ns, truth_count = int(m.group(1)), int(m.group(2))
    with open(os.path.join(d, "gil.json"), encoding="utf-8") as f:
        rep = json.load(f)
    for key in ("duration_ns", "switch_interval_us", "switches",
                "forced_switches", "threads", "diagnosis"):
        eptest.check(key in rep, "gil-json lacks %r" % key)
    by_name = {t["name"]: t for t in rep["threads"]}
    eptest.check("waiter" in by_name and "holder" in by_name,
                 "threads: %s" % sorted(by_name))
    w, h = by_name["waiter"], by_name["holder"]
    for key in ("tid", "kind", "wait_ns", "wait_count", "wait_p50_ns",
                "wait_p99_ns", "wait_max_ns", "held_pct", "waiting_pct",
                "top_wait_sites", "waited_behind"):
        eptest.check(key in w, "thread row lacks %r: %s" % (key, w))
    eptest.check(w["kind"] == "host", "waiter kind %r" % w["kind"])
    eptest.check(w["wait_count"] == truth_count,
                 "wait_count %d, the thread counted %d"
                 % (w["wait_count"], truth_count))
    err = abs(w["wait_ns"] - truth_ns) / truth_ns
    worst = max(worst, err)
    print("attempt %d: reported %.2f ms, measured %.2f ms (%.2f %%), "
          "count %d" % (attempt, w["wait_ns"] / 1e6, truth_ns / 1e6,
                        100 * err, w["wait_count"]))
    eptest.check(w["wait_p50_ns"] <= w["wait_p99_ns"] <= w["wait_max_ns"],
                 "percentiles out of order: %s" % w)
    eptest.check(any("gil_host.c:waiter" in s["site"]
                     for s in w["top_wait_sites"]),
                 "the ensure site is missing: %s" % w["top_wait_sites"])
    eptest.check(w["waited_behind"] and
                 w["waited_behind"][0]["name"] == "holder",
                 "waited_behind: %s" % w["waited_behind"])
    eptest.check(h["held_pct"] > 30, "holder held %.1f %%" % h["held_pct"])
    kinds = {x["kind"]: x for x in rep["diagnosis"]}
    if not ("native_hold" in kinds and
            "holder" in kinds["native_hold"]["threads"]):
        # A hold is judged native only if the holder was seen on a CPU or
        # blocked; on a machine loaded past its CPUs (a sanitizer leg
        # beside other tests) it can be merely runnable for a whole hold.
        # Another run, up to three in all.
        print("attempt %d: no native_hold diagnosis: %s"
              % (attempt, rep["diagnosis"]))
        eptest.check(attempt < 2, "diagnosis: %s" % rep["diagnosis"])
        continue
    eptest.check("convoy" not in kinds,
                 "a native hold is not a Python convoy: %s"
                 % rep["diagnosis"])
    eptest.check(rep["probe"]["waits"] == rep["probe"]["waits_closed"],
                 "waits left open: %s" % rep["probe"])
    with open(os.path.join(d, "gil.txt"), encoding="utf-8") as f:
        txt = f.read()
    eptest.check("waiter" in txt and "diagnosis:" in txt, txt)
    if err <= 0.05:
        break
eptest.check(worst <= 0.05 or err <= 0.05,
             "reported wait off by %.2f %% (> 5 %%)" % (100 * err))
print("ok")
