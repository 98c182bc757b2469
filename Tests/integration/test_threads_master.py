"""App threads per worker (threads = N), the master's side: /status and
/metrics per thread, a timed-out request of one thread among several, a
worker killed with requests in flight on several threads.

The tests with threads > 1 need the threaded worker loop (one request per
app thread) and a testapp that declares GATEWAY_APP_THREAD_SAFE; until both
are on the branch they fail at boot (the worker refuses a thread-unsafe app)
or find one busy thread where they expect several. The threads = 1 and
config tests pass on the master side alone."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

from conftest import GATEWAYD, Client, app_path, free_port, get, read_response, wait_until
from test_observability import GATEWAYCTL, UnixHTTP, get as admin_get, samples, total


def admin_server(gatewayd, workdir, **settings):
    aport = free_port()
    sock = os.path.join(workdir, "admin.sock")
    s = gatewayd(admin_bind=[f"127.0.0.1:{aport}", f"unix:{sock}"], **settings)
    return s, sock


def status_of(sock):
    code, _, body = admin_get(UnixHTTP(sock), "GET", "/status")
    assert code == 200
    return json.loads(body)


def metrics_of(sock):
    code, _, body = admin_get(UnixHTTP(sock), "GET", "/metrics")
    assert code == 200
    return samples(body)


class InFlight:
    """Requests sent each on its own connection, answered in threads: the
    status (or the error: a reset, EOF) of each, never a hang."""

    def __init__(self, port, paths, timeout=20):
        self.results = [None] * len(paths)
        self.threads = [threading.Thread(target=self.one, args=(i, port, p, timeout), daemon=True)
                        for i, p in enumerate(paths)]
        for t in self.threads:
            t.start()

    def one(self, i, port, path, timeout):
        started = time.time()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
                r = read_response(sock.makefile("rb"))
                self.results[i] = (r.status, time.time() - started)
        except socket.timeout:
            self.results[i] = ("hang", time.time() - started)
        except Exception as e:  # reset, EOF before a response
            self.results[i] = (type(e).__name__, time.time() - started)

    def join(self, timeout=30):
        for t in self.threads:
            t.join(timeout)
        return self.results


# MARK: master side alone (pass without the threaded loop)

def test_threads_1_status_and_metrics_have_one_thread_per_worker(gatewayd, workdir):
    s, sock = admin_server(gatewayd, workdir, workers=2)
    st = status_of(sock)
    assert st["threads"] == 1 and st["threads_total"] == 2 and st["threads_busy"] == 0 and st["queued"] == 0
    for w in st["workers"]:
        assert w["threads"] == 1 and w["busy_threads"] == 0 and w["queued"] == 0
        assert [t["index"] for t in w["app_threads"]] == [0]
        assert w["app_threads"][0]["state"] == "idle" and w["app_threads"][0]["request"] is None
    slow = socket.create_connection(("127.0.0.1", s.port))
    slow.sendall(b"GET /sleep?seconds=2 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)
    busy = [w for w in status_of(sock)["workers"] if w["state"] == "busy"]
    assert len(busy) == 1 and busy[0]["busy_threads"] == 1
    [t] = busy[0]["app_threads"]
    assert t["state"] == "busy" and t["request"]["path"].startswith("/sleep") and t["since"] > 0.2
    m = metrics_of(sock)
    assert m["gatewayd_app_threads"] == 2 and m["gatewayd_app_threads_busy"] == 1
    assert m["gatewayd_requests_in_flight"] == 1 and m["gatewayd_requests_queued"] == 0
    assert m['gatewayd_request_queue_wait_seconds_bucket{le="+Inf"}'] == m["gatewayd_request_queue_wait_seconds_count"]
    r = subprocess.run([GATEWAYCTL, "--socket", "unix:" + sock, "status"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and "THREADS" in r.stdout and "1/1" in r.stdout and "0/1" in r.stdout, r.stdout
    slow.close()


def test_threads_times_workers_above_the_scoreboard_is_refused(workdir):
    conf = os.path.join(workdir, "big.conf")
    with open(conf, "w") as f:
        f.write(f'app = "{app_path("testapp")}"\nworkers = 600\nthreads = 8\n')
    r = subprocess.run([GATEWAYD, "--check-config", "-c", conf], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    out = r.stdout + r.stderr
    assert "threads" in out and "max_workers" in out and "4800 app threads" in out and "4096" in out, out


# MARK: threads = 4 (need the threaded loop and a thread-safe testapp)

def test_status_and_metrics_show_each_busy_thread_and_the_queue(gatewayd, workdir):
    s, sock = admin_server(gatewayd, workdir, workers=1, threads=4)
    first = InFlight(s.port, [f"/sleep?seconds=3&n={i}" for i in range(3)])
    time.sleep(0.8)
    st = status_of(sock)
    assert st["threads"] == 4 and st["threads_total"] == 4 and st["threads_busy"] == 3
    [w] = st["workers"]
    assert w["state"] == "busy" and w["threads"] == 4 and w["busy_threads"] == 3
    assert [t["index"] for t in w["app_threads"]] == [0, 1, 2, 3]
    busy = [t for t in w["app_threads"] if t["state"] == "busy"]
    assert len(busy) == 3
    assert sorted(t["request"]["path"] for t in busy) == [f"/sleep?seconds=3&n={i}" for i in range(3)]
    assert all(t["since"] > 0.3 for t in busy)
    m = metrics_of(sock)
    assert m["gatewayd_app_threads"] == 4 and m["gatewayd_app_threads_busy"] == 3
    assert m["gatewayd_requests_in_flight"] == 3
    assert total(m, "gatewayd_workers", state="busy") == 1
    r = subprocess.run([GATEWAYCTL, "--socket", "unix:" + sock, "status"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and "3/4" in r.stdout, r.stdout
    # three more: one takes the last thread; the other two wait, in the
    # worker's queue (gatewayd_requests_queued) or, while every thread is
    # busy and the worker stops accepting, in the listen queue
    more = InFlight(s.port, [f"/sleep?seconds=2&m={i}" for i in range(3)])
    time.sleep(0.8)
    st = status_of(sock)
    assert st["threads_busy"] == 4
    assert st["queued"] == st["workers"][0]["queued"]
    assert st["queued"] + st["listeners"][0]["queue_length"] == 2, st
    m = metrics_of(sock)
    assert m["gatewayd_app_threads_busy"] == 4 and m["gatewayd_requests_queued"] == st["queued"]
    assert all(r[0] == 200 for r in first.join() + more.join())
    m = metrics_of(sock)
    assert m["gatewayd_requests_queued"] == 0
    assert m["gatewayd_request_queue_wait_seconds_count"] >= 6
    assert m['gatewayd_request_queue_wait_seconds_bucket{le="+Inf"}'] == m["gatewayd_request_queue_wait_seconds_count"]


def test_a_timed_out_thread_gets_504_while_the_others_finish_200(gatewayd, workdir):
    s, sock = admin_server(gatewayd, workdir, workers=1, threads=4, timeout=2, graceful_timeout=10)
    [worker] = s.wait_workers(1)
    stuck = InFlight(s.port, ["/spin?seconds=30"])
    # in flight on two other threads when the spin times out (at 2 s), each
    # within the timeout itself (1.5 s)
    time.sleep(1.2)
    others = InFlight(s.port, ["/sleep?seconds=1.5&a", "/sleep?seconds=1.5&b"])
    [(status, took)] = stuck.join()
    assert status == 504 and took < 4, (status, took)
    results = others.join()
    assert [r[0] for r in results] == [200, 200], results
    assert all(r[1] >= 1.4 for r in results), "served side by side with the stuck thread, not after it"
    s.wait_log("timed out after")
    lines = [l for l in s.log().splitlines() if "timed out after" in l and "/spin" in l]
    assert len(lines) == 1 and "(app thread " in lines[0], s.log()
    # the stack of the stuck thread, its index first
    s.wait_log("stack: app thread ")
    m = metrics_of(sock)
    assert m["gatewayd_timeouts_total"] == 1, "one count per timeout"
    # the worker retires (or is killed at graceful_timeout); a replacement serves
    wait_until(lambda: worker not in s.workers(), timeout=20, what="the timed-out worker to leave")
    s.wait_workers(1)
    assert get(s.port)[0] == 200
    assert total(metrics_of(sock), "gatewayd_worker_restarts_total", reason="timeout") == 1
    assert s.proc.poll() is None


def test_kill_9_with_requests_in_flight_answers_or_resets_every_client(gatewayd, workdir):
    s, sock = admin_server(gatewayd, workdir, workers=1, threads=4)
    [worker] = s.wait_workers(1)
    flight = InFlight(s.port, [f"/sleep?seconds=5&n={i}" for i in range(6)], timeout=15)
    wait_until(lambda: status_of(sock)["threads_busy"] == 4, timeout=5, what="four busy threads")
    os.kill(worker, signal.SIGKILL)
    results = flight.join(timeout=30)
    assert all(r is not None for r in results), results
    assert not [r for r in results if r[0] == "hang"], f"a client hung: {results}"
    assert all(r[1] < 10 for r in results), f"every client hears at once: {results}"
    s.wait_workers(1, exclude=(worker,))
    wait_until(lambda: get(s.port)[0] == 200, what="the replacement to serve")
    st = status_of(sock)
    assert st["threads_busy"] == 0 and st["threads_total"] == 4
    assert "SIGKILL" in s.log()
