"""For the loader's threads (test_loader_threads.py, test_threads_wsgi.py):
/sleep?seconds=S sleeps in time.sleep (/nap-pid?seconds=S too, then
answers the worker's pid), /spin loops in Python forever,
/sleep-caught sleeps and swallows whatever interrupts it,
/timeout-class names gatewayd.RequestTimeout, /flags answers
wsgi.multithread, the thread's ident and the pid, anything else says hello."""
import os
import threading
import time
from urllib.parse import parse_qs


def spin():
    while True:
        pass


def application(environ, start_response):
    path = environ["PATH_INFO"]
    q = parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/sleep":
        seconds = float(q.get("seconds", ["1"])[0])
        time.sleep(seconds)
        body = b"slept %g" % seconds
    elif path == "/nap-pid":
        seconds = float(q.get("seconds", ["1"])[0])
        time.sleep(seconds)
        body = b"pid=%d" % os.getpid()
    elif path == "/spin":
        spin()
        body = b"unreachable"
    elif path == "/sleep-caught":
        try:
            time.sleep(30)
        except BaseException:
            pass
        body = b"caught"
    elif path == "/timeout-class":
        from gatewayd import RequestTimeout
        body = b"%s.%s exception=%d" % (RequestTimeout.__module__.encode(), RequestTimeout.__name__.encode(),
                                         issubclass(RequestTimeout, Exception))
    elif path == "/flags":
        body = b"multithread=%r ident=%d pid=%d" % (environ["wsgi.multithread"], threading.get_ident(),
                                                   os.getpid())
        body = body.replace(b"True", b"1").replace(b"False", b"0")
    else:
        body = b"Hello, World!"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
