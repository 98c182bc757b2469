"""WSGI apps under `--threads`, through the real gatewayd: several requests
at once in one worker, wsgi.multithread, a timeout that interrupts one
request while the worker's other threads keep serving, the refusal of an
app that does not declare itself thread-safe.

Which need the worker's threaded event loop (Sources/ServerCore/Worker,
being rewritten): the tests marked `needs_loop` fail until gatewayd runs a
worker's requests concurrently and calls gateway_interrupt on a timeout.
The others need only the contract (commit 8c254e6: the threads key,
gateway_init.threads, AppLoader's refusal). The loader's side of all of
this is tested in process in test_loader_threads.py."""
import os
import subprocess
import threading
import time

import pytest

from conftest import APPS, ROOT, Client, readable_by_others

HERE = os.path.dirname(os.path.abspath(__file__))
WSGI_APPS = os.path.join(HERE, "wsgi_apps")
WSGI_SO = os.environ.get("GATEWAYD_WSGI_SO") or os.path.join(APPS, "wsgi.so")

def needs_loop(test):
    """Marks (for the reader) a test that needs the threaded event loop."""
    return test


def _python_dirs():
    import sys
    return [sys.base_prefix]


WORKERS_AS_ROOT = os.geteuid() == 0 and not all(readable_by_others(d) for d in _python_dirs() + [WSGI_APPS])


@pytest.fixture
def wsgi(gatewayd):
    def start(app="threaded:application", **settings):
        args = {"app": app, "pythonpath": [WSGI_APPS]}
        if WORKERS_AS_ROOT:
            settings.setdefault("allow_root", True)
        return gatewayd(app=WSGI_SO, app_args=args, **settings)
    return start


def get(port, path, timeout=30):
    with Client(port, timeout=timeout) as c:
        return c.request(path=path)


def at_once(port, paths, timeout=30):
    """Sends each path on a connection of its own, all at once; returns
    [(response, seconds)] in the order given."""
    out = [None] * len(paths)
    start = threading.Barrier(len(paths))

    def one(i):
        start.wait()
        t = time.time()
        r = get(port, paths[i], timeout)
        out[i] = (r, time.time() - t)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(paths))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_threads_default_to_one_and_multithread_is_false(wsgi):
    s = wsgi(workers=1)
    assert get(s.port, "/flags").body.startswith(b"multithread=0 ")


def test_multithread_is_true_with_threads(wsgi):
    s = wsgi(workers=1, threads=4)
    assert get(s.port, "/flags").body.startswith(b"multithread=1 ")


@needs_loop
def test_four_sleeping_requests_in_one_worker_take_the_time_of_one(wsgi):
    s = wsgi(workers=1, threads=4)
    t = time.time()
    got = at_once(s.port, ["/sleep?seconds=1"] * 4)
    assert [(r.status, r.body) for r, _ in got] == [(200, b"slept 1")] * 4
    assert time.time() - t < 1.9, [round(x, 2) for _, x in got]


@needs_loop
def test_requests_beyond_threads_wait_for_a_thread(wsgi):
    s = wsgi(workers=1, threads=2)
    t = time.time()
    got = at_once(s.port, ["/sleep?seconds=1"] * 4)
    assert [r.status for r, _ in got] == [200] * 4
    assert 1.9 < time.time() - t < 2.9   # two rounds of two


def test_a_burst_of_connections_spreads_over_the_workers(wsgi):
    # A worker whose threads are all busy stops accepting (Puma's rule), so
    # 16 connections at once on 2 workers x 4 threads go half to each, not
    # all to the one that woke first (kept alive there, its sibling idle).
    s = wsgi(workers=2, threads=4)
    got = at_once(s.port, ["/nap-pid?seconds=0.5"] * 16)
    pids = [r.body for r, _ in got]
    assert all(p.startswith(b"pid=") for p in pids), pids
    counts = sorted(pids.count(p) for p in set(pids))
    assert len(counts) == 2 and counts[0] >= 4, counts


@needs_loop
@pytest.mark.parametrize("stuck", ["/spin", "/sleep?seconds=30"])
def test_timeout_interrupts_one_request_and_the_worker_keeps_serving(wsgi, stuck):
    s = wsgi(workers=1, threads=2, timeout=2)
    pid = get(s.port, "/flags").body.split(b"pid=")[1]
    result = {}

    def stuck_request():
        t = time.time()
        result["r"] = get(s.port, stuck)
        result["t"] = time.time() - t

    th = threading.Thread(target=stuck_request)
    th.start()
    time.sleep(0.3)
    # the other thread serves meanwhile
    assert get(s.port, "/sleep?seconds=0.5").body == b"slept 0.5"
    th.join(10)
    assert result["r"].status == 504 and result["t"] < 6, result
    s.wait_log("interrupted by the server's timeout", timeout=5)
    log = s.log()
    assert f"GET {stuck} interrupted by the server's timeout: gatewayd.RequestTimeout" in log
    # the same worker, both threads usable again
    got = at_once(s.port, ["/flags", "/flags"])
    assert {r.body.split(b"pid=")[1] for r, _ in got} == {pid}


def test_a_c_app_without_the_flag_is_refused_with_threads(gatewayd, workdir):
    src = os.path.join(workdir, "plain.c")
    so = os.path.join(workdir, "plain.so")
    with open(src, "w") as f:
        f.write('#include <gateway.h>\n'
                'static int call(gateway_request *r) { r->api->start_response(r, "200 OK", 0, 0, 0);'
                ' return r->api->write_last(r, "x", 1); }\n'
                'static const gateway_app_descriptor d = { GATEWAY_ABI_VERSION, 0, "plain", 0, call, 0 };\n'
                'GATEWAY_EXPORT_APP(d)\n')
    subprocess.run(["cc", "-shared", "-fPIC", "-I", os.path.join(ROOT, "Sources", "CGateway", "include"),
                    "-o", so, src], check=True)
    os.chmod(so, 0o755)
    s = gatewayd(app=so, workers=1, threads=2, start=False)
    s.start(wait=False)
    assert s.wait_exit(timeout=20) == 3
    assert "does not declare that it may be called from several threads" in s.log()
    # the same app with threads = 1 serves
    s = gatewayd(app=so, workers=1)
    assert get(s.port, "/").body == b"x"
