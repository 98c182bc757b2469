"""An app that gets stuck where a stack dump can find it: /sleep?seconds=S
in stuck_in_sleep (time.sleep), with a second thread parked in
background_waiter so the dump shows every thread."""
import threading
import time
from urllib.parse import parse_qs

_parked = threading.Event()


def background_waiter():
    _parked.wait()


threading.Thread(target=background_waiter, name="waiter", daemon=True).start()


def stuck_in_sleep(seconds):
    time.sleep(seconds)
    return b"slept"


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    if environ["PATH_INFO"] == "/sleep":
        body = stuck_in_sleep(float(q.get("seconds", ["1"])[0]))
    else:
        body = b"ok"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
