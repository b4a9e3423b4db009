"""The installed samples: share/embprof/samples holds each sample's
sources, README and CMakeLists; a copy of each builds against the
installed package (CMake, and pkg-config for the C server) and runs."""
import os
import shlex
import shutil

import eptest as t

a = t.args()
d = t.tmpdir()
prefix = os.path.join(d, "prefix")
t.run(["cmake", "--install", a.build_dir, "--prefix", prefix], check_rc=0)
share = os.path.join(prefix, "share/embprof/samples")
static = any(h.endswith("static_host") for h in a.host)
samples = ["threaded_server", "frame_loop"] + (["static_host"] if static
                                               else [])
t.check(os.path.exists(os.path.join(share, "README.md")), "no samples README")
for s in samples:
    for f in ("README.md", "CMakeLists.txt"):
        t.check(os.path.exists(os.path.join(share, s, f)),
                "not installed: share/embprof/samples/%s/%s" % (s, f))

san = os.environ.get("EMBPROF_TEST_SANITIZE_FLAGS", "")
runs = {
    "threaded_server": ["--load", "20", "--mix", "/cpu?n=2000:1,/alloc:1"],
    "frame_loop": ["--frames", "30", "--spike-every", "10"],
    "static_host": ["--seconds", "0.5"],
}
for s in samples:
    src = os.path.join(d, s)
    shutil.copytree(os.path.join(share, s), src)  # a user's copy
    b = os.path.join(src, "build")
    t.run(["cmake", "-S", src, "-B", b, "-DCMAKE_PREFIX_PATH=" + prefix,
           "-DCMAKE_C_FLAGS=" + san, "-DCMAKE_CXX_FLAGS=" + san,
           "-DCMAKE_EXE_LINKER_FLAGS=" + san, "-DFRAME_LOOP_WERROR=ON"],
          timeout=180, check_rc=0)
    t.run(["cmake", "--build", b], timeout=300, check_rc=0)
    exe = os.path.join(b, s)
    t.check(os.path.exists(exe), "%s was not built from the copy" % s)
    out = os.path.join(d, s + "-out")
    t.run([exe, "-o", out] + runs[s], timeout=120, check_rc=0)
    t.check(os.path.getsize(os.path.join(out, "profile.folded")) > 0,
            "%s: no profile from the installed build" % s)

# The C server with pkg-config alone.
env = {"PKG_CONFIG_PATH": os.path.join(prefix, "lib/pkgconfig")}
p = t.run(["pkg-config", "--cflags", "--libs", "embprof"], env=env,
          check_rc=0)
cc = os.environ.get("CC") or shutil.which("cc") or "gcc"
src = os.path.join(d, "threaded_server")
exe = os.path.join(d, "ts-pkgconfig")
cfiles = sorted(os.path.join(src, f) for f in os.listdir(src)
                if f.endswith(".c"))
t.run([cc, "-std=c11", "-D_GNU_SOURCE", "-o", exe] + cfiles +
      shlex.split(san) + shlex.split(p.stdout) + ["-lpthread"], check_rc=0)
t.run([exe, "--handlers", os.path.join(src, "handlers.py"), "--load", "10",
       "-o", os.path.join(d, "pc-out")], timeout=60, check_rc=0)
print("ok")
