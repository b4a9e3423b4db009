"""embprof.export(path, format="dump") from Python names the function
another thread is in, with that thread's Python name."""
import os

import eptest as t

a = t.args()
d = t.tmpdir()
out = os.path.join(d, "now.dump")
t.run([a.embprof_run, t.workload("dump_self.py"), out], check_rc=0)
text = open(out).read()
print(text)
t.check(text.startswith("Process "), "not a dump")
blocks = text.split("\nThread ")
target = [b for b in blocks if "(DumpTarget)" in b.split("\n")[0]]
t.check(target, "no thread named DumpTarget")
t.check("dump_target_function (" in target[0],
        "DumpTarget's stack lacks dump_target_function")
main = [b for b in blocks if "(MainThread)" in b.split("\n")[0]]
t.check(main and "<module> (" in main[0], "MainThread's stack missing")
print("ok")
