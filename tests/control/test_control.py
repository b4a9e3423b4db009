"""Drives a real host (embprof-run --socket) through embprofctl and raw
socket clients: start/export/stop, dump, status, errors, limits, a stalled
client, events, stale and live sockets."""
import argparse
import json
import os
import re
import socket
import stat
import subprocess
import sys
import tempfile
import time

p = argparse.ArgumentParser()
p.add_argument("--embprof-run", required=True)
p.add_argument("--embprofctl", required=True)
a = p.parse_args()
HERE = os.path.dirname(os.path.abspath(__file__))
d = tempfile.mkdtemp(prefix="embprof-ctl-")
sock = os.path.join(d, "ep.sock")
out = os.path.join(d, "out")
os.mkdir(out)
progress, stop = os.path.join(d, "progress"), os.path.join(d, "stop")
FN = "control_test_busy_function"


def fail(msg):
    print("FAIL:", msg)
    open(stop, "w").close()
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def ctl(*args, rc=0, env=None):
    e = dict(os.environ)
    e.pop("EMBPROF_CONTROL_SOCKET", None)
    e.update(env or {})
    r = subprocess.run([a.embprofctl] + list(args), capture_output=True,
                       text=True, timeout=30, env=e)
    if rc is not None and r.returncode != rc:
        fail("embprofctl %s: exit %d (wanted %d)\n%s%s"
             % (" ".join(args), r.returncode, rc, r.stdout, r.stderr))
    return r


