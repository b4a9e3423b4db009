"""A thread sits in a known function while the main thread asks embprof for
a dump of every thread's stack (written to sys.argv[1])."""
import sys
import threading
import time

import embprof

ready = threading.Event()
done = threading.Event()


def dump_target_function():
    ready.set()
    while not done.is_set():
        sum(range(1000))


t = threading.Thread(target=dump_target_function, name="DumpTarget")
t.start()
ready.wait()
time.sleep(0.05)
embprof.export(sys.argv[1], format="dump")
done.set()
t.join()
