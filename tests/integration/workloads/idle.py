"""A thread that only sleeps next to a main thread that spins."""
import threading
import time


def sleeping_thread_body():
    time.sleep(3.0)


def spinning_main():
    end = time.perf_counter() + 2.5
    x = 0
    while time.perf_counter() < end:
        x += 1


t = threading.Thread(target=sleeping_thread_body, name="Sleeper")
t.start()
spinning_main()
t.join()
