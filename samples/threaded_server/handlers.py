"""Request handlers of the threaded_server sample.

The C host (server.c) imports this module once, looks every route up in
ROUTES, and calls the route's function from its native worker threads
through embprof_gil_ensure/embprof_gil_release:

    body = ROUTES[path](query)

`query` is the request's query string ("n=20000&ms=5", "" when none). A
route returns str or bytes (the response body). An exception becomes a
"500" reply; the host prints its traceback and keeps serving.

The functions have distinct names so each shows up on its own in a
profile: crunch_primes (CPU), slow_backend (I/O), build_records (memory).
"""
import json
import os
import tempfile
import time
from urllib.parse import parse_qs


def _arg(query, name, default):
    """The integer parameter `name` of the query string, or `default`."""
    values = parse_qs(query).get(name)
    return int(values[0]) if values else default


# --- /cpu: CPU-heavy --------------------------------------------------------

def crunch_primes(limit):
    """Counts primes below limit by trial division (pure Python work)."""
    count = 0
    for n in range(2, limit):
        d = 2
        while d * d <= n:
            if n % d == 0:
                break
            d += 1
        else:
            count += 1
    return count


def cpu_route(query):
    n = _arg(query, "n", 20000)
    return "primes below %d: %d\n" % (n, crunch_primes(n))


# --- /io: waits, with the GIL released ---------------------------------------

def slow_backend(ms):
    """A slow database or HTTP backend: sleeps, then round-trips a file."""
    time.sleep(ms / 1000.0)
    with tempfile.TemporaryFile() as f:
        f.write(b"x" * 4096)
        f.flush()
        os.fsync(f.fileno())
        f.seek(0)
        return len(f.read())


def io_route(query):
    ms = _arg(query, "ms", 20)
    return "backend answered %d bytes after %d ms\n" % (slow_backend(ms), ms)


# --- /alloc: allocates many small objects -------------------------------------

def build_records(n):
    """Builds n small records (dicts, lists, strings), then summarises them."""
    records = [{"id": i, "name": "item-%d" % i,
                "tags": [float(i * j % 7) for j in range(8)],
                "attrs": {"k%d" % j: j * i for j in range(6)}}
               for i in range(n)]
    totals = {}
    for r in records:
        for k, v in r["attrs"].items():
            totals[k] = totals.get(k, 0) + v
    return {"count": len(records), "totals": totals}


def alloc_route(query):
    n = _arg(query, "n", 2000)
    return json.dumps(build_records(n)) + "\n"


# --- /error: a handler that raises ------------------------------------------

def error_route(query):
    raise ValueError("error_route fails on purpose (query %r)" % query)


ROUTES = {
    "/cpu": cpu_route,
    "/io": io_route,
    "/alloc": alloc_route,
    "/error": error_route,
}
