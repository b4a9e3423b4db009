"""A host outside the tree builds against the installed embprof with
find_package(embprof) and with `pkg-config --cflags --libs embprof` alone,
and profiles its Python code."""
import os
import shlex
import shutil

import eptest as t

a = t.args()
d = t.tmpdir()
prefix = os.path.join(d, "prefix")
t.run(["cmake", "--install", a.build_dir, "--prefix", prefix], check_rc=0)
for f in ("include/embprof.h", "bin/embprof-run", "lib/libembprof.so",
          "lib/libembprof.a", "lib/pkgconfig/embprof.pc",
          "lib/cmake/embprof/embprofConfig.cmake"):
    t.check(os.path.exists(os.path.join(prefix, f)), "not installed: " + f)

p = t.run([os.path.join(prefix, "bin/embprof-run"), "--version"], check_rc=0)
t.check("CPython" in p.stdout, p.stdout)

src = os.path.join(t.HERE, "external")
b = os.path.join(d, "ext-build")
# A sanitized libembprof needs a sanitized executable (the runtime must
# come first); the flags come from the test's environment.
san = os.environ.get("EMBPROF_TEST_SANITIZE_FLAGS", "")
t.run(["cmake", "-S", src, "-B", b, "-DCMAKE_PREFIX_PATH=" + prefix,
       "-DCMAKE_C_FLAGS=" + san, "-DCMAKE_EXE_LINKER_FLAGS=" + san],
      check_rc=0)
t.run(["cmake", "--build", b], check_rc=0)
out = os.path.join(d, "cmake-host.folded")
t.run([os.path.join(b, "host"), out], check_rc=0)

# pkg-config alone.
env = {"PKG_CONFIG_PATH": os.path.join(prefix, "lib/pkgconfig")}
p = t.run(["pkg-config", "--cflags", "--libs", "embprof"], env=env,
          check_rc=0)
flags = shlex.split(p.stdout)
cc = os.environ.get("CC") or shutil.which("cc") or "gcc"
exe = os.path.join(d, "pc-host")
t.run([cc, os.path.join(src, "host.c"), "-o", exe] + shlex.split(san) +
      flags, check_rc=0)
t.run([exe, os.path.join(d, "pc-host.folded")], check_rc=0)
print("ok")
