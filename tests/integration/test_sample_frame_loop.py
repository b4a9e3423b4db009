"""samples/frame_loop: the C++17 frame loop. frame_loop.cpp and a file
that includes only embprof.h compile with -std=c++17 -Wall -Wextra
-pedantic -Werror; the frames the test makes slow put rebuild_navmesh on
top of the main loop's profile; the Python background thread is sampled
under its own name; with the Lua engine, frame_budget.lua profiles the
slow frames."""
import os
import re
import shutil

import eptest as t
import samples_util as su

a = t.args()
loop = a.host[0]
d = t.tmpdir()
src = os.path.join(a.source_dir, "samples/frame_loop")

# 1. embprof.h from C++: warning-free at -Wall -Wextra -pedantic -Werror.
cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
if cxx is None:
    t.skip("no C++ compiler")
flags = ["-std=c++17", "-Wall", "-Wextra", "-pedantic", "-Werror",
         "-fsyntax-only", "-I", os.path.join(a.source_dir, "include"),
         "-isystem", su.python_include()]
t.run([cxx] + flags + [os.path.join(src, "frame_loop.cpp")], check_rc=0)
only = os.path.join(d, "only_header.cpp")
with open(only, "w") as f:
    f.write('#include <embprof.h>\n'
            'int main() { return embprof_strerror(EMBPROF_OK) ? 0 : 1; }\n')
t.run([cxx] + flags + [only], check_rc=0)
# ... and the same header with <Python.h> first (the GIL helpers).
with open(only, "w") as f:
    f.write('#include <Python.h>\n#include <embprof.h>\n'
            'int main() { PyGILState_STATE s = embprof_gil_ensure(nullptr, '
            '"x"); embprof_gil_release(nullptr, s); return 0; }\n')
t.run([cxx] + flags + [only], check_rc=0)

p = t.run([loop, "--help"], check_rc=0)
for flag in ("--frames", "--policy FILE", "--set KEY=VALUE", "-o, --output"):
    t.check(flag in p.stdout, "--help does not mention %r" % flag)
t.run([loop, "--frames", "0"], check_rc=2)
t.run([loop, "--bogus"], check_rc=2)

# 2. Slow frames: every 5th frame rebuilds the navmesh for 30 ms.
out = os.path.join(d, "frames")
p = t.run([loop, "-n", "150", "--spike-every", "5", "--spike-ms", "30",
           "-r", "200", "-o", out], timeout=120, check_rc=0)
m = re.search(r"150 frames;.* (\d+) over the 16.7 ms budget", p.stdout)
t.check(m and int(m.group(1)) >= 30, p.stdout)
stacks = t.read_collapsed(os.path.join(out, "profile.folded"))
main = lambda n: n == "main-loop"
top, table = su.top_owner(stacks, main)
print("main-loop self samples:", table)
t.check(top == "rebuild_navmesh", "top is %s, not rebuild_navmesh" % top)
bg = su.total_counts(stacks, lambda n: n == "asset-streamer")
t.check(bg.get("decompress_chunk", 0) > 0 or bg.get("stream_assets", 0) > 0,
        "the Python background thread is not in the profile as "
        "asset-streamer: %s" % sorted({su.thread_name(s[0]) for s in stacks}))

# 3. frame_budget.lua: frames over budget trigger a profile of update().
out = os.path.join(d, "policy")
p = t.run([loop, "-n", "240", "--spike-every", "60", "--spike-ms", "30",
           "--policy", os.path.join(src, "frame_budget.lua"), "-o", out,
           "--set", "log.file=" + os.path.join(out, "embprof.log")],
          timeout=120, check_rc=0)
got = sorted(f for f in os.listdir(out)
             if f.startswith("slow-frames") and f.endswith(".folded"))
t.check(got, "frame_budget.lua wrote no profile: %s" % os.listdir(out))
funcs = {su.owner(t.func_of(fr)) for _, frames, _ in
         t.read_collapsed(os.path.join(out, got[0])) for fr in frames}
t.check("update" in funcs, "the slow-frame profile misses update()")
print("ok")
