"""Short-lived named threads that start and end while the main thread
sits in join(): embprof sees no start, stop or export in between, so each
thread must name itself as it starts."""
import threading
import time


def short_lived_worker():
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:
        pass


threads = [threading.Thread(target=short_lived_worker, name="short-%d" % i)
           for i in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
