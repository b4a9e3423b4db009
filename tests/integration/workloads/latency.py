"""A request loop with a latency incident, for the latency policy test.

Normal requests take ~5 ms (20 a second). From NORMAL_S on, every request
runs latency_slow_function, a 300 ms busy loop, for SPIKE_S seconds; then
requests are fast again until the end. Each request is timed with
`with embprof.span("request_ms")`. Writes one line per phase change and
per request to argv[1]: "TIME spike|calm|req MS" (time.time()).
"""
import sys
import time

import embprof

log = open(sys.argv[1], "w", buffering=1)
NORMAL_S = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
SPIKE_S = float(sys.argv[3]) if len(sys.argv) > 3 else 9.0
AFTER_S = float(sys.argv[4]) if len(sys.argv) > 4 else 4.0


def busy(seconds):
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1
    return x


def latency_fast_function():
    busy(0.005)


def latency_slow_function():
    busy(0.300)


def request(slow):
    with embprof.span("request_ms"):
        t0 = time.perf_counter()
        if slow:
            latency_slow_function()
        else:
            latency_fast_function()
    log.write("%.6f req %.3f\n" % (time.time(),
                                   (time.perf_counter() - t0) * 1e3))


start = time.time()
phase = "calm"
while True:
    t = time.time() - start
    if t > NORMAL_S + SPIKE_S + AFTER_S:
        break
    slow = NORMAL_S <= t < NORMAL_S + SPIKE_S
    want = "spike" if slow else "calm"
    if want != phase:
        phase = want
        log.write("%.6f %s\n" % (time.time(), phase))
    request(slow)
    if not slow:
        time.sleep(0.045)
log.write("%.6f end\n" % time.time())
