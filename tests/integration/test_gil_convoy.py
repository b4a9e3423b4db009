"""A GIL convoy is diagnosed as one: 4 CPU-bound Python threads and a
thread that sleeps 1 ms in a loop (workloads/gil_convoy.py), run with
embprof-run --gil-report (.json and .txt)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eptest  # noqa: E402

a = eptest.args()
d = eptest.tmpdir()
js = os.path.join(d, "convoy.json")
txt = os.path.join(d, "convoy.txt")
eptest.run([a.embprof_run, "--gil-report", js,
            eptest.workload("gil_convoy.py"), "120"], timeout=120, check_rc=0)
with open(js, encoding="utf-8") as f:
    rep = json.load(f)
by_name = {t["name"]: t for t in rep["threads"]}
eptest.check("latency" in by_name, "threads: %s" % sorted(by_name))
lat = by_name["latency"]
eptest.check(lat["kind"] == "python", lat)
eptest.check(lat["wait_count"] >= 40,
             "latency waited %d times" % lat["wait_count"])
eptest.check(lat["wait_p50_ns"] > 1000000,
             "latency median wait %.2f ms" % (lat["wait_p50_ns"] / 1e6))
eptest.check(any("latency" in s["site"] for s in lat["top_wait_sites"]),
             "latency's wait site: %s" % lat["top_wait_sites"])
behind = {b["name"] for b in lat["waited_behind"]}
eptest.check(len(behind & {"hog-%d" % i for i in range(4)}) >= 3,
             "latency waited behind %s" % behind)
for i in range(4):
    h = by_name.get("hog-%d" % i)
    eptest.check(h is not None, "hog-%d missing" % i)
    eptest.check(h["held_pct"] > 8, "hog-%d held %.1f %%" % (i, h["held_pct"]))
    eptest.check(any("hog_spin" in s["site"] for s in h["top_hold_sites"]),
                 "hog-%d stacks: %s" % (i, h["top_hold_sites"]))
convoys = [x for x in rep["diagnosis"] if x["kind"] == "convoy"]
eptest.check(convoys, "no convoy diagnosed: %s" % rep["diagnosis"])
c = [x for x in convoys if x["threads"][0] == "latency"]
eptest.check(c, "no convoy names latency as the victim: %s" % convoys)
c = c[0]
eptest.check(len(set(c["threads"][1:]) & {"hog-%d" % i for i in range(4)})
             == 4, "convoy threads: %s" % c["threads"])
eptest.check("hog_spin" in c["text"] and c["remedy"], c)
eptest.check(not any(x["kind"] == "native_hold" and "latency" in x["threads"]
                     for x in rep["diagnosis"]), rep["diagnosis"])
eptest.check(rep["switches"] > 0 and rep["forced_switches"] > 0,
             "switches %d forced %d" % (rep["switches"],
                                        rep["forced_switches"]))
# The text report, by extension; with the sampler (idle threads too), the
# waits show as a pseudo-frame under the waiting stacks.
folded = os.path.join(d, "convoy.folded")
eptest.run([a.embprof_run, "--gil-report", txt, "-o", folded, "--idle",
            "-r", "200", eptest.workload("gil_convoy.py"), "60"],
           timeout=120, check_rc=0)
with open(txt, encoding="utf-8") as f:
    t = f.read()
eptest.check("GIL report" in t and "latency" in t and "diagnosis:" in t, t)
waits = [(th, fr, n) for th, fr, n in eptest.read_collapsed(folded)
         if fr and fr[-1].startswith("[waiting for GIL]")]
eptest.check(any(th.startswith("latency") and
                 any("latency_tick" in x for x in fr) for th, fr, n in waits),
             "no [waiting for GIL] frame under latency_tick: %s" % waits[:5])
print("ok")
