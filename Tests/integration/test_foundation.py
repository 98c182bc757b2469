"""The Foundation issue, end to end: pre-fork workers serving a dlopen'ed app
over HTTP/1.1, the environ, bodies both ways, and clear load failures."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import GATEWAYD, Client, app_path, curl, free_port, http, read_all, read_response


def test_master_forks_the_configured_workers(gatewayd):
    s = gatewayd(workers=3)
    workers = s.wait_workers(3)
    pids = {int(Client(s.port).request(path="/pid").body) for _ in range(30)}
    assert pids <= set(workers)


def test_hello_with_curl(gatewayd):
    s = gatewayd()
    r = curl(s.url("/"))
    assert r.stdout == b"Hello, World!"


def test_swift_and_c_hello_apps(gatewayd):
    for app in ("hello", "hello-c"):
        s = gatewayd(app=app)
        with Client(s.port) as c:
            r = c.request()
            assert (r.status, r.body) == (200, b"Hello, World!")
            assert r.header("content-length") == "13"
        s.stop()


def test_keep_alive_reuses_the_connection(gatewayd):
    s = gatewayd(workers=1)
    with Client(s.port) as c:
        pids = {c.request(path="/pid").body for _ in range(5)}
        assert len(pids) == 1
        r = c.request()
        assert r.status == 200 and r.header("connection") is None


def test_pipelined_requests_are_answered_in_order(gatewayd):
    s = gatewayd()
    with Client(s.port) as c:
        c.send(b"GET /bytes?n=3 HTTP/1.1\r\nHost: x\r\n\r\n"
               b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
               b"GET /status?code=404 HTTP/1.1\r\nHost: x\r\n\r\n")
        a, b, d = c.read(), c.read(), c.read()
        assert a.body == b"012"
        assert b.body == b"hello"
        assert d.status == 404


def test_chunked_request_body_is_decoded(gatewayd):
    s = gatewayd()
    with Client(s.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: x\r\n\r\n")
        r = c.read()
        assert r.body == b"hello world"
        assert c.request().body == b"Hello, World!"


def test_streamed_response_is_chunked_on_http11(gatewayd):
    s = gatewayd()
    with Client(s.port) as c:
        r = c.request(path="/stream?chunks=5&size=1000")
        assert r.header("transfer-encoding") == "chunked"
        assert len(r.body) == 5000
        assert c.request().status == 200


def test_streamed_response_is_close_delimited_on_http10(gatewayd):
    s = gatewayd()
    raw = http(s.port, b"GET /stream?chunks=3&size=10 HTTP/1.0\r\n\r\n")
    head, body = raw.split(b"\r\n\r\n", 1)
    assert b"Transfer-Encoding" not in head
    assert b"Connection: close" in head
    assert len(body) == 30


def test_http10_keep_alive(gatewayd):
    s = gatewayd()
    with Client(s.port) as c:
        r = c.request(version="HTTP/1.0", headers={"Connection": "keep-alive"})
        assert r.header("connection") == "keep-alive"
        assert c.request(version="HTTP/1.0", headers={"Connection": "keep-alive"}).status == 200


def test_ten_megabyte_body_echoed_intact(gatewayd, workdir):
    s = gatewayd()
    path = os.path.join(workdir, "big")
    data = os.urandom(10 * 1024 * 1024)
    with open(path, "wb") as f:
        f.write(data)
    r = curl("--data-binary", "@" + path, "-H", "Content-Type: application/octet-stream", s.url("/echo"))
    assert r.stdout == data
    r = curl("--data-binary", "@" + path, "-H", "Transfer-Encoding: chunked", s.url("/echo"))
    assert r.stdout == data


def test_head_has_headers_and_no_body(gatewayd):
    s = gatewayd()
    with Client(s.port) as c:
        r = c.request(method="HEAD", path="/bytes?n=100")
        assert r.header("content-length") == "100"
        assert c.request().body == b"Hello, World!"


def test_expect_100_continue(gatewayd):
    s = gatewayd()
    with Client(s.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        interim = c.read()
        assert interim.status == 100
        c.send(b"ping")
        assert c.read().body == b"ping"


def test_unread_body_leaves_the_connection_usable(gatewayd):
    s = gatewayd()
    with Client(s.port) as c:
        r = c.request(method="POST", path="/ignore-body", body=b"x" * 100000)
        assert r.body == b"ignored"
        assert c.request().body == b"Hello, World!"
        c.send(b"POST /ignore-body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        assert c.read().body == b"ignored"
        assert c.request().body == b"Hello, World!"


def environ(port, raw):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        r = read_response(sock.makefile("rb"))
    assert r.status == 200, r.body
    return json.loads(r.body)


ENVIRON_CASES = [
    # (request line + headers, expected subset of the environ)
    (b"GET /environ HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
     {"REQUEST_METHOD": "GET", "PATH_INFO": "/environ", "QUERY_STRING": "", "SCRIPT_NAME": "",
      "SERVER_NAME": "example.com", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1",
      "REMOTE_ADDR": "127.0.0.1", "gateway.url_scheme": "http", "gateway.multithread": "0",
      "gateway.multiprocess": "1", "gateway.run_once": "0", "gateway.version": "1", "HTTP_HOST": "example.com:8080"}),
    (b"GET /environ/a%2Fb%20c HTTP/1.1\r\nHost: h\r\n\r\n", {"PATH_INFO": "/environ/a/b c", "SERVER_PORT": "80"}),
    (b"GET /environ?a=1&b=%2F&c HTTP/1.1\r\nHost: h\r\n\r\n", {"QUERY_STRING": "a=1&b=%2F&c"}),
    (b"GET /environ/caf%C3%A9 HTTP/1.1\r\nHost: h\r\n\r\n", {"PATH_INFO": "/environ/caf\u00e9"}),
    (b"GET /environ HTTP/1.1\r\nHost: h\r\nX-Test: one\r\nx-test: two\r\nX-Other: 3\r\n\r\n",
     {"HTTP_X_TEST": "one, two", "HTTP_X_OTHER": "3"}),
    (b"GET /environ HTTP/1.0\r\n\r\n", {"SERVER_PROTOCOL": "HTTP/1.0", "SERVER_NAME": "127.0.0.1"}),
    (b"POST /environ HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc",
     {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": "3"}),
    (b"GET http://other.example:81/environ?q HTTP/1.1\r\nHost: ignored\r\n\r\n",
     {"SERVER_NAME": "other.example", "SERVER_PORT": "81", "PATH_INFO": "/environ", "QUERY_STRING": "q"}),
    (b"GET /environ HTTP/1.1\r\nHost: [::1]:9000\r\n\r\n", {"SERVER_NAME": "[::1]", "SERVER_PORT": "9000"}),
    (b"GET /environ HTTP/1.1\r\nHost: h\r\nUser-Agent: t/1.0\r\nAccept-Language: fr\r\n\r\n",
     {"HTTP_USER_AGENT": "t/1.0", "HTTP_ACCEPT_LANGUAGE": "fr"}),
]


@pytest.mark.parametrize("raw,expected", ENVIRON_CASES)
def test_environ_follows_rfc3875(gatewayd, raw, expected):
    s = gatewayd(workers=1)
    e = environ(s.port, raw)
    for k, v in expected.items():
        assert e.get(k) == v, (k, e.get(k), e)
    assert e["gateway.worker_id"] == "0"
    assert e["gateway.generation"] == "1"
    assert int(e["REMOTE_PORT"]) > 0


def test_environ_omits_spoofable_and_framing_headers(gatewayd):
    s = gatewayd(workers=1)
    e = environ(s.port, b"POST /environ HTTP/1.1\r\nHost: h\r\nX_Forwarded: evil\r\nProxy: http://evil\r\n"
                        b"Content-Length: 0\r\n\r\n")
    assert "HTTP_X_FORWARDED" not in e
    assert "HTTP_PROXY" not in e
    assert "HTTP_CONTENT_LENGTH" not in e and e["CONTENT_LENGTH"] == "0"
    e = environ(s.port, b"GET /environ HTTP/1.1\r\nHost: h\r\n\r\n")
    assert "CONTENT_LENGTH" not in e and "CONTENT_TYPE" not in e


def test_app_args_reach_init(gatewayd):
    s = gatewayd(app_args={"greeting": "hi", "count": 3, "flag": True, "list": ["a", "b"]})
    args = json.loads(Client(s.port).request(path="/args").body)
    assert args == {"count": "3", "flag": "true", "greeting": "hi", "list": "a,b"}


def test_app_args_reach_init_sorted_by_name(gatewayd):
    # gateway.h and docs/gateway-interface.md: a table's names sorted (byte
    # order), whatever the order of the file.
    s = gatewayd(app_args={"zeta": "1", "alpha": "2", "Mid": "3", "beta": "4"})
    pairs = json.loads(Client(s.port).request(path="/args").body, object_pairs_hook=list)
    assert [k for k, _ in pairs] == ["Mid", "alpha", "beta", "zeta"]


def test_idle_keepalive_connections_do_not_block_new_clients(gatewayd):
    s = gatewayd(workers=2)
    idle = []
    for _ in range(12):
        c = Client(s.port)
        assert c.request().status == 200
        idle.append(c)
    r = curl("-m", "3", s.url("/"))
    assert r.stdout == b"Hello, World!"
    for c in idle:
        c.close()


def test_app_errors_become_500_or_an_aborted_connection(gatewayd):
    s = gatewayd()
    with Client(s.port) as c:
        r = c.request(path="/error")
        assert r.status == 500
        assert c.request().body == b"Hello, World!"  # the request was well framed: connection kept
    with Client(s.port) as c:
        r = c.request(path="/hop")
        assert r.status == 500
    s.wait_log("hop-by-hop header")
    raw = http(s.port, b"GET /error-after HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200")
    assert not raw.endswith(b"0\r\n\r\n")  # the chunked body was never terminated
    s.wait_log("connection aborted")


def test_start_response_replace(gatewayd):
    s = gatewayd()
    r = Client(s.port).request(path="/replace")
    assert (r.status, r.body) == (503, b"replaced")


def test_sendfile_serves_a_file(gatewayd, workdir):
    s = gatewayd()
    path = os.path.join(workdir, "file.bin")
    data = os.urandom(300000)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    with Client(s.port) as c:
        r = c.request(path="/file?path=" + path)
        assert r.body == data
        assert c.request().status == 200


def test_errors_stream_goes_to_the_error_log(gatewayd):
    s = gatewayd()
    Client(s.port).request(path="/log?msg=hello%20errors")
    s.wait_log("hello errors")


@pytest.mark.parametrize("app,expected", [
    ("/nonexistent/app.so", ["/nonexistent/app.so", "dlopen"]),
    ("broken-nosymbol", ["broken-nosymbol.so", "gateway_app"]),
    ("broken-badabi", ["broken-badabi.so", "version 99", "version 1"]),
    ("broken-nocall", ["broken-nocall.so", "call"]),
    ("broken-initfail", ["broken-initfail.so", "database unreachable"]),
    ("broken-crashinit", ["SIGABRT"]),
])
def test_app_load_failure_exits_nonzero_with_a_clear_message(gatewayd, app, expected):
    s = gatewayd(app=app, start=False)
    t = time.time()
    s.start(wait=False)
    code = s.wait_exit(timeout=15)
    assert code != 0
    assert time.time() - t < 10
    log = s.log()
    for text in expected:
        assert text in log, log
    assert log.count("spawned") <= 2  # no respawn loop


def test_bad_config_names_file_line_and_key(workdir):
    conf = os.path.join(workdir, "bad.conf")
    with open(conf, "w") as f:
        f.write('bind = ["127.0.0.1:1"]\napp = "x.so"\nworkerz = 3\n')
    r = subprocess.run([GATEWAYD, "--check-config", "-c", conf], capture_output=True, text=True)
    assert r.returncode == 1
    assert f"{conf}:3" in r.stderr and "workerz" in r.stderr
    with open(conf, "w") as f:
        f.write('bind = ["127.0.0.1:1"]\napp = "x.so"\n\nworkers = "many"\n')
    r = subprocess.run([GATEWAYD, "-c", conf], capture_output=True, text=True)
    assert r.returncode == 1
    assert f"{conf}:4" in r.stderr and "workers" in r.stderr and "integer" in r.stderr


def test_check_config_accepts_the_shipped_file():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run([GATEWAYD, "--check-config", "-c", os.path.join(root, "etc", "gatewayd.conf")])
    assert r.returncode == 0


def test_command_line_overrides_the_file(gatewayd):
    port = free_port()
    s = gatewayd(workers=1, extra_args=["--workers", "3", "--bind", f"127.0.0.1:{port}"], start=False)
    s.port = port
    s.settings["workers"] = 3
    s.start()
    assert len(s.wait_workers(3)) == 3


def test_unix_socket_listener(gatewayd, workdir):
    path = os.path.join(workdir, "gw.sock")
    s = gatewayd(bind=[f"unix:{path}"], unix_socket_mode="0666", start=False)
    s.start(wait=False)
    deadline = time.time() + 10
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.05)
    s.wait_log("workers ready")
    r = curl("--unix-socket", path, "http://localhost/environ")
    e = json.loads(r.stdout)
    assert e["REMOTE_ADDR"] == ""
    assert oct(os.stat(path).st_mode & 0o777) == "0o666"
    s.signal(signal.SIGTERM)
    assert s.wait_exit() == 0
    assert not os.path.exists(path)


def test_sigterm_finishes_in_flight_requests(gatewayd, workdir):
    pidfile = os.path.join(workdir, "gw.pid")
    s = gatewayd(pidfile=pidfile)
    assert int(open(pidfile).read()) == s.pid
    result = {}

    def slow():
        result["r"] = curl("-m", "10", "-w", "%{http_code}", s.url("/sleep?seconds=2"))
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.5)
    s.signal(signal.SIGTERM)
    t.join()
    assert result["r"].stdout.endswith(b"200")
    assert s.wait_exit() == 0
    assert not os.path.exists(pidfile)


def test_sigint_is_a_fast_stop(gatewayd):
    s = gatewayd()
    c = Client(s.port)
    c.send(b"GET /sleep?seconds=20 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    t = time.time()
    s.signal(signal.SIGINT)
    assert s.wait_exit(timeout=10) == 0
    assert time.time() - t < 5
