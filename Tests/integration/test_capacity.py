"""Capacity against the real binary: workers that follow demand (max_workers,
idle_worker_timeout), queue-wait shedding (max_queue_wait, X-Request-Start),
and the drain before a graceful stop (drain_delay). docs/capacity.md."""
import http.client
import json
import os
import signal
import threading
import time

from conftest import Client, free_port, get, wait_until


def admin_get(aport, path):
    c = http.client.HTTPConnection("127.0.0.1", aport, timeout=5)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def status(aport):
    return json.loads(admin_get(aport, "/status")[1])


def serving(aport):
    return [w for w in status(aport)["workers"] if w["state"] != "stopping"]


def metric(aport, name):
    for line in admin_get(aport, "/metrics")[1].decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            yield line


def value(aport, sample):
    for line in admin_get(aport, "/metrics")[1].decode().splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{sample} not in /metrics")


def start(gatewayd, **settings):
    aport = free_port()
    s = gatewayd(admin_bind=[f"127.0.0.1:{aport}"], **settings)
    return s, aport


def slow_requests(port, n, seconds):
    results = []

    def one():
        t = time.time()
        st, _ = get(port, f"/sleep?seconds={seconds}", timeout=30)
        results.append((st, time.time() - t))
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    return threads, results


# --- workers that follow demand ----------------------------------------------

def test_grows_under_a_burst_and_shrinks_when_idle(gatewayd):
    s, aport = start(gatewayd, workers=1, max_workers=4, idle_worker_timeout=2)
    assert len(serving(aport)) == 1
    threads, results = slow_requests(s.port, 4, 2.5)
    peak, seen = 0, []
    while any(t.is_alive() for t in threads):
        n = len(serving(aport))
        seen.append(n)
        peak = max(peak, n)
        time.sleep(0.1)
    assert peak == 4, f"grows to max_workers, never above: {seen}"
    assert all(st == 200 for st, _ in results)
    # side by side: the last did not wait for the first three
    assert max(d for _, d in results) < 2.5 * 2, results
    assert status(aport)["workers_base"] == 1 and status(aport)["workers_max"] == 4
    assert value(aport, "gatewayd_workers_target") == 4
    assert value(aport, 'gatewayd_worker_scaling_total{direction="up"}') == 3
    log = s.log()
    assert log.count("demand: adding a worker") == 3, log
    assert "connections queued" in log
    # idle: back to workers, one at a time, gracefully (exit 0, counted as scale)
    wait_until(lambda: len(serving(aport)) == 1, timeout=15, what="shrink to workers = 1")
    assert value(aport, "gatewayd_workers_target") == 1
    assert value(aport, 'gatewayd_worker_scaling_total{direction="down"}') == 3
    wait_until(lambda: value(aport, 'gatewayd_worker_restarts_total{reason="scale"}') == 3, timeout=10, what="3 scale exits")
    assert value(aport, 'gatewayd_worker_restarts_total{reason="crash"}') == 0
    assert s.log().count("demand: retiring a worker") == 3
    # and it stays there: no flapping while idle
    time.sleep(3)
    assert len(serving(aport)) == 1
    assert s.log().count("demand: ") == 6


def test_fixed_count_without_max_workers(gatewayd):
    s, aport = start(gatewayd, workers=1)
    threads, results = slow_requests(s.port, 3, 1)
    peak = 0
    while any(t.is_alive() for t in threads):
        peak = max(peak, len(serving(aport)))
        time.sleep(0.1)
    assert peak == 1
    assert "demand:" not in s.log()


