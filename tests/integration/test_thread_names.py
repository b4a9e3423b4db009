"""Python threads that start and end between two of embprof's name
collections (the main thread sits in join()) carry their threading names
in the profile, not their OS names."""
import os

import eptest as t

a = t.args()
d = t.tmpdir()
out = os.path.join(d, "names.folded")
t.run([a.embprof_run, "-r", "500", "-o", out,
       t.workload("short_threads.py")], check_rc=0)
# (MainThread sits in join(): idle, so it may have no samples at all.)
threads = {th.split(" (tid ")[0] for th, _, _ in t.read_collapsed(out)}
print("threads:", sorted(threads))
for name in ("short-0", "short-1", "short-2"):
    t.check(name in threads, "%s missing from %s" % (name, sorted(threads)))
print("ok")
