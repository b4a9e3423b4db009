"""samples/threaded_server: native worker threads call Python handlers
through embprof_gil_ensure under the built-in load generator. The route
the test makes slow is the top of the profile; handler exceptions become
500s, not crashes; usage errors exit 2."""
import json
import os
import re

import eptest as t
import samples_util as su

a = t.args()
server = a.host[0]
d = t.tmpdir()
workers = lambda name: name.startswith("worker-")

p = t.run([server, "--help"], check_rc=0)
for flag in ("--load N", "--concurrency C", "--set KEY=VALUE", "-o, --output",
             "--no-sampler", "exit status"):
    t.check(flag in p.stdout, "--help does not mention %r" % flag)
for bad in (["--bogus"], ["--load", "0"], ["--load"], ["--mix", "cpu"],
            ["--set", "sampler.rate=0"], ["--set", "no.such.key=1"]):
    p = t.run([server] + bad + ["-o", d], check_rc=2)
    t.check("Try 'threaded_server --help'" in p.stderr, p.stderr)
p = t.run([server, "--set", "no.such.key=1"], check_rc=2)
t.check("no.such.key" in p.stderr, p.stderr)


def run(name, mix, *extra, rc=0, load=120):
    out = os.path.join(d, name)
    p = t.run([server, "--load", str(load), "--concurrency", "6",
               "--mix", mix, "-r", "200", "-o", out] + list(extra),
              timeout=180, check_rc=rc)
    return out, p


# 1. The CPU route made slow: crunch_primes is the workers' top function.
out, p = run("cpu", "/cpu?n=30000:3,/io?ms=5:1,/alloc?n=300:1")
t.check(re.search(r"120 requests, 6 at a time, .* 0 failed", p.stdout),
        p.stdout)
for f in ("profile.folded", "profile.speedscope.json", "top.txt"):
    t.check(os.path.getsize(os.path.join(out, f)) > 0, "no " + f)
    t.check(os.path.join(out, f) in p.stdout, "output %s not named" % f)
stacks = t.read_collapsed(os.path.join(out, "profile.folded"))
names = {su.thread_name(th) for th, _, _ in stacks}
t.check(any(workers(n) for n in names), "no worker-N thread: %s" % names)
top, table = su.top_owner(stacks, workers)
print("cpu-heavy mix, workers' self samples:", table)
t.check(top == "crunch_primes", "top is %s, not crunch_primes" % top)
incl = su.total_counts(stacks, workers)
t.check(incl.get("cpu_route", 0) > 2 * incl.get("alloc_route", 0),
        "cpu_route does not dominate: %s" % incl)

# 1b. The same mix with the GIL probe: four workers contend for the GIL;
# the report names them, with the sites they waited at (routes.c's
# embprof_gil_ensure site, or the handler they were in).
out, p = run("gil", "/cpu?n=30000:3,/io?ms=5:1", "--start", "gil", load=60)
with open(os.path.join(out, "gil.json")) as f:
    gil = json.load(f)
ws = [th for th in gil["threads"] if workers(th["name"])]
t.check(len(ws) >= 2 and all(th["wait_count"] > 0 for th in ws),
        "GIL report workers: %s" % [(th["name"], th["wait_count"])
                                    for th in gil["threads"]])
t.check(all(th["kind"] == "host" for th in ws), "workers are host threads")
sites = " ".join(s["site"] for th in ws for s in th["top_wait_sites"])
t.check("routes.c" in sites or "crunch_primes" in sites,
        "wait sites: %s" % sites)
t.check(gil["diagnosis"], "no diagnosis for 4 contending workers")

# 2. The allocating route made slow: build_records is on top instead.
out, p = run("alloc", "/cpu?n=1000:1,/io?ms=5:1,/alloc?n=6000:3")
stacks = t.read_collapsed(os.path.join(out, "profile.folded"))
top, table = su.top_owner(stacks, workers)
print("alloc-heavy mix, workers' self samples:", table)
t.check(top == "build_records", "top is %s, not build_records" % top)

# 3. A handler that raises: 500s, one traceback, the server keeps going.
out, p = run("error", "/error:1,/cpu?n=500:1", rc=3, load=40)
t.check("20 failed" in p.stdout, p.stdout)
t.check(p.stderr.count("Traceback") == 1 and "ValueError" in p.stderr,
        p.stderr)
t.check(re.search(r"/error +20 calls +20 raised", p.stdout), p.stdout)
t.check(re.search(r"/cpu +20 calls +0 raised", p.stdout), p.stdout)

# 4. A Unix socket, sampler off: served, and no profile to write.
sock = os.path.join(d, "ts.sock")
out, p = run("unix", "/cpu?n=500", "--unix", sock, "--no-sampler", load=20)
t.check("serving on unix:" + sock in p.stdout, p.stdout)
t.check(not os.path.exists(sock), "socket file left behind")
t.check(not os.path.exists(os.path.join(out, "profile.folded")),
        "a profile without the sampler")

# 5. The latency policy: slow requests trigger a profile.
policy = os.path.join(a.source_dir, "samples/threaded_server/latency.lua")
out, p = run("policy", "/cpu?n=30000:1,/io?ms=5:1", "--no-sampler",
             "--set", "policy.file=" + policy,
             "--set", "log.file=" + os.path.join(d, "policy.log"),
             load=240)
got = [f for f in os.listdir(out) if f.startswith("slow-requests")]
t.check(got, "the latency policy wrote no profile: %s\n%s"
        % (os.listdir(out), p.stderr))
print("ok")