def test_scale_sets_the_base_and_demand_works_above_it(gatewayd):
    s, aport = start(gatewayd, workers=1, max_workers=3, idle_worker_timeout=1)
    s.signal(signal.SIGTTIN)
    wait_until(lambda: len([w for w in serving(aport) if w["state"] != "booting"]) == 2, what="TTIN: 2 workers")
    assert status(aport)["workers_base"] == 2
    time.sleep(3)
    assert len(serving(aport)) == 2, "the base is not retired for being idle"
    # a reload keeps working: the new generation starts at its config's workers
    s.signal(signal.SIGHUP)
    wait_until(lambda: status(aport)["generation"] == 2 and len(serving(aport)) == 1
               and all(w["generation"] == 2 for w in status(aport)["workers"]), timeout=15, what="reload")
    threads, _ = slow_requests(s.port, 3, 1.5)
    wait_until(lambda: len(serving(aport)) == 3, timeout=5, what="demand after the reload")
    for t in threads:
        t.join()


# --- shedding --------------------------------------------------------------

def shed_server(gatewayd, **settings):
    return start(gatewayd, workers=1, max_queue_wait=0.5, access_log="access.log", **settings)


def test_sheds_a_request_that_waited_too_long_without_calling_the_app(gatewayd, workdir):
    s, aport = shed_server(gatewayd)
    with Client(s.port) as c:
        t = time.time()
        r = c.request(path="/sleep?seconds=3", headers={"X-Request-Start": "t=%.3f" % (time.time() - 2)})
        assert r.status == 503 and r.header("retry-after") == "1"
        assert time.time() - t < 1, "the app (a 3 s sleep) was not called"
        assert r.header("connection") is None, "the connection stays open"
        # every form: microseconds, milliseconds, bare seconds
        for v in ["t=%d" % ((time.time() - 2) * 1e6), "%d" % ((time.time() - 2) * 1e3), "%.3f" % (time.time() - 2)]:
            assert c.request(headers={"X-Request-Start": v}).status == 503, v
        # fresh, absent, garbage, in the future (a proxy's clock ahead): served
        for h in [{"X-Request-Start": "t=%.3f" % time.time()}, {}, {"X-Request-Start": "soon"},
                  {"X-Request-Start": "t=%.3f" % (time.time() + 60)}]:
            assert c.request(headers=h).status == 200, h
    assert value(aport, "gatewayd_requests_shed_total") == 4
    lines = open(os.path.join(workdir, "access.log")).read().splitlines()
    assert sum(1 for line in lines if '" 503 ' in line) == 4, lines


def test_does_not_shed_from_an_untrusted_peer(gatewayd):
    s, aport = shed_server(gatewayd, forwarded_allow_ips=["10.9.9.9"])
    with Client(s.port) as c:
        r = c.request(headers={"X-Request-Start": "t=%.3f" % (time.time() - 5)})
        assert r.status == 200
    assert value(aport, "gatewayd_requests_shed_total") == 0


def test_shedding_off_by_default(gatewayd):
    s, aport = start(gatewayd, workers=1)
    with Client(s.port) as c:
        assert c.request(headers={"X-Request-Start": "t=%.3f" % (time.time() - 100)}).status == 200


# --- drain -----------------------------------------------------------------

def test_drain_fails_readiness_at_once_serves_with_close_then_exits(gatewayd):
    s, aport = start(gatewayd, workers=2, drain_delay=2, graceful_timeout=10)
    keep = Client(s.port)
    assert keep.request().header("connection") is None
    assert admin_get(aport, "/readyz")[0] == 200
    t0 = time.time()
    s.signal(signal.SIGTERM)
    wait_until(lambda: admin_get(aport, "/readyz")[0] == 503, timeout=1, what="/readyz 503")
    assert time.time() - t0 < 0.5
    assert b"draining" in admin_get(aport, "/readyz")[1]
    assert value(aport, "gatewayd_draining") == 1
    # the keep-alive connection opened before: served, told to close
    r = keep.request()
    assert r.status == 200 and r.header("connection") == "close"
    keep.close()
    # new connections too, until drain_delay is over
    time.sleep(1)
    with Client(s.port) as c:
        r = c.request()
        assert r.status == 200 and r.header("connection") == "close"
    assert s.proc.poll() is None
    assert s.wait_exit(timeout=15) == 0
    elapsed = time.time() - t0
    assert 2 <= elapsed < 6, elapsed
    log = s.log()
    assert "SIGTERM: draining for 2.0s" in log and "drain_delay over: graceful shutdown" in log


