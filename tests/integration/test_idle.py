"""A sleeping thread is idle in wall mode (left out), kept with --idle, and
absent in cpu mode."""
import os

import eptest as t

a = t.args()
d = t.tmpdir()


def sleeper_count(path):
    return sum(c for th, frames, c in t.read_collapsed(path)
               if "sleeping_thread_body" in {t.func_of(f) for f in frames})


def main_count(path):
    return sum(c for th, frames, c in t.read_collapsed(path)
               if "spinning_main" in {t.func_of(f) for f in frames})


runs = {}
for name, extra in (("wall", []), ("idle", ["--idle"]),
                    ("cpu", ["--mode", "cpu"])):
    out = os.path.join(d, name + ".folded")
    t.run([a.embprof_run, "-r", "200", "-o", out] + extra +
          [t.workload("idle.py")], check_rc=0)
    runs[name] = (sleeper_count(out), main_count(out))
    print(name, "sleeper", runs[name][0], "main", runs[name][1])

t.check(runs["wall"][1] > 100, "wall: main thread barely sampled")
# Idle means "not runnable": a sleeper that wakes on a loaded machine
# stays runnable, waiting for a CPU, for a few ticks, and is rightly kept.
# Against the --idle run's hundreds, a few per cent of main's is "left out".
t.check(runs["wall"][0] <= max(2, runs["wall"][1] * 3 // 100),
        "wall: sleeping thread was sampled %d times (main %d)"
        % runs["wall"][:2])
t.check(runs["idle"][0] > 100, "--idle: sleeping thread has only %d samples"
        % runs["idle"][0])
# The sleeper does use a little CPU to start and to enter sleep (more
# under sanitizers): "absent" means under 0.5 % of the spinning thread's.
t.check(runs["cpu"][0] * 200 < runs["cpu"][1],
        "cpu: sleeping thread has weight %d against main's %d"
        % (runs["cpu"][0], runs["cpu"][1]))
t.check(runs["cpu"][1] > 0, "cpu: main thread has no weight")
print("ok")
