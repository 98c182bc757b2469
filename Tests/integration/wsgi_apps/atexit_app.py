"""Registers an atexit handler: a graceful stop finalises Python, which runs it."""
import atexit
import os

PATH = os.environ["GATEWAYD_TEST_ATEXIT"]


@atexit.register
def goodbye():
    with open(PATH, "a") as f:
        f.write("atexit %d\n" % os.getpid())


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
