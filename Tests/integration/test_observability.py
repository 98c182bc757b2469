"""The admin listener (admin_bind): /metrics, /status, /livez, /readyz and
the control verbs, served by the master; gatewayctl against the real daemon."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import ROOT, app_path, free_port, http as raw_http, read_all

GATEWAYCTL = os.path.join(ROOT, "build", "bin", "gatewayctl")


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def get(conn, method, path, headers=None):
    conn.request(method, path, headers=headers or {})
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    return r.status, r.getheader("content-type", ""), body


def samples(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, value = line.rsplit(" ", 1)
        out[name_labels] = float(value)
    return out


def total(metrics, name, **labels):
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for k, v in metrics.items()
               if (k == name or k.startswith(name + "{")) and all(w in k for w in want))


@pytest.fixture
def admin(gatewayd, workdir):
    """A server with a TCP and a unix admin address; returns (server, tcp(), unix())."""
    def start(**settings):
        aport = free_port()
        sock = os.path.join(workdir, "admin.sock")
        s = gatewayd(admin_bind=[f"127.0.0.1:{aport}", f"unix:{sock}"], **settings)
        return s, (lambda: http.client.HTTPConnection("127.0.0.1", aport, timeout=10)), (lambda: UnixHTTP(sock)), sock
    return start


def metrics_of(conn):
    status, ctype, body = get(conn(), "GET", "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    return samples(body)


def test_counters_move_with_traffic_and_a_killed_worker(admin):
    s, tcp, unix, _ = admin(workers=1)
    for _ in range(20):
        assert b" 200 " in raw_http(s.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[:20]
    raw_http(s.port, b"GET /status?code=404 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw_http(s.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
    m = metrics_of(tcp)
    assert total(m, "gatewayd_requests_total", status_class="2xx") >= 20
    assert total(m, "gatewayd_request_duration_seconds_count") >= 20
    assert m['gatewayd_request_duration_seconds_bucket{le="+Inf"}'] == m["gatewayd_request_duration_seconds_count"]
    assert total(m, "gatewayd_requests_total", status_class="4xx") >= 1
    assert m["gatewayd_request_bytes_total"] >= 5 and m["gatewayd_response_bytes_total"] > 0
    assert m["gatewayd_generation"] == 1
    assert total(m, "gatewayd_workers", state="idle") == 1
    assert total(m, "gatewayd_worker_memory_bytes", kind="uss") >= 0
    assert 'gatewayd_build_info{version="' in "".join(m)
    before = total(m, "gatewayd_requests_total")
    os.kill(s.workers()[0], signal.SIGKILL)
    time.sleep(1.5)
    s.wait_workers(1)
    m = metrics_of(tcp)
    assert total(m, "gatewayd_worker_restarts_total", reason="crash") == 1
    assert total(m, "gatewayd_requests_total") >= before, "counters survive the worker"


def test_in_flight_request_shows_in_status_and_metrics(admin):
    s, tcp, unix, _ = admin(workers=1)
    slow = socket.create_connection(("127.0.0.1", s.port))
    slow.sendall(b"GET /sleep?seconds=3 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.8)
    status, ctype, body = get(tcp(), "GET", "/status")
    assert status == 200 and ctype == "application/json"
    st = json.loads(body)
    assert st["pid"] == s.pid and st["generation"] == 1 and st["phase"] == "running"
    [w] = st["workers"]
    assert w["state"] == "busy" and w["request"]["method"] == "GET"
    assert w["request"]["path"].startswith("/sleep") and w["request"]["seconds"] > 0.3
    assert st["listeners"][0]["address"] == f"127.0.0.1:{s.port}"
    m = metrics_of(tcp)
    assert m["gatewayd_requests_in_flight"] == 1
    assert total(m, "gatewayd_workers", state="busy") == 1
    slow.close()


def test_unix_listener_queue_is_measured(admin, workdir):
    app_sock = os.path.join(workdir, "app.sock")
    port = free_port()
    s, tcp, unix, _ = admin(workers=1, backlog=64, port=port, bind=[f"127.0.0.1:{port}", f"unix:{app_sock}"])
    slow = socket.create_connection(("127.0.0.1", s.port))
    slow.sendall(b"GET /sleep?seconds=3 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)
    waiting = []
    for _ in range(4):
        c = socket.socket(socket.AF_UNIX)
        c.connect(app_sock)
        waiting.append(c)
    time.sleep(0.3)
    m = metrics_of(tcp)
    assert m[f'gatewayd_listen_queue_length{{listener="unix:{app_sock}"}}'] >= 3
    assert m[f'gatewayd_listen_queue_max{{listener="unix:{app_sock}"}}'] == 64
    assert m[f'gatewayd_listen_queue_max{{listener="127.0.0.1:{s.port}"}}'] == 64
    slow.close()
    for c in waiting:
        c.close()


def test_readiness_and_control_on_unix_only(admin):
    s, tcp, unix, sock = admin(workers=1, graceful_timeout=5)
    assert oct(os.stat(sock).st_mode & 0o777) == "0o600"
    assert get(tcp(), "GET", "/livez")[0] == 200
    assert get(tcp(), "GET", "/readyz")[0] == 200
    for verb in ["/reload", "/scale?workers=2", "/stop", "/reopen-logs"]:
        assert get(tcp(), "POST", verb)[0] == 403
    assert get(tcp(), "GET", "/nothing")[0] == 404
    assert get(tcp(), "POST", "/metrics")[0] == 405
    assert get(unix(), "POST", "/reopen-logs")[0] == 200
    # a request in flight keeps the stop graceful: /readyz says 503 meanwhile
    slow = socket.create_connection(("127.0.0.1", s.port))
    slow.sendall(b"GET /sleep?seconds=2 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    status, _, body = get(unix(), "POST", "/stop")
    assert status == 200 and json.loads(body)["result"] == "stopping"
    status, _, body = get(tcp(), "GET", "/readyz")
    assert status == 503 and "stopping" in body
    assert s.wait_exit(10) == 0
    slow.close()


def ctl(*args, timeout=60):
    return subprocess.run([GATEWAYCTL, *args], capture_output=True, text=True, timeout=timeout)


def test_gatewayctl_status_reload_scale_stop(admin, workdir):
    s, tcp, unix, sock = admin(workers=1)
    target = "unix:" + sock
    r = ctl("--socket", target, "status")
    assert r.returncode == 0 and "generation 1" in r.stdout and "idle" in r.stdout
    r = ctl("status", "--json", "--socket", target)
    assert r.returncode == 0 and json.loads(r.stdout)["pid"] == s.pid
    r = ctl("--socket", target, "reload")
    assert r.returncode == 0 and "generation 2" in r.stdout, r.stdout + r.stderr
    # a broken app: the reload is abandoned, exit 1 with the reason
    s.write_config(settings={**s.settings, "app": app_path("broken-nosymbol")})
    r = ctl("--socket", target, "reload")
    assert r.returncode == 1 and "gateway_app" in r.stderr and "abandoned" in r.stderr, r.stdout + r.stderr
    m = metrics_of(tcp)
    assert total(m, "gatewayd_reloads_total", result="promoted") == 1
    assert total(m, "gatewayd_reloads_total", result="abandoned") == 1
    r = ctl("--socket", target, "scale", "3")
    assert r.returncode == 0
    s.wait_workers(3)
    assert len(json.loads(get(tcp(), "GET", "/status")[2])["workers"]) == 3
    # the config file names the socket when --socket is not given
    r = ctl("-c", s.conf, "status", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["workers_wanted"] == 3
    # control on TCP is refused: exit 1
    port = s.settings["admin_bind"][0]
    assert ctl("--socket", port, "stop").returncode == 1
    r = ctl("--socket", target, "stop")
    assert r.returncode == 0
    assert s.wait_exit(15) == 0
    assert ctl("--socket", target, "status").returncode == 2


def test_promtool_accepts_metrics(admin):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed (Debian package prometheus; scripts/deps.sh installs it)")
    s, tcp, unix, _ = admin(workers=1)
    raw_http(s.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    body = get(tcp(), "GET", "/metrics")[2]
    r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_binary_upgrade_hands_the_admin_listener_over(admin, workdir):
    pidfile = os.path.join(workdir, "gw.pid")
    s, tcp, unix, sock = admin(workers=1, pidfile=pidfile, graceful_timeout=3)
    old = s.pid
    os.kill(old, signal.SIGUSR2)
    s.wait_log(f"stopping the old master {old}")
    assert s.wait_exit(timeout=15) == 0
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            st = json.loads(get(unix(), "GET", "/status")[2])
            if st["pid"] != old and get(tcp(), "GET", "/livez")[0] == 200:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    else:
        raise AssertionError("the new master does not serve the admin addresses:\n" + s.log())
    new = st["pid"]
    assert new == int(open(pidfile).read())
    assert oct(os.stat(sock).st_mode & 0o777) == "0o600"
    assert get(unix(), "POST", "/stop")[0] == 200
    deadline = time.time() + 10
    while time.time() < deadline and os.path.exists(sock):
        time.sleep(0.1)
    assert not os.path.exists(sock), "the last master removes its admin socket"


def test_a_real_prometheus_scrapes_the_admin_listener(admin, workdir):
    prometheus = shutil.which("prometheus")
    if not prometheus:
        pytest.skip("prometheus not installed (Debian package prometheus; scripts/deps.sh installs it)")
    s, tcp, unix, _ = admin(workers=1)
    aport = s.settings["admin_bind"][0].rsplit(":", 1)[1]
    for _ in range(7):
        raw_http(s.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    conf = os.path.join(workdir, "prometheus.yml")
    with open(conf, "w") as f:
        f.write("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: gatewayd\n"
                f"    static_configs:\n      - targets: ['127.0.0.1:{aport}']\n")
    web = free_port()
    data = os.path.join(workdir, "prometheus-data")
    with open(os.path.join(workdir, "prometheus.log"), "wb") as log:
        p = subprocess.Popen([prometheus, f"--config.file={conf}", f"--storage.tsdb.path={data}",
                              f"--web.listen-address=127.0.0.1:{web}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        value = None
        deadline = time.time() + 30
        while time.time() < deadline and value is None:
            time.sleep(1)
            try:
                q = "/api/v1/query?query=sum(gatewayd_requests_total%7Bstatus_class%3D%222xx%22%7D)"
                st, _, body = get(http.client.HTTPConnection("127.0.0.1", web, timeout=5), "GET", q)
                result = json.loads(body)["data"]["result"] if st == 200 else []
                if result:
                    value = float(result[0]["value"][1])
            except (OSError, ValueError, KeyError):
                pass
        assert value is not None and value >= 7, open(os.path.join(workdir, "prometheus.log")).read()[-2000:]
        st, _, body = get(http.client.HTTPConnection("127.0.0.1", web, timeout=5), "GET", "/api/v1/targets")
        [target] = json.loads(body)["data"]["activeTargets"]
        assert target["health"] == "up", target
    finally:
        p.terminate()
        p.wait(timeout=10)


def test_gatewayctl_watch_in_tmux(admin, workdir):
    tmux = shutil.which("tmux")
    if not tmux:
        pytest.skip("tmux not installed")
    s, tcp, unix, sock = admin(workers=2)
    name = f"gwctl{os.getpid()}"
    subprocess.run([tmux, "new-session", "-d", "-s", name, "-x", "120", "-y", "30",
                    f"{GATEWAYCTL} --socket unix:{sock} watch"], check=True)
    try:
        screen = ""
        deadline = time.time() + 10
        while time.time() < deadline:
            time.sleep(0.5)
            screen = subprocess.run([tmux, "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout
            if screen.count("idle") == 2:
                break
        assert f"master {s.pid}" in screen and "generation 1" in screen and screen.count("idle") == 2, screen
        # it refreshes: a new worker shows without restarting watch
        assert ctl("--socket", "unix:" + sock, "scale", "3").returncode == 0
        deadline = time.time() + 10
        while time.time() < deadline and screen.count("idle") != 3:
            time.sleep(0.5)
            screen = subprocess.run([tmux, "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout
        assert screen.count("idle") == 3, screen
        subprocess.run([tmux, "send-keys", "-t", name, "C-c"])
    finally:
        subprocess.run([tmux, "kill-session", "-t", name], capture_output=True)


def test_grafana_dashboard_names_only_metrics_we_export(admin):
    s, tcp, unix, _ = admin(workers=1)
    exported = {k.split("{")[0] for k in metrics_of(tcp)}
    families = {n.rsplit("_bucket", 1)[0] for n in exported}
    with open(os.path.join(ROOT, "etc", "grafana-gatewayd.json")) as f:
        dash = json.load(f)
    import re
    used = set()
    for p in dash["panels"]:
        for t in p["targets"]:
            used |= set(re.findall(r"gatewayd_[a-z_]+", t["expr"]))
    assert used and used <= exported | families, used - exported


# ------------------------------------------------- stacks of stuck requests

def wsgi_stuck(gatewayd_or_admin, **settings):
    """The stuck.py WSGI app (time.sleep in stuck_in_sleep, a parked thread)."""
    from test_wsgi import WORKERS_AS_ROOT, WSGI_APPS, WSGI_SO
    assert os.path.exists(WSGI_SO), f"{WSGI_SO} is not built"
    if WORKERS_AS_ROOT:
        settings.setdefault("allow_root", True)
    return gatewayd_or_admin(app=WSGI_SO, app_args={"app": "stuck:application", "pythonpath": [WSGI_APPS]},
                             **settings)


def stack_after(log, marker):
    """The `stack:` lines that follow the first line holding `marker`."""
    lines = log.splitlines()
    start = next(i for i, line in enumerate(lines) if marker in line)
    return [line for line in lines[start + 1:] if "] stack: " in line]


def timed_get(port, path, timeout=15):
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body, time.monotonic() - t0


def test_a_timed_out_wsgi_request_leaves_its_python_traceback(gatewayd):
    s = wsgi_stuck(gatewayd, workers=1, timeout=2)
    worker = s.workers()[0]
    status, _, took = timed_get(s.port, "/sleep?seconds=30")
    assert status == 504 and took < 4, (status, took)
    s.wait_log("stuck_in_sleep")
    s.wait_workers(1, exclude=[worker])
    stack = stack_after(s.log(), f"worker {worker} timed out after")
    text = "\n".join(stack)
    # every Python thread, the serving one marked, function and file named
    assert f"[error] [worker {worker}] stack: Current thread" in text, s.log()
    assert 'stuck.py", line' in text and "in stuck_in_sleep" in text and "in application" in text, text
    assert "in background_waiter" in text, text
    # whole lines, each one a log line of its own
    assert all(line.count("] stack: ") == 1 for line in stack)


def test_a_timed_out_native_request_leaves_a_backtrace_addr2line_reads(gatewayd):
    s = gatewayd(workers=1, timeout=1)
    worker = s.workers()[0]
    status, _, took = timed_get(s.port, "/spin?seconds=30")
    assert status == 504 and took < 3, (status, took)
    s.wait_log("testapp_spin")
    stack = stack_after(s.log(), f"worker {worker} timed out after")
    assert "native backtrace of thread" in stack[0], stack
    frame = next(line for line in stack if "testapp_spin" in line)
    assert app_path("testapp") in frame, frame
    # `MODULE OFFSET (symbol+off)`: addr2line finishes the job
    module, offset = frame.split("] stack: ")[1].split()[1:3]
    if shutil.which("addr2line"):
        out = subprocess.run(["addr2line", "-f", "-e", module, offset], capture_output=True, text=True).stdout
        assert out.splitlines()[0] == "testapp_spin", out
    # the worker was replaced; the next request is served
    worker = s.wait_workers(1, exclude=[worker])[0]
    assert timed_get(s.port, "/")[0] == 200
    # stuck in a blocking call that INT ends (one nanosleep): the stack is
    # still the one of the call, the dump's handler runs before it returns
    assert timed_get(s.port, "/sleep?seconds=30&once=1")[0] == 504
    s.wait_workers(1, exclude=[worker])
    stack = stack_after(s.log(), f"worker {worker} timed out after")
    text = "\n".join(stack[:6])
    assert "nanosleep" in text and app_path("testapp") in text, "\n".join(stack)


def test_gatewayctl_dump_shows_a_busy_worker_and_leaves_it_serving(admin):
    s, tcp, unix, sock = admin(workers=1, timeout=30)
    worker = s.workers()[0]
    target = "unix:" + sock
    slow = socket.create_connection(("127.0.0.1", s.port))
    slow.sendall(b"GET /spin?seconds=2 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)
    r = ctl("--socket", target, "dump", str(worker))
    assert r.returncode == 0, r.stderr
    assert "native backtrace" in r.stdout and "testapp_spin" in r.stdout and "testapp.so" in r.stdout, r.stdout
    # the request completes as if nothing happened, from the same worker
    slow.settimeout(10)
    reply = b""
    while b"spun 2" not in reply:
        chunk = slow.recv(4096)
        assert chunk, reply
        reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply
    slow.close()
    assert s.workers() == [worker]
    # the dump is in the error log too, at info, under the line that names the request
    assert f"admin: stack dump of worker {worker} (busy on GET /spin?seconds=2)" in s.log()
    assert f"[info] [worker {worker}] stack:" in s.log()
    # refused: on TCP (403, exit 1), an unknown pid (404, exit 1)
    assert get(tcp(), "POST", f"/dump?worker={worker}")[0] == 403
    assert ctl("--socket", s.settings["admin_bind"][0], "dump", str(worker)).returncode == 1
    status, _, body = get(unix(), "POST", "/dump?worker=1")
    assert status == 404 and "no worker 1" in body
    assert ctl("--socket", target, "dump", "1").returncode == 1
    assert get(unix(), "POST", "/dump")[0] == 400
    # an idle worker: waiting in the request loop; it goes on serving
    r = ctl("--socket", target, "dump", str(worker))
    assert r.returncode == 0 and "RequestLoop" in r.stdout and "testapp_spin" not in r.stdout, r.stdout
    assert timed_get(s.port, "/")[0] == 200 and s.workers() == [worker]


def test_gatewayctl_dump_of_a_python_worker(admin):
    s, tcp, unix, sock = wsgi_stuck(admin, workers=1, timeout=30)
    worker = s.workers()[0]
    slow = socket.create_connection(("127.0.0.1", s.port))
    slow.sendall(b"GET /sleep?seconds=1.5 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)
    r = ctl("--socket", "unix:" + sock, "dump", str(worker))
    assert r.returncode == 0, r.stderr
    assert "Current thread" in r.stdout and "in stuck_in_sleep" in r.stdout, r.stdout
    slow.settimeout(10)
    reply = b""
    while b"slept" not in reply:
        chunk = slow.recv(4096)
        assert chunk, reply
        reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply
    assert s.workers() == [worker]


class AdminFlood:
    """Holds `n` connections to an admin address, each trickling a request
    head a byte every `every` seconds and reconnecting when the server
    closes it: what one client with access to the admin port can do."""

    def __init__(self, connect, n=16, every=0.25):
        import threading
        self.connect, self.n, self.every = connect, n, every
        self.stopping = threading.Event()
        self.reconnects = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        time.sleep(1.0)  # all n connected and trickling
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(5)

    def open(self):
        try:
            c = self.connect()
            c.setblocking(False)
            return c
        except OSError:
            return None

    def run(self):
        head = b"GET /status HTTP/1.1\r\nHost: flood\r\nX-Slow: " + b"a" * 4000
        conns = [[self.open(), 0] for _ in range(self.n)]
        while not self.stopping.is_set():
            for slot in conns:
                c, sent = slot
                try:
                    if c is None:
                        raise OSError
                    c.send(head[sent % len(head):sent % len(head) + 1])
                    slot[1] = sent + 1
                except OSError:
                    if c is not None:
                        c.close()
                    self.reconnects += 1
                    slot[0], slot[1] = self.open(), 0
            self.stopping.wait(self.every)
        for c, _ in conns:
            if c is not None:
                c.close()


def probe_ms(fn):
    t = time.monotonic()
    result = fn()
    return (time.monotonic() - t) * 1000, result


def test_idle_admin_connections_do_not_starve_probes_or_operators(admin):
    """Issue 25: 16 trickling connections on each admin address; /readyz
    over TCP and gatewayctl status over the unix socket keep answering
    within 200 ms (separate budgets per listener, a short head deadline,
    and a full listener evicts its oldest idle connection)."""
    s, tcp, unix, sock = admin(workers=1)
    aport = int(s.settings["admin_bind"][0].rsplit(":", 1)[1])

    def tcp_conn():
        return socket.create_connection(("127.0.0.1", aport), timeout=1)

    def unix_conn():
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(1)
        c.connect(sock)
        return c

    def readyz():
        conn = http.client.HTTPConnection("127.0.0.1", aport, timeout=1)
        try:
            return get(conn, "GET", "/readyz")[0]
        except OSError as e:
            return repr(e)

    readyz_ms, ctl_ms = [], []
    with AdminFlood(tcp_conn) as tflood, AdminFlood(unix_conn) as uflood:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            ms, status = probe_ms(readyz)
            assert status == 200, status
            readyz_ms.append(ms)
            ms, r = probe_ms(lambda: ctl("--socket", "unix:" + sock, "status", "--json", timeout=5))
            assert r.returncode == 0, r.stderr
            ctl_ms.append(ms)
            time.sleep(0.2)
        # the flood was served too: its connections were cut and came back
        assert tflood.reconnects > 0 and uflood.reconnects > 0
    print(f"readyz max {max(readyz_ms):.1f} ms, gatewayctl status max {max(ctl_ms):.1f} ms "
          f"over {len(readyz_ms)} probes")
    assert max(readyz_ms) < 200, readyz_ms
    assert max(ctl_ms) < 200, ctl_ms


def half_closed(connect, request):
    """Sends `request`, shuts the write side (what `printf ... | socat -`
    does), reads the answer to the end."""
    c = connect()
    c.settimeout(5)
    c.sendall(request)
    c.shutdown(socket.SHUT_WR)
    data = b""
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
    except OSError:
        pass
    c.close()
    return data


def test_a_half_closed_admin_request_is_answered(admin):
    """RFC 9112 9.6: a request followed by shutdown(SHUT_WR) still gets its response."""
    s, tcp, unix, sock = admin(workers=1)
    aport = int(s.settings["admin_bind"][0].rsplit(":", 1)[1])

    def unix_conn():
        c = socket.socket(socket.AF_UNIX)
        c.connect(sock)
        return c

    for _ in range(10):
        for connect in (unix_conn, lambda: socket.create_connection(("127.0.0.1", aport))):
            reply = half_closed(connect, b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"ok\n"), reply
    reply = half_closed(unix_conn, b"POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200") and b"promoted" in reply, reply
    s.wait_log("generation 2")


def test_a_half_closed_request_to_the_main_listener_is_answered(gatewayd):
    s = gatewayd(workers=1)
    for _ in range(10):
        reply = half_closed(lambda: socket.create_connection(("127.0.0.1", s.port)),
                            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200"), reply


def test_a_timed_out_request_whose_app_returns_before_the_kill_is_counted_once(admin, workdir):
    """Issue 25: with timeout = 2 and a 2.8 s request the app returns after
    the master's 504 but before the kill: one timeout, and no 5xx, no
    histogram sample and no access log line besides."""
    access = os.path.join(workdir, "access.log")
    s, tcp, unix, sock = admin(workers=1, timeout=2, access_log=access)
    data = raw_http(s.port, b"GET /sleep?seconds=2.8 HTTP/1.1\r\nHost: t\r\n\r\n", timeout=15)
    assert data.startswith(b"HTTP/1.1 504"), data
    time.sleep(1.5)  # the app returned (2.8 s), the kill not yet due for a while
    s.wait_log("timed out")
    m = metrics_of(tcp)
    assert total(m, "gatewayd_timeouts_total") == 1
    assert total(m, "gatewayd_requests_total", status_class="5xx") == 0, m
    assert total(m, "gatewayd_request_duration_seconds_count") == 0, m
    log = open(access).read() if os.path.exists(access) else ""
    assert " 504 " not in log, log


def test_a_new_workers_memory_is_never_reported_as_zero(admin):
    """Issue 25: before its first heartbeat a new worker's gauges read 0."""
    s, tcp, unix, sock = admin(workers=1)
    for _ in range(2):
        s.signal(signal.SIGTTIN)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            m = metrics_of(tcp)
            zero = [k for k, v in m.items() if k.startswith("gatewayd_worker_memory_bytes") and v == 0]
            assert not zero, zero
            st = json.loads(get(unix(), "GET", "/status")[2])
            assert all(w["uss_bytes"] != 0 for w in st["workers"]), st["workers"]
        s.wait_workers(3 if _ else 2)