def test_sigquit_skips_the_drain(gatewayd):
    s, aport = start(gatewayd, workers=1, drain_delay=5)
    t0 = time.time()
    s.signal(signal.SIGQUIT)
    assert s.wait_exit(timeout=10) == 0
    assert time.time() - t0 < 3
    assert "draining" not in s.log()


def test_a_second_sigterm_ends_the_drain(gatewayd):
    s, aport = start(gatewayd, workers=1, drain_delay=30)
    s.signal(signal.SIGTERM)
    s.wait_log("draining for 30.0s")
    t0 = time.time()
    s.signal(signal.SIGTERM)
    assert s.wait_exit(timeout=10) == 0
    assert time.time() - t0 < 3


def test_admin_stop_drains_too(gatewayd, workdir):
    sock = os.path.join(workdir, "admin.sock")
    aport = free_port()
    s = gatewayd(workers=1, drain_delay=1.5, admin_bind=[f"127.0.0.1:{aport}", f"unix:{sock}"])
    import socket as sk
    u = sk.socket(sk.AF_UNIX)
    u.connect(sock)
    u.sendall(b"POST /stop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"200" in u.recv(4096)[:20]
    u.close()
    wait_until(lambda: admin_get(aport, "/readyz")[0] == 503, timeout=1, what="/readyz 503")
    assert get(s.port, "/")[0] == 200
    assert s.wait_exit(timeout=10) == 0


def test_systemd_hears_stopping_at_the_start_of_the_drain(gatewayd, workdir):
    from test_ops import NotifyListener as Notify
    notify = Notify(os.path.join(workdir, "notify.sock"))
    try:
        s = gatewayd(start=False, workers=1, drain_delay=1.5)
        os.environ["NOTIFY_SOCKET"] = notify.path
        try:
            s.start()
        finally:
            del os.environ["NOTIFY_SOCKET"]
        notify.wait_for("READY=1")
        t0 = time.time()
        s.signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1", timeout=1)
        assert time.time() - t0 < 0.5, "STOPPING=1 at the start of the drain, not after it"
        assert any(f.startswith("STATUS=draining") for f in notify.fields())
        assert get(s.port, "/")[0] == 200, "still serving"
        assert s.wait_exit(timeout=10) == 0
    finally:
        notify.close()


def test_drain_ends_a_kept_alive_fastcgi_connection_after_its_end_request(gatewayd):
    """FastCGI has no Connection header: during the drain a FCGI_KEEP_CONN
    connection is closed after END_REQUEST, the record-level Connection: close."""
    from test_protocols import fcgi_get, fcgi_read, fcgi_request, fcgi_response
    import socket
    fc = free_port()
    hp = free_port()
    s, aport = start(gatewayd, port=hp, workers=1, drain_delay=3, graceful_timeout=10,
                     bind=[f"127.0.0.1:{hp}", f"fastcgi:127.0.0.1:{fc}"])
    with socket.create_connection(("127.0.0.1", fc), timeout=10) as c:
        for rid in (1, 2):
            c.sendall(fcgi_request(rid, fcgi_get("/"), keep=True))
            head, body, end = fcgi_response(fcgi_read(c), rid)
            assert head.startswith("Status: 200") and body == b"Hello, World!" and end == (0, 0)
        s.signal(signal.SIGTERM)
        wait_until(lambda: admin_get(aport, "/readyz")[0] == 503, timeout=2, what="the drain")
        c.sendall(fcgi_request(3, fcgi_get("/"), keep=True))
        records = fcgi_read(c)
        head, body, end = fcgi_response(records, 3)
        assert head.startswith("Status: 200") and end == (0, 0), records
        assert "Connection" not in head
        c.settimeout(5)
        assert c.recv(100) == b"", "closed after END_REQUEST"
    assert s.wait_exit(timeout=15) == 0
