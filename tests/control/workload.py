"""A long-running host workload for the control tests.

Spins in a known function on the main thread and in a second Python
thread, writes a progress counter to argv[1] every ~20 ms, and exits when
the file argv[2] appears (or after 120 s). With argv[3] == "fork" it also
forks a child that exits normally through the interpreter (which runs
embprof's atexit hook in the child) while the parent goes on; with
"threads" it starts 200 more threads asleep 20 frames deep; with
"forklate" it forks when argv[1] + ".dofork" appears and the child sleeps
4 s before it exits.
"""
import os
import sys
import threading
import time

progress, stop = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else ""


def control_test_busy_function():
    x = 0
    end = time.perf_counter() + 0.02
    while time.perf_counter() < end:
        x += 1
    return x


def control_test_worker():
    while not os.path.exists(stop):
        control_test_busy_function()


threading.Thread(target=control_test_worker, name="ctl-worker",
                 daemon=True).start()

if mode == "threads":
    # 200 more threads, each asleep 20 frames deep: a big dump
    def control_test_deep(n):
        if n == 0:
            while not os.path.exists(stop):
                time.sleep(0.05)
            return
        control_test_deep(n - 1)

    for i in range(200):
        threading.Thread(target=control_test_deep, args=(20,),
                         name="deep-%d" % i, daemon=True).start()

if mode == "fork":
    pid = os.fork()
    if pid == 0:
        # The child: the control thread did not come along. Exit through
        # the interpreter (atexit hooks, finalize) without touching the
        # parent's socket.
        time.sleep(0.2)
        sys.exit(0)
    os.waitpid(pid, 0)
    with open(progress + ".forked", "w") as f:
        f.write(str(pid))

n = 0
deadline = time.time() + 120
while not os.path.exists(stop) and time.time() < deadline:
    control_test_busy_function()
    n += 1
    if mode == "forklate" and os.path.exists(progress + ".dofork"):
        # Forks once the test asks, while a client is connected; the
        # child outlives that connection by seconds.
        mode = ""
        pid = os.fork()
        if pid == 0:
            time.sleep(4)
            os._exit(0)
        with open(progress + ".forked", "w") as f:
            f.write(str(pid))
    with open(progress + ".tmp", "w") as f:
        f.write(str(n))
    os.replace(progress + ".tmp", progress)
