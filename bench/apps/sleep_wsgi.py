"""The long I/O apps of `make bench` (workloads io_10ms_* and io_100ms_*):
each request waits W ms in time.sleep (as a call to another service or a
slow query would: the GIL is released, the thread is blocked), then answers
a small body. With N app threads per worker in all, a server can do at
most N / W requests a second; the benchmark compares each server with that
cap.

    sleep_10ms    time.sleep(0.010), then "slept 10 ms\\n"
    sleep_100ms   time.sleep(0.100), then "slept 100 ms\\n"
"""
import time


def _sleeper(ms):
    seconds = ms / 1000.0
    body = b"slept %d ms\n" % ms
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]

    def app(environ, start_response):
        time.sleep(seconds)
        start_response("200 OK", headers)
        return [body]

    return app


sleep_10ms = _sleeper(10)
sleep_100ms = _sleeper(100)
