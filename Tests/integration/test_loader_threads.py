"""The apps under several app threads, in process, without gatewayd: what a
worker with `threads = N` will do (gateway.h: `call` from N threads at once,
gateway_init.threads = N), driven by Tests/harness/app_threads.c, a small
server behind gateway_api that calls the app from N threads and prints one
JSON line per request, log message and gateway_interrupt.

These need no new event loop: they test the apps' side of the contract
(the WSGI loader and the C examples), and the loader's gateway_interrupt.
Tests/integration/test_threads_wsgi.py does the same through gatewayd."""
import json
import os
import subprocess

import pytest

from conftest import APPS, ROOT, app_path

HERE = os.path.dirname(os.path.abspath(__file__))
WSGI_APPS = os.path.join(HERE, "wsgi_apps")
WSGI_SO = os.environ.get("GATEWAYD_WSGI_SO") or os.path.join(APPS, "wsgi.so")
SOURCE = os.path.join(ROOT, "Tests", "harness", "app_threads.c")
HARNESS = os.path.join(ROOT, "build", "app_threads")


@pytest.fixture(scope="session")
def harness():
    """build/app_threads, compiled when missing or older than its source."""
    if not os.path.exists(HARNESS) or os.path.getmtime(HARNESS) < os.path.getmtime(SOURCE):
        subprocess.run(["cc", "-O2", "-Wall", "-Werror", "-pthread", "-I",
                        os.path.join(ROOT, "Sources", "CGateway", "include"), "-o", HARNESS,
                        SOURCE, "-ldl"], check=True)
    return HARNESS


class Run:
    def __init__(self, out):
        lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
        self.requests = [x for x in lines if "thread" in x and "rc" in x]
        self.logs = [x for x in lines if "log" in x]
        self.interrupts = [x for x in lines if "interrupt" in x]
        self.elapsed = next(x["elapsed_ms"] for x in lines if "elapsed_ms" in x) / 1000

    def at(self, path):
        return [r for r in self.requests if r["path"] == path]


def run(harness, app, *options, args=(), timeout=60):
    cmd = [harness, app]
    for a in args:
        cmd += ["--arg", a]
    cmd += [str(o) for o in options]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr
    return Run(p.stdout)


def wsgi(harness, app, *options, timeout=60):
    return run(harness, WSGI_SO, *options, args=(f"app={app}", f"pythonpath={WSGI_APPS}"),
               timeout=timeout)


# ---------------------------------------------------------------- the loader

def test_wsgi_four_sleeping_calls_take_the_time_of_one(harness):
    r = wsgi(harness, "threaded:application", "--threads", 4, "--path", "/sleep?seconds=1")
    assert [(x["rc"], x["status"], x["body"]) for x in r.requests] == [(0, "200 OK", "slept 1")] * 4
    # each call releases the GIL while it sleeps: about 1 s, not 4
    assert r.elapsed < 1.8, r.elapsed


@pytest.mark.parametrize("init_threads, expected", [(1, "0"), (4, "1"), (0, "0")])
def test_wsgi_multithread_follows_gateway_init_threads(harness, init_threads, expected):
    # 0: a server from before gateway_init.threads, which means 1
    r = wsgi(harness, "threaded:application", "--threads", 1, "--init-threads", init_threads,
             "--path", "/flags")
    assert r.requests[0]["body"].startswith(f"multithread={expected} "), r.requests


def test_wsgi_many_requests_from_four_threads(harness):
    """PEP 3333's checker around every call, 4 threads hammering: each
    thread's environ, input, start_response and wsgi.errors are its own."""
    r = wsgi(harness, "validated:application", "--threads", 4, "--requests", 2000,
             "--path", "/environ?a=1")
    assert len(r.requests) == 8000
    assert {(x["rc"], x["status"]) for x in r.requests} == {(0, "200 OK")}
    for x in r.requests:
        env = json.loads(x["body"])
        assert env["QUERY_STRING"] == "a=1" and env["types"]["wsgi.multithread"] is True
        # REMOTE_PORT is the harness thread's: no other thread's environ leaked in
        assert env["REMOTE_PORT"] == str(40000 + x["thread"])
    assert not [l for l in r.logs if "Error" in l["log"] or "Warning" in l["log"]], r.logs