def start_host(*extra):
    return subprocess.Popen(
        [a.embprof_run, "--socket", sock, "--set", "output.dir=" + out,
         "--set", "control.idle_timeout=2", "--set", "control.max_clients=4",
         "--set", "control.max_line=256"] + list(extra) +
        [os.path.join(HERE, "workload.py"), progress, stop],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_socket(proc):
    for _ in range(100):
        if os.path.exists(sock):
            return
        if proc.poll() is not None:
            fail("host exited early: %s" % proc.stderr.read())
        time.sleep(0.05)
    fail("socket never appeared")


def raw():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(sock)
    return s, s.makefile("rw")


def ask(f, line):
    f.write(line + "\n")
    f.flush()
    return json.loads(f.readline())


def closed(f):
    """True once the server has closed: EOF, or a reset (the kernel sends
    RST when it closes a socket with unread input)."""
    try:
        return f.readline() == ""
    except ConnectionResetError:
        return True


def progress_now():
    try:
        return int(open(progress).read())
    except (OSError, ValueError):
        return 0


# A stale socket left by a dead process is replaced.
stale = socket.socket(socket.AF_UNIX)
stale.bind(sock)
stale.close()
host = start_host()
wait_socket(host)
time.sleep(0.3)
check(stat.S_IMODE(os.stat(sock).st_mode) == 0o600, "socket mode is not 0600")

# A second host on the live socket fails clearly.
second = subprocess.run(
    [a.embprof_run, "--socket", sock, "-c", "pass"], capture_output=True,
    text=True, timeout=30)
check(second.returncode != 0 and "in use" in second.stderr,
      "second host on a live socket: %d %s" % (second.returncode,
                                                second.stderr))

S = ["-s", sock]
r = ctl(*S, "status")
check("python:" in r.stdout and "sampler:" in r.stdout, r.stdout)
r = ctl(*S, "--json", "status")
st = json.loads(r.stdout)
check(st["ok"] and st["probes"]["sampler"]["active"] is False, r.stdout)
for k in ("version", "python", "uptime_s", "samples", "embprof_cpu_ns"):
    check(k in st, "status lacks " + k)
r = ctl(*S, "help")
for c in ("status", "start", "stop", "export", "dump", "top", "subscribe"):
    check(c in r.stdout, "help lacks " + c)

# Events: a subscriber sees what another client does.
sub, subf = raw()
check(ask(subf, "subscribe")["ok"], "subscribe failed")

ctl(*S, "start", "sampler", "rate=500")
ev = json.loads(subf.readline())
check(ev.get("event") == "probe_started" and ev.get("rate") == 500, ev)
time.sleep(1.0)

ss = os.path.join(d, "p.speedscope.json")
r = ctl(*S, "export", "speedscope", "-o", ss)
doc = json.load(open(ss))
check(doc["profiles"] and doc["shared"]["frames"], "empty speedscope")
check(any(f["name"] == FN for f in doc["shared"]["frames"]),
      "speedscope lacks " + FN)
ev = json.loads(subf.readline())
check(ev.get("event") == "export_written", ev)
check(ev["file"].startswith(os.path.realpath(out)), "written outside out")

folded = os.path.join(d, "p.folded")
ctl(*S, "export", "collapsed", "-o", folded)
lines = open(folded).read().splitlines()
check(lines and all(re.match(r"^.+ \d+$", l) for l in lines), lines[:3])
check(any(FN in l for l in lines), "folded lacks " + FN)

r = ctl(*S, "dump")
check(FN in r.stdout, "dump lacks %s:\n%s" % (FN, r.stdout))
r = ctl(*S, "top", "--once", "-n", "5")
check(FN in r.stdout, "top lacks " + FN)

ctl(*S, "stop", "sampler")
r = ctl(*S, "stop", "sampler", rc=1)
check("bad_state" in r.stderr, r.stderr)

# Errors: one clear line, exit status 1, the connection stays usable.
r = ctl(*S, "frobnicate", rc=1)
check("unknown_command" in r.stderr, r.stderr)
r = ctl(*S, "start", "sampler", "rate=0", rc=1)
check("bad_argument" in r.stderr and "sampler.rate" in r.stderr, r.stderr)
r = ctl(*S, "export", "collapsed", "path=../escape.folded", rc=1)
check("forbidden" in r.stderr, r.stderr)
r = ctl(*S, "export", "collapsed", "path=/etc/escape.folded", rc=1)
check("forbidden" in r.stderr, r.stderr)
os.symlink("/tmp", os.path.join(out, "link"))
r = ctl(*S, "export", "collapsed", "path=link/escape.folded", rc=1)
check("forbidden" in r.stderr, "symlink escape: " + r.stderr)
r = ctl(*S, "config", "set", "control.socket", "/tmp/x", rc=1)
check("cannot change" in r.stderr, r.stderr)
ctl(*S, "config", "set", "sampler.rate", "250")
r = ctl(*S, "--json", "config", "get", "sampler.rate")
check(json.loads(r.stdout)["value"] == "250", r.stdout)
r = ctl("-s", os.path.join(d, "missing.sock"), "status", rc=3)
check("no such socket" in r.stderr, r.stderr)
r = ctl("status", rc=3, env={"EMBPROF_CONTROL_SOCKET":
                             os.path.join(d, "missing.sock")})
r = ctl("status", rc=2)

s, f = raw()
check(ask(f, "bogus")["code"] == "unknown_command", "unknown")
check(ask(f, "status")["ok"], "connection unusable after an error")
r = ask(f, 'start "sampler')
check(r["code"] == "bad_request", r)
check(closed(f), "connection not closed after a protocol error")
s.close()

s, f = raw()
f.write("x" * 1000 + "\n")
f.flush()
r = json.loads(f.readline())
check(r["code"] == "too_large", r)
check(closed(f), "connection not closed after a long line")
s.close()

# Connection limit (4, the subscriber holds one).
held = [raw() for _ in range(3)]
extra, ef = raw()
r = json.loads(ef.readline())
check(r["code"] == "busy", r)
for s, _ in held:
    s.close()
extra.close()
time.sleep(0.2)

# Idle timeout (2 s).
s, f = raw()
time.sleep(2.6)
r = f.readline()
check(r and json.loads(r)["code"] == "timeout", "no idle timeout: %r" % r)
s.close()

# A stalled client (subscribed, never reads) while events flood: the host
# keeps running and other clients keep being served; the staller is cut.
stall = socket.socket(socket.AF_UNIX)
stall.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
stall.connect(sock)
stall.sendall(b"subscribe\n")
before = progress_now()
t0 = time.time()
c2, f2 = raw()
for i in range(300):
    check(ask(f2, "config set sampler.rate %d" % (100 + i))["ok"], "set")
elapsed = time.time() - t0
after = progress_now()
check(after > before, "host made no progress while a client stalled")
check(elapsed < 20, "requests slowed to %.1fs with a stalled client"
      % elapsed)
check(ask(f2, "status")["ok"], "status failed with a stalled client")
c2.close()
stall.close()
sub.close()

# The host exits normally and removes its socket.
open(stop, "w").close()
try:
    host.wait(timeout=30)
except subprocess.TimeoutExpired:
    host.kill()
    fail("host did not exit")
check(host.returncode == 0, "host exit %d: %s" % (host.returncode,
                                                   host.stderr.read()))
check(not os.path.exists(sock), "socket left behind")
print("ok")