def test_gatewayctl_usage_errors_exit_within_the_documented_codes():
    """Issue 25: exit 0 done, 1 refused or failed, 2 unreachable; a usage
    error is a refusal (ArgumentParser's own 64 is not documented)."""
    for args in (["scale", "abc"], ["dump", "x"], ["nosuchverb"], ["status", "--nosuchflag"]):
        r = ctl("--socket", "unix:/nonexistent/admin.sock", *args)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
        assert "Error:" in r.stderr or "error" in r.stderr.lower(), r.stderr
    assert ctl("--help").returncode == 0
    assert ctl("--socket", "unix:/nonexistent/admin.sock", "status").returncode == 2


def test_a_crash_flood_folds_each_new_workers_boot_line(gatewayd):
    """Issue 25: a /crash flood logged every new worker's boot line
    (11,000 lines in 10 s); they are folded as the master's crash lines
    are: a few a second, whatever the rate of crashes."""
    s = gatewayd(workers=2)
    before = len(s.log())
    crashes, end = 0, time.monotonic() + 4
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", s.port), timeout=2) as c:
                c.sendall(b"GET /crash HTTP/1.1\r\nHost: t\r\n\r\n")
                c.recv(100)
            crashes += 1
        except OSError:
            pass
    time.sleep(1.5)
    log = s.log()[before:]
    boots = log.count("testapp: booted worker")
    print(f"\ncrash flood: {crashes} /crash in 4 s, {boots} app boot lines, {len(log.encode())} log bytes")
    assert crashes > 40, crashes
    assert boots <= 2 * 6 + 4, boots  # a first line or two per second and slot, not one per crash


