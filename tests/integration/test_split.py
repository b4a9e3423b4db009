"""A known 60/30/10 time split comes out within +-3 points, in wall and in
cpu mode, in the folded output and in the top report."""
import os
import re

import eptest as t

a = t.args()
d = t.tmpdir()
want = {"func_a": 60.0, "func_b": 30.0, "func_c": 10.0}
for mode in ("wall", "cpu"):
    out = os.path.join(d, "split-%s.folded" % mode)
    t.run([a.embprof_run, "-r", "200", "--mode", mode, "-o", out,
           t.workload("split.py"), "4"], check_rc=0)
    got, total = t.shares(t.read_collapsed(out), list(want))
    print(mode, "shares", {k: round(v, 1) for k, v in got.items()},
          "total", total)
    for f, w in want.items():
        t.check(abs(got[f] - w) <= 3.0,
                "%s mode: %s has %.1f%%, expected %.0f%% +-3"
                % (mode, f, got[f], w))

# The top report agrees (total-time column).
out = os.path.join(d, "split.txt")
t.run([a.embprof_run, "-r", "200", "-o", out, t.workload("split.py"), "3"],
      check_rc=0)
text = open(out).read()
t.check(text.startswith("embprof top: wall mode, 200 Hz"), text[:200])
t.check(re.search(r"sampler: [0-9.]+% of one CPU", text), "no sampler line")
for f, w in want.items():
    m = re.search(r"^\s*[0-9.]+%% +([0-9.]+)%% .* %s \(" % f, text, re.M)
    t.check(m, "top has no row for %s:\n%s" % (f, text))
    t.check(abs(float(m.group(1)) - w) <= 3.0,
            "top: %s total %s%%, expected %.0f" % (f, m.group(1), w))
print("ok")
