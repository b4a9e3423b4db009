"""embprof-run's command line: usage errors exit 2 with one line naming the
option and what it accepts; the program's exit status and argv pass
through; -m runs modules (cProfile inside the same host)."""
import os
import pstats

import eptest as t

a = t.args()
d = t.tmpdir()
R = a.embprof_run
script = os.path.join(d, "s.py")
with open(script, "w") as f:
    f.write("import sys\nprint('argv', sys.argv)\n")

bad = [
    (["-r", "0", "-o", "x.folded", script], ["sampler.rate", "1..10000"]),
    (["-r", "abc", "-o", "x.folded", script], ["sampler.rate"]),
    (["--mode", "fast", "-o", "x.folded", script], ["sampler.mode",
                                                    "wall|cpu"]),
    (["-f", "bogus", "-o", "x.folded", script], ["output.format"]),
    (["-o", "/nonexistent-dir/x.folded", script], ["output.file",
                                                   "/nonexistent-dir"]),
    (["-o", os.path.join(d, "x.unknownext"), script], ["output.file"]),
    (["--no-such-option", script], ["--no-such-option"]),
    (["--set", "no.such=1", script], ["no.such"]),
    (["-r", "500", script], ["-o/--output"]),
    ([], ["no script"]),
    (["-m"], ["-m"]),
]
for argv, words in bad:
    p = t.run([R] + argv)
    first = p.stderr.splitlines()[0] if p.stderr else ""
    print(argv, "->", p.returncode, first)
    t.check(p.returncode == 2, "%s: exit %d, expected 2" % (argv,
                                                            p.returncode))
    for w in words:
        t.check(w in first, "%s: %r does not name %r" % (argv, first, w))

p = t.run([R, script], env={"EMBPROF_SAMPLER_RATE": "abc"})
t.check(p.returncode == 2 and "EMBPROF_SAMPLER_RATE" in p.stderr,
        "bad environment value: %d %s" % (p.returncode, p.stderr))

p = t.run([R, "--help"], check_rc=0)
for key in ("sampler.rate", "sampler.mode", "sampler.idle", "output.dir",
            "output.file", "EMBPROF_SAMPLER_RATE", "--output", "--gil",
            "--duration"):
    t.check(key in p.stdout, "--help lacks %s" % key)
p = t.run([R, "--version"], check_rc=0)
t.check("CPython" in p.stdout and "embprof-run" in p.stdout, p.stdout)

# Exit status and argv.
ex = os.path.join(d, "exit3.py")
open(ex, "w").write("import sys\nsys.exit(3)\n")
t.run([R, ex], check_rc=3)
boom = os.path.join(d, "boom.py")
open(boom, "w").write("raise ValueError('boom')\n")
p = t.run([R, boom], check_rc=1)
t.check("ValueError: boom" in p.stderr, "traceback not printed")
p = t.run([R, script, "-x", "--y", "z"], check_rc=0)
t.check("'-x', '--y', 'z'" in p.stdout, p.stdout)
p = t.run([R, "-o", os.path.join(d, "a.folded"), script, "-r", "5"],
          check_rc=0)
t.check("'-r', '5'" in p.stdout, "options after the script are the "
        "script's: " + p.stdout)

# -m, and cProfile running inside the same host.
prof = os.path.join(d, "x.prof")
t.run([R, "-o", os.path.join(d, "m.folded"), "-m", "cProfile", "-o", prof,
       t.workload("split.py"), "1"], check_rc=0)
st = pstats.Stats(prof)
t.check(any(k[2] == "func_a" for k in st.stats), "cProfile missed func_a")
t.check(os.path.getsize(os.path.join(d, "m.folded")) > 0, "no sampler output")

# Without any profiling option nothing is written and nothing samples.
p = t.run([R, script], check_rc=0)
t.check("profile written" not in p.stderr, p.stderr)
print("ok")