def test_the_app_flag_without_a_config_file_runs_with_the_defaults(workdir):
    """Issue 25: `gatewayd --app X -b ...` without -c read /etc/gatewayd.conf
    (and failed where there is none); the positional APP form does not."""
    from conftest import GATEWAYD
    port = free_port()
    p = subprocess.Popen([GATEWAYD, "--app", app_path("testapp"), "-b", f"127.0.0.1:{port}", "-w", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        reply = b""
        while time.monotonic() < deadline and p.poll() is None:
            try:
                reply = raw_http(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=2)
                if reply:
                    break
            except OSError:
                time.sleep(0.1)
        assert p.poll() is None, p.stdout.read().decode()
        assert reply.startswith(b"HTTP/1.1 200"), reply
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
        p.wait(10)


def test_server_made_body_refusals_are_logged_with_the_client_and_the_request_line(gatewayd):
    """Issue 25: the 413 for a chunked body past max_body_size and the 408
    for a stalled Content-Length body named only the method and path;
    docs/http.md promises the client's address and the request line."""
    s = gatewayd(workers=1, body_timeout=1, body_buffer_size=0, max_body_size=100)
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(b"POST /echo-whole HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n" + b"z" * 10)
        assert read_all(c, 5).startswith(b"HTTP/1.1 408")
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(b"POST /echo-whole HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  + b"c8\r\n" + b"y" * 200 + b"\r\n0\r\n\r\n")
        assert read_all(c, 5).startswith(b"HTTP/1.1 413")
    s.wait_log("408 Request Timeout")
    s.wait_log("413 ")
    lines = [l for l in s.log().splitlines() if "408 Request Timeout" in l or "413 " in l]
    assert lines and all("(client 127.0.0.1: POST /echo-whole HTTP/1.1)" in l for l in lines), lines


def test_a_head_refused_after_its_request_line_parsed_logs_its_host_and_user_agent(gatewayd, workdir):
    """Issue 25: a head refused for its Host or a control byte was logged
    with host and user_agent null though its request line parsed."""
    access = os.path.join(workdir, "access.log")
    s = gatewayd(workers=1, access_log=access, log_format="json")
    for raw in (b"GET /a HTTP/1.1\r\nUser-Agent: probe/1\r\nHost: one.example\r\nHost: two.example\r\n\r\n",
                b"GET /b HTTP/1.1\r\nHost: h.example\r\nUser-Agent: probe/2\r\nX-Bad: a\x01b\r\n\r\n"):
        assert raw_http(s.port, raw).startswith(b"HTTP/1.1 400")
    deadline = time.monotonic() + 5
    lines = []
    while time.monotonic() < deadline and len(lines) < 2:
        lines = [json.loads(l) for l in open(access).read().splitlines()] if os.path.exists(access) else []
        time.sleep(0.1)
    assert [l["user_agent"] for l in lines] == ["probe/1", "probe/2"], lines
    assert lines[1]["host"] == "h.example", lines
    assert lines[0]["host"] in ("one.example", "two.example"), lines


def test_operators_pressure_metrics_in_metrics_status_and_gatewayctl(admin, workdir):
    """Issue 25: PHP-FPM's max listen queue and max children reached, nginx's
    connections per state, uWSGI's listen-queue-full alarm as a log line."""
    s, tcp, unix, sock = admin(workers=1, backlog=2, timeout=30)
    aport = int(s.settings["admin_bind"][0].rsplit(":", 1)[1])
    # connections per state: two idle keep-alive, one with half a head
    idle = []
    for _ in range(2):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        c.recv(4096)
        idle.append(c)
    partial = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    partial.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    time.sleep(2.5)  # the worker publishes its counts once a second
    m = metrics_of(tcp)
    assert m['gatewayd_connections{state="waiting"}'] == 2, m
    assert m['gatewayd_connections{state="reading"}'] == 1, m
    st = json.loads(get(unix(), "GET", "/status")[2])
    assert st["connections"] == {"reading": 1, "writing": 0, "waiting": 2}, st["connections"]
    for c in idle + [partial]:
        c.close()
    # the only worker busy, connections queued past the backlog: the queue
    # fills, max children is reached, the high-water mark stays after
    slow = socket.create_connection(("127.0.0.1", s.port))
    slow.sendall(b"GET /sleep?seconds=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    time.sleep(0.3)
    queued = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", s.port))
        except BlockingIOError:
            pass
        queued.append(c)
    time.sleep(1.0)
    s.wait_log("listen queue of 127.0.0.1:%d full" % s.port, timeout=5)
    time.sleep(3)
    for c in queued + [slow]:
        c.close()
    m = metrics_of(tcp)
    assert m[f'gatewayd_listen_queue_max_reached{{listener="127.0.0.1:{s.port}"}}'] >= 2, m
    assert m[f'gatewayd_listen_queue_length{{listener="127.0.0.1:{s.port}"}}'] == 0
    assert m["gatewayd_max_children_reached_total"] >= 1
    assert s.log().count(f"listen queue of 127.0.0.1:{s.port} full") == 1, "rate-limited"
    st = json.loads(get(unix(), "GET", "/status")[2])
    assert st["max_children_reached"] >= 1
    assert [l["queue_max_reached"] for l in st["listeners"] if l["address"] == f"127.0.0.1:{s.port}"][0] >= 2
    r = ctl("--socket", "unix:" + sock, "status")
    assert r.returncode == 0 and "max reached" in r.stdout and "max children reached" in r.stdout, r.stdout
    assert "connections: reading" in r.stdout, r.stdout


def test_admin_allow_limits_tcp_admin_clients_to_its_networks(admin):
    s, tcp, unix, sock = admin(workers=1, admin_allow=["10.0.0.0/8", "::1"])
    status, _, body = get(tcp(), "GET", "/readyz")
    assert status == 403 and "admin_allow" in body, (status, body)
    assert get(unix(), "GET", "/readyz")[0] == 200, "unix sockets: the file mode is their access control"
    assert "not in admin_allow" in s.log()


def test_admin_allow_lets_a_listed_network_in(admin):
    s, tcp, unix, sock = admin(workers=1, admin_allow=["127.0.0.0/8"])
    assert get(tcp(), "GET", "/readyz")[0] == 200


def test_an_abandoned_reload_leaves_the_master_on_the_serving_generations_logs(gatewayd, workdir):
    """Issue 25 (the design): a reload whose app cannot load named new log
    files; the master went on writing to them after the reload was
    abandoned, while its config (the serving generation's) named the old."""
    old_log = os.path.join(workdir, "gatewayd.log")  # the harness reads it: the server starts writing there
    new_log = os.path.join(workdir, "new-error.log")
    s = gatewayd(workers=1, error_log=old_log)
    s.write_config(settings={**s.settings, "error_log": new_log, "app": app_path("broken-nosymbol")})
    s.signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "abandoned" not in open(old_log).read() + (open(new_log).read() if os.path.exists(new_log) else ""):
        time.sleep(0.1)
    s.signal(signal.SIGUSR1)  # reopen: a line from the master after the abandon
    time.sleep(1)
    s.signal(signal.SIGTTIN)
    s.wait_workers(2)
    time.sleep(0.5)
    after = open(old_log).read()
    assert "scaling workers from 1 to 2" in after, after[-1500:]
    if os.path.exists(new_log):
        assert "scaling workers" not in open(new_log).read()
