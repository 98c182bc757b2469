"""A background thread started at import: it must keep running while the
worker waits for requests (the loader releases the GIL between requests)."""
import threading
import time

TICKS = [0]


def tick():
    while True:
        TICKS[0] += 1
        time.sleep(0.01)


threading.Thread(target=tick, daemon=True).start()


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(TICKS[0]).encode()]
