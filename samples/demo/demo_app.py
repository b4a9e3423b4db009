"""A small "web service" for the embprof demo: a load generator feeds
requests to a pool of worker threads for about five seconds.

  /render   CPU-heavy: builds an HTML page from rows (string work)
  /search   CPU-heavy: scores documents against query terms (arithmetic)
  /fetch    I/O-ish: waits on a slow backend (sleeps, the GIL is free)
  /report   allocating: builds many small records, sums and serialises a summary

Profile it with

  build/embprof-run -o demo.speedscope.json samples/demo/demo_app.py

or run it with any python3: it only uses the standard library.
DEMO_SECONDS=N in the environment changes how long it runs.
"""
import json
import os
import queue
import random
import threading
import time

DURATION = float(os.environ.get("DEMO_SECONDS", "5"))
WORKERS = 3


# --- routes ----------------------------------------------------------------

def render_row(i):
    return "<tr><td>%d</td><td>%s</td></tr>" % (i, "x" * (i % 17))


def render_page(n):
    rows = [render_row(i) for i in range(n)]
    return "<table>" + "".join(rows) + "</table>"


def score(doc, terms):
    s = 0.0
    for t in terms:
        for i, c in enumerate(doc):
            if c == t:
                s += 1.0 / (i + 1)
    return s


def search(rnd, terms):
    docs = ["".join(rnd.choice("abcdefgh") for _ in range(200))
            for _ in range(20)]
    return max(docs, key=lambda d: score(d, terms))


def fetch_backend():
    time.sleep(0.02)  # a slow database or HTTP backend
    return b"ok"


def make_records(rnd, n):
    return [{"id": i, "name": "item-%d" % i, "tags": [rnd.random() for _ in range(8)],
             "attrs": {"k%d" % j: j for j in range(6)}}
            for i in range(n)]


def report(rnd):
    records = make_records(rnd, 300)
    totals = {}
    for r in records:
        for k, v in r["attrs"].items():
            totals[k] = totals.get(k, 0) + v
    return json.dumps({"count": len(records), "totals": totals,
                       "first": records[:10]})


# --- the server ------------------------------------------------------------

def handle(route, rnd):
    if route == "/render":
        return render_page(3000)
    if route == "/search":
        return search(rnd, "abc")
    if route == "/fetch":
        return fetch_backend()
    if route == "/report":
        return report(rnd)
    raise KeyError(route)


def worker(q, counts, lock, seed):
    rnd = random.Random(seed)
    while True:
        route = q.get()
        if route is None:
            return
        handle(route, rnd)
        with lock:
            counts[route] = counts.get(route, 0) + 1


def load_generator(q, end):
    rnd = random.Random(7)
    routes = ["/render", "/search", "/fetch", "/report"]
    while time.monotonic() < end:
        q.put(rnd.choice(routes))


def main():
    q = queue.Queue(maxsize=32)
    counts, lock = {}, threading.Lock()
    workers = [threading.Thread(target=worker, args=(q, counts, lock, i),
                                name="worker-%d" % i) for i in range(WORKERS)]
    for w in workers:
        w.start()
    load_generator(q, time.monotonic() + DURATION)
    for _ in workers:
        q.put(None)
    for w in workers:
        w.join()
    print("demo_app: handled %d requests in %.0f s: %s"
          % (sum(counts.values()), DURATION,
             ", ".join("%s %d" % kv for kv in sorted(counts.items()))))


if __name__ == "__main__":
    main()
