"""Game logic of the frame_loop sample.

The C++ host (frame_loop.cpp) imports this module, calls configure() and
start() once, then update(dt) every frame from its 60 Hz loop, and stop()
at the end. start() runs a Python background thread, as games do for
asset streaming, which competes with the frame loop for the GIL.

Every `spike_every`-th frame, update() rebuilds the navigation mesh and
takes `spike_ms` milliseconds: those are the frames over the 16.7 ms
budget that frame_budget.lua profiles. The functions have distinct names
so each shows up on its own in a profile.
"""
import math
import threading
import time

_config = {"spike_every": 30, "spike_ms": 25.0, "physics_ms": 2.0}
_world = {"frame": 0, "entities": [[float(i), 0.0, 1.0, 0.5]
                                   for i in range(200)]}
_background = {"thread": None, "stop": threading.Event(), "chunks": 0}


def configure(spike_every, spike_ms):
    """Every spike_every-th frame takes spike_ms (0: never)."""
    _config["spike_every"] = int(spike_every)
    _config["spike_ms"] = float(spike_ms)


# --- the frame ----------------------------------------------------------------

def step_physics(dt, budget_ms):
    """Moves the entities; repeats the step to fill about budget_ms."""
    end = time.perf_counter() + budget_ms / 1000.0
    entities = _world["entities"]
    while True:
        for e in entities:
            e[2] -= 9.81 * dt
            e[0] += e[2] * dt
            e[1] += e[3] * dt
            if e[0] < 0.0:
                e[0], e[2] = -e[0], -e[2] * 0.9
        if time.perf_counter() >= end:
            return


def rebuild_navmesh(ms):
    """The slow part of a spike frame: recomputes a grid of path costs."""
    end = time.perf_counter() + ms / 1000.0
    size, cells = 48, 0
    while time.perf_counter() < end:
        grid = [[math.hypot(x - size / 2, y - size / 2) for x in range(size)]
                for y in range(size)]
        cells += sum(len(row) for row in grid)
    return cells


def update(dt):
    """Called by the host once per frame with the frame's delta time."""
    _world["frame"] += 1
    step_physics(dt, _config["physics_ms"])
    every = _config["spike_every"]
    if every > 0 and _world["frame"] % every == 0:
        rebuild_navmesh(_config["spike_ms"])
    return _world["frame"]


# --- the Python background thread ----------------------------------------------

def decompress_chunk():
    """CPU work of the asset streamer: about 1 ms of arithmetic."""
    acc = 0
    for i in range(4000):
        acc = (acc * 31 + i) & 0xFFFFFFFF
    return acc


def stream_assets(stop):
    try:
        import embprof  # the host's module: name this thread in profiles
        embprof.thread_name(threading.current_thread().name)
    except ImportError:  # run outside an embprof host
        pass
    while not stop.is_set():
        decompress_chunk()
        _background["chunks"] += 1
        stop.wait(0.004)  # waits for the disk; the GIL is free meanwhile


def start():
    """Starts the background asset streamer (a Python thread)."""
    _background["stop"].clear()
    t = threading.Thread(target=stream_assets, args=(_background["stop"],),
                         name="asset-streamer", daemon=True)
    _background["thread"] = t
    t.start()


def stop():
    """Stops the streamer; returns how many chunks it decompressed."""
    _background["stop"].set()
    if _background["thread"] is not None:
        _background["thread"].join()
    return _background["chunks"]
