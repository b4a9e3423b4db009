"""A GIL convoy: four CPU-bound Python threads and one latency-sensitive
thread that sleeps 1 ms in a loop and needs the GIL back each time.

argv[1]: iterations of the latency thread (default 150).
"""
import sys
import threading
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 150
stop = False


def hog_spin():
    x = 0
    while not stop:
        for i in range(1000):
            x += i * i
    return x


def hog():
    hog_spin()


def latency_tick():
    time.sleep(0.001)
    return sum(range(50))


def latency():
    for _ in range(N):
        latency_tick()


hogs = [threading.Thread(target=hog, name="hog-%d" % i) for i in range(4)]
lat = threading.Thread(target=latency, name="latency")
for t in hogs:
    t.start()
lat.start()
# The main thread stays in Python (not in join) so that embprof's pending
# call can read the threads' names while they live.
while lat.is_alive():
    time.sleep(0.02)
stop = True
for t in hogs:
    t.join()
