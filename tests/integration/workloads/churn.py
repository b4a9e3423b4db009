"""50 threads start and end, staggered, each spinning ~50 ms."""
import threading
import time


def churn_worker(seconds):
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1


threads = []
for i in range(50):
    t = threading.Thread(target=churn_worker, args=(0.05,), name="churn-%d" % i)
    t.start()
    threads.append(t)
    time.sleep(0.02)
    if len(threads) > 8:
        threads.pop(0).join()
for t in threads:
    t.join()
