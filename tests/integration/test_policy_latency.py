"""The latency policy (samples/policies/latency.lua) on a host with a
latency incident (workloads/latency.py): the sampler starts within one
evaluation period of the moment the p99 over 10 s crosses 200 ms, the
profile written contains the slow function, and the cooldown keeps a
second profile from being written for the same incident."""
import json
import math
import os
import socket
import subprocess
import threading
import time

import eptest as t

a = t.args()
d = t.tmpdir()
out = os.path.join(d, "out")
os.makedirs(out)
sock = os.path.join(d, "ep.sock")
reqlog = os.path.join(d, "requests.log")
policy = os.path.join(a.source_dir, "samples", "policies", "latency.lua")
EVAL_S = 0.5      # the policy's every(500)
PERIOD_S = 0.1    # policy.period_ms
SLACK_S = 0.6     # scheduling on a loaded 2-CPU machine

host = subprocess.Popen(
    [a.embprof_run, "--policy", policy, "--socket", sock,
     "--set", "output.dir=" + out, "--set", "log.level=info",
     t.workload("latency.py"), reqlog, "2", "9", "4"],
    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

# Subscribe to the event stream, recording when each line arrived.
events = []
deadline = time.time() + 20
while not os.path.exists(sock) and time.time() < deadline:
    time.sleep(0.02)
t.check(os.path.exists(sock), "no socket")
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
f = s.makefile("rw", encoding="utf-8")
f.write("subscribe\n")
f.flush()
t.check(json.loads(f.readline())["ok"], "subscribe failed")


def reader():
    for line in f:
        try:
            events.append((time.time(), json.loads(line)))
        except ValueError:
            pass


threading.Thread(target=reader, daemon=True).start()
try:
    output, _ = host.communicate(timeout=90)
except subprocess.TimeoutExpired:
    host.kill()
    t.fail("host did not finish")
print(output[-3000:])
t.check(host.returncode == 0, "host exit %d" % host.returncode)
t.check("Sanitizer" not in output, "sanitizer report")

# When did the p99 over the last 10 s (at least 20 requests) cross
# 200 ms? Computed exactly from the request log.
reqs = []
spike_at = None
for line in open(reqlog):
    parts = line.split()
    if parts[1] == "req":
        reqs.append((float(parts[0]), float(parts[2])))
    elif parts[1] == "spike":
        spike_at = float(parts[0])
t.check(spike_at is not None, "the workload never spiked")
crossed = None
for i, (ts, _) in enumerate(reqs):
    win = sorted(ms for (tt, ms) in reqs[:i + 1] if tt > ts - 10)
    if len(win) >= 20 and win[math.ceil(0.99 * len(win)) - 1] > 200:
        crossed = ts
        break
t.check(crossed is not None, "p99 never crossed 200 ms")

started = [(ts, e) for ts, e in events
           if e.get("event") == "probe_started"]
t.check(started, "the sampler never started; events: %r" % events[:20])
delay = started[0][0] - crossed
print("p99 crossed at +%.2f s after the spike; sampler started %.2f s "
      "later" % (crossed - spike_at, delay))
t.check(started[0][1].get("rate") == 1000, started[0])
t.check(-0.05 <= delay <= EVAL_S + PERIOD_S + SLACK_S,
        "sampler started %.2f s after p99 crossed (evaluation period %.1f "
        "s)" % (delay, EVAL_S))
t.check(len(started) == 1, "the sampler started %d times" % len(started))

# One profile, with the slow function in it.
files = sorted(os.listdir(out))
profiles = [x for x in files if x.startswith("latency-")]
t.check(len(profiles) == 1, "expected one profile, got %r" % files)
stacks = t.read_collapsed(os.path.join(out, profiles[0]))
slow = sum(c for _, frames, c in stacks
           if any(t.func_of(fr) == "latency_slow_function" for fr in frames))
total = sum(c for _, _, c in stacks)
print("profile %s: %d samples, %d in latency_slow_function"
      % (profiles[0], total, slow))
t.check(total > 0 and slow / total > 0.5,
        "latency_slow_function has %d of %d samples" % (slow, total))

# The cooldown refused a second start for the same incident (the p99
# stayed above 200 ms after the first profile).
refused = [e for _, e in events if e.get("event") == "policy_action" and
           e.get("ok") is False and "cooldown" in e.get("error", "")]
t.check(refused, "no refusal by the cooldown; events: %r"
        % [e for _, e in events][:40])
exported = [e for _, e in events if e.get("event") == "export_written"]
t.check(len(exported) == 1, "exports: %r" % exported)
print("ok")
