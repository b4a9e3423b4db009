"""A long-running host workload for the control tests: spins in a known
function, writes a progress counter to argv[1] every ~50 ms, and exits when
the file argv[2] appears (or after 60 s)."""
import os
import sys
import time

progress, stop = sys.argv[1], sys.argv[2]


def control_test_busy_function():
    x = 0
    end = time.perf_counter() + 0.05
    while time.perf_counter() < end:
        x += 1
    return x


n = 0
deadline = time.time() + 60
while not os.path.exists(stop) and time.time() < deadline:
    control_test_busy_function()
    n += 1
    with open(progress + ".tmp", "w") as f:
        f.write(str(n))
    os.replace(progress + ".tmp", progress)
