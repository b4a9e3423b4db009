"""Install and remove the GIL probe 1,000 times while 8 threads contend
for the GIL (tests/hosts/gil_stress.c): no crash, every start and stop
succeeds, every wait the hook opened was closed or is still open (none
lost), and no thread is reported to have waited longer than it measured
itself."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eptest  # noqa: E402

a = eptest.args()
host = a.host[0]
cycles = a.host[1] if len(a.host) > 1 else "1000"
d = eptest.tmpdir()
p = eptest.run([host, d, cycles], timeout=600, check_rc=0)
eptest.check("cycles ok" in p.stdout, p.stdout)
truth = {m.group(1): int(m.group(2)) for m in
         re.finditer(r"(stress-\d) ensure_ns=(\d+) ensures=\d+", p.stdout)}
eptest.check(len(truth) == 8, p.stdout)
with open(os.path.join(d, "stress.json"), encoding="utf-8") as f:
    rep = json.load(f)
pr = rep["probe"]
print("probe:", pr)
eptest.check(pr["hook_calls"] > 0 and pr["waits"] > 0, pr)
eptest.check(pr["waits"] == pr["waits_closed"] + pr["waits_open"],
             "waits lost: %s" % pr)
eptest.check(pr["threads_dropped"] == 0, pr)
seen = 0
for t in rep["threads"]:
    if t["name"] in truth and t["wait_count"] > 0:
        seen += 1
        # Waits are counted only while the probe is installed (and
        # since the reset): never more than the thread's own time.
        eptest.check(t["wait_ns"] <= truth[t["name"]] * 1.02 + 2e6,
                     "%s: reported %d ns > measured %d ns"
                     % (t["name"], t["wait_ns"], truth[t["name"]]))
eptest.check(seen >= 4, "only %d stress threads have waits" % seen)
print("ok")
