"""samples/static_host: the minimal host linked with the static libpython
profiles its main thread and its named native threads."""
import json
import os

import eptest as t
import samples_util as su

a = t.args()
host = a.host[0]
d = t.tmpdir()
p = t.run([host, "-s", "1.5", "-t", "2", "-o", d], timeout=60, check_rc=0)
t.check("CPython" in p.stdout and "statically linked" in p.stdout,
        "not a statically linked CPython: " + p.stdout)
stacks = t.read_collapsed(os.path.join(d, "profile.folded"))
for thread, func in (("host-main", "main_thread_work"),
                     ("native-0", "native_thread_work"),
                     ("native-1", "native_thread_work")):
    incl = su.total_counts(stacks, lambda n, th=thread: n == th)
    t.check(incl.get(func, 0) > 20, "%s: %s has %d samples (%s)"
            % (thread, func, incl.get(func, 0), incl))
    top, table = su.top_owner(stacks, lambda n, th=thread: n == th)
    t.check(top == "spin", "%s: top is %s, not spin" % (thread, top))
# With the GIL probe: three threads spin in Python, so each waits for the
# GIL; the report names the native threads by the names they gave.
g = os.path.join(d, "gil")
t.run([host, "-s", "1", "-t", "2", "--start", "gil", "-o", g], timeout=60,
      check_rc=0)
with open(os.path.join(g, "gil.json")) as f:
    rep = json.load(f)
waits = {th["name"]: th["wait_count"] for th in rep["threads"]}
t.check(all(waits.get(n, 0) > 0 for n in ("native-0", "native-1")),
        "GIL waits per thread: %s" % waits)
t.check(rep["switches"] > 0, "no GIL switches: %s" % rep)
t.check(os.path.getsize(os.path.join(g, "gil.txt")) > 0, "empty gil.txt")
t.run([host, "--bogus", "x"], check_rc=2)
print("ok")
