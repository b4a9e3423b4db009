"""Functions a, b and c are busy 60, 30 and 10 % of the time, in
interleaved 60/30/10 ms slices, for about DURATION seconds. Slices are
measured in thread CPU time, so the split holds in CPU time too when the
machine is busy (a wall-clock slice would get whatever CPU the scheduler
left it)."""
import sys
import time

DURATION = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0


def busy(seconds):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        x += 1
    return x


def func_a():
    busy(0.060)


def func_b():
    busy(0.030)


def func_c():
    busy(0.010)


end = time.perf_counter() + DURATION
while time.perf_counter() < end:
    func_a()
    func_b()
    func_c()
