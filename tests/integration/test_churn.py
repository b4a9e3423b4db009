"""50 threads starting and ending while sampling at 2 kHz: the host runs to
the end, the profile has the worker, and the sampler's figures are sane."""
import os
import re

import eptest as t

a = t.args()
d = t.tmpdir()
for mode in ("wall", "cpu"):
    out = os.path.join(d, "churn-%s.folded" % mode)
    p = t.run([a.embprof_run, "-r", "2000", "--mode", mode, "-o", out,
               t.workload("churn.py")], check_rc=0, timeout=120)
    stacks = t.read_collapsed(out)
    workers = sum(c for th, fr, c in stacks
                  if "churn_worker" in {t.func_of(f) for f in fr})
    threads = {th for th, fr, c in stacks}
    print(mode, "worker weight", workers, "threads", len(threads))
    t.check(workers > 0, "%s: churn_worker never sampled" % mode)
    t.check(len(threads) >= 10, "%s: only %d threads seen" % (mode,
                                                              len(threads)))
    m = re.search(r"\((\d+) samples; sampler used ([0-9.]+)% of one CPU, "
                  r"(\d+) walk errors", p.stderr)
    t.check(m, "no closing line: %s" % p.stderr[-500:])
    samples, errors = int(m.group(1)), int(m.group(3))
    t.check(errors * 10 <= samples, "too many walk errors: %s" % m.group(0))
print("ok")
