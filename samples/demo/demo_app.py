"""A small "service" for the embprof demo: a few worker threads handle
requests on three routes for about five seconds.

  /render   CPU-heavy: builds a page from a template (string work)
  /search   CPU-heavy: scores documents (arithmetic)
  /fetch    I/O-ish: waits on a slow backend (sleeps)

Profile it with:  build/embprof-run -o demo.speedscope.json samples/demo/demo_app.py
"""
import queue
import random
import threading
import time

DURATION = 5.0


def render_page(n):
    rows = []
    for i in range(n):
        rows.append("<tr><td>%d</td><td>%s</td></tr>" % (i, "x" * (i % 17)))
    return "<table>" + "".join(rows) + "</table>"


def score(doc, terms):
    s = 0.0
    for t in terms:
        for i, c in enumerate(doc):
            if c == t:
                s += 1.0 / (i + 1)
    return s


def search(terms):
    docs = ["".join(random.choice("abcdefgh") for _ in range(200))
            for _ in range(20)]
    return sorted(docs, key=lambda d: score(d, terms))[-1]


def fetch_backend():
    time.sleep(0.02)
    return b"ok"


ROUTES = {
    "/render": lambda: render_page(3000),
    "/search": lambda: search("abc"),
    "/fetch": fetch_backend,
}


def worker(q, counts):
    while True:
        route = q.get()
        if route is None:
            return
        ROUTES[route]()
        counts[route] = counts.get(route, 0) + 1


def main():
    q = queue.Queue(maxsize=64)
    counts = {}
    workers = [threading.Thread(target=worker, args=(q, counts),
                                name="worker-%d" % i) for i in range(3)]
    for w in workers:
        w.start()
    end = time.monotonic() + DURATION
    rnd = random.Random(7)
    while time.monotonic() < end:
        q.put(rnd.choice(list(ROUTES)))
    for _ in workers:
        q.put(None)
    for w in workers:
        w.join()
    print("handled", sum(counts.values()), "requests:", counts)


if __name__ == "__main__":
    main()