def test_interrupt_stops_a_python_loop(harness):
    r = wsgi(harness, "threaded:application", "--threads", 2, "--path", "/spin",
             "--interrupt-after", 300, "--then", "/flags")
    assert [x["interrupt"] for x in r.interrupts] == [1, 1]
    assert [(x["rc"], x["status"]) for x in r.at("/spin")] == [(-1, "")] * 2
    lines = [l for l in r.logs if "interrupted" in l["log"]]
    assert len(lines) == 2, r.logs
    assert all(l["request"] and "GET /spin" in l["log"] and "gatewayd.RequestTimeout" in l["log"]
               and "threaded.py" in l["log"] and "\n" not in l["log"] for l in lines), lines
    # no traceback: one line each, and the loader keeps serving on both threads
    assert not [l for l in r.logs if "Traceback" in l["log"]]
    assert [x["status"] for x in r.at("/flags")] == ["200 OK"] * 2
    assert r.elapsed < 5


def test_interrupt_wakes_time_sleep(harness):
    r = wsgi(harness, "threaded:application", "--threads", 3, "--path", "/sleep?seconds=30",
             "--interrupt-after", 300, "--then", "/flags", timeout=20)
    assert [x["interrupt"] for x in r.interrupts] == [1, 1, 1]
    assert [x["rc"] for x in r.at("/sleep?seconds=30")] == [-1] * 3
    assert len([l for l in r.logs if "GET /sleep?seconds=30 interrupted" in l["log"]]) == 3
    assert [x["status"] for x in r.at("/flags")] == ["200 OK"] * 3
    assert r.elapsed < 5, r.elapsed


def test_interrupt_the_app_swallows_still_fails_the_call(harness):
    r = wsgi(harness, "threaded:application", "--threads", 1, "--path", "/sleep-caught",
             "--interrupt-after", 300, "--then", "/flags")
    assert r.at("/sleep-caught")[0]["rc"] == -1
    assert [l for l in r.logs if "caught gatewayd.RequestTimeout" in l["log"]], r.logs
    # nothing pending leaks into the thread's next request
    assert r.at("/flags")[0]["rc"] == 0


def test_request_timeout_is_importable_and_not_an_exception(harness):
    r = wsgi(harness, "threaded:application", "--path", "/timeout-class")
    assert r.requests[0]["body"] == "gatewayd.RequestTimeout exception=0"


def test_interrupt_outside_a_call_is_0(harness):
    r = wsgi(harness, "threaded:application", "--threads", 2, "--path", "/flags",
             "--interrupt-after", 200, "--then", "/flags")
    assert [x["interrupt"] for x in r.interrupts] == [0, 0]
    assert {x["rc"] for x in r.requests} == {0}


# ---------------------------------------------------------- the C examples

@pytest.mark.parametrize("name", ["hello-c", "testapp", "hostile"])
def test_c_examples_declare_thread_safe(harness, name):
    # the harness refuses threads > 1 without GATEWAY_APP_THREAD_SAFE, as a worker does
    r = run(harness, app_path(name), "--threads", 2)
    assert len(r.requests) == 2


def test_testapp_sleeps_on_four_threads_at_once(harness):
    r = run(harness, app_path("testapp"), "--threads", 4, "--path", "/sleep?seconds=1")
    assert [(x["rc"], x["body"]) for x in r.requests] == [(0, "slept 1")] * 4
    assert r.elapsed < 1.8, r.elapsed
    r = run(harness, app_path("testapp"), "--threads", 4, "--path", "/leak?mb=1", "--requests", 5)
    assert {x["body"] for x in r.requests} == {"leaked 1 MB"}
