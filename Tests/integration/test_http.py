"""HTTP/1.1 behaviour of the real server: limits, timeouts, errors on the
wire, slowloris, the access log. The parser's case table is in
Tests/ServerCoreTests (unit tests); these check what a client sees."""
import os
import re
import socket
import threading
import time

from conftest import Client, http, read_all, read_response


def status_of(raw):
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else None


def test_bad_requests_get_the_right_status_and_close(gatewayd):
    s = gatewayd(limit_request_line=100, limit_request_fields=5, limit_request_field_size=200, max_body_size=1000)
    cases = [
        (b"GET / HTTP/1.1\r\n\r\n", 400),                                   # no Host
        (b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"v" * 300 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(10)) + b"\r\n", 431),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n", 417),
        (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400),
    ]
    for raw, expected in cases:
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
            # a second request behind the bad one must not be served
            sock.sendall(raw + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            data = read_all(sock, 5)
        assert status_of(data) == expected, (raw[:60], data[:100])
        assert b"Connection: close" in data
        assert data.count(b"HTTP/1.1 ") == 1, data
    log = s.log()
    for reason in ("without Host", "request line too long", "header field too long", "too many header fields",
                   "max_body_size", "version not supported", "CONNECT", "both Transfer-Encoding and Content-Length",
                   "Expect", "whitespace between", "obsolete line folding"):
        assert reason in log, reason


def test_413_is_sent_before_the_body(gatewayd):
    s = gatewayd(max_body_size=1000)
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        assert status_of(read_all(sock, 3)) == 413


def test_chunked_body_over_the_limit_is_413(gatewayd):
    s = gatewayd(max_body_size=10)
    raw = http(s.port, b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n")
    assert status_of(raw) == 413
    raw = http(s.port, b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"8\r\n12345678\r\n0\r\n\r\n")
    assert raw.endswith(b"\r\n\r\n8")


def test_keepalive_timeout_closes_idle_connections(gatewayd):
    s = gatewayd(keepalive_timeout=1)
    with Client(s.port) as c:
        assert c.request().status == 200
        t = time.time()
        assert c.sock.recv(10) == b""  # closed by the server
        assert time.time() - t < 4


def test_header_timeout_closes_slow_heads(gatewayd):
    s = gatewayd(header_timeout=1)
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        t = time.time()
        read_all(sock, 6)
        assert time.time() - t < 5
    s.wait_log("header_timeout")


def test_slowloris_does_not_starve_normal_clients(gatewayd):
    """300 connections trickle header bytes; a normal client's requests all succeed."""
    s = gatewayd(workers=2, header_timeout=30)
    stop = threading.Event()
    slow = []
    for _ in range(300):
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        sock.sendall(b"GET / HTTP/1.1\r\n")
        slow.append(sock)

    def trickle():
        i = 0
        while not stop.is_set():
            for sock in slow:
                try:
                    sock.sendall(b"X-%d: y\r\n" % i)
                except OSError:
                    pass
            i += 1
            time.sleep(0.2)
    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        ok = 0
        for _ in range(100):
            with Client(s.port, timeout=5) as c:
                r = c.request()
                assert r.status == 200
                ok += 1
        assert ok == 100
    finally:
        stop.set()
        t.join()
        for sock in slow:
            sock.close()


def test_request_after_an_error_on_a_new_connection(gatewayd):
    s = gatewayd()
    assert status_of(http(s.port, b"GARBAGE\r\n\r\n")) == 400
    with Client(s.port) as c:
        assert c.request().status == 200


def test_access_log_combined(gatewayd, workdir):
    path = os.path.join(workdir, "access.log")
    s = gatewayd(access_log=path)
    with Client(s.port) as c:
        c.request(path="/bytes?n=7", headers={"User-Agent": "tester/1", "Referer": "http://r/"})
    deadline = time.time() + 5
    while time.time() < deadline and not (os.path.exists(path) and open(path).read().endswith("\n")):
        time.sleep(0.05)
    line = open(path).read().strip()
    assert re.match(r'^127\.0\.0\.1 - - \[\d\d/\w\w\w/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /bytes\?n=7 HTTP/1\.1" 200 7 "http://r/" "tester/1"$', line), line


def test_access_log_custom_format(gatewayd, workdir):
    path = os.path.join(workdir, "access.log")
    s = gatewayd(access_log=path, access_log_format="$method $path $status $request_time_us gen=$generation")
    Client(s.port).request(path="/sleep?seconds=0.05")
    time.sleep(0.2)
    method, p, status, micros, gen = open(path).read().split()
    assert (method, p, status, gen) == ("GET", "/sleep", "200", "gen=1")
    assert int(micros) >= 50000


def test_a_trailer_that_is_not_a_field_is_a_400_and_a_close(gatewayd):
    # A front end that ends the body at "0\r\n" would read the trailer as a
    # second request: gatewayd must refuse it, not answer one request.
    s = gatewayd()
    for trailer in (b"GET /x HTTP/1.1\r\nHost: a\r\n", b"not a field\r\n", b"X-T: 1\r\n folded\r\n",
                    b": v\r\n", b"X-T : 1\r\n"):
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
            sock.sendall(b"POST /count HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n0\r\n" + trailer + b"\r\n" + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            data = read_all(sock, 5)
        assert status_of(data) == 400, (trailer, data[:200])
        assert data.count(b"HTTP/1.1 ") == 1 and b"Connection: close" in data, (trailer, data)
    # valid trailers still end the body
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
        sock.sendall(b"POST /count HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                     b"5\r\nhello\r\n0\r\nX-Checksum: 1\r\nX-Empty:\r\n\r\n")
        data = read_all(sock, 5)
    assert status_of(data) == 200 and data.endswith(b"5"), data


def test_a_malformed_chunked_body_in_hand_is_refused_before_the_app(gatewayd):
    """`/` does not read the body: the app must not answer a request whose
    body the event loop already holds and can see is malformed."""
    s = gatewayd()
    for body in (b"zz\r\n", b"5\r\nhelloXX0\r\n\r\n", b"2;\r\nhi\r\n0\r\n\r\n", b"3735AB1;foo bar*\r\nhi\r\n"):
        raw = http(s.port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body
                   + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(raw) == 400, (body, raw[:200])
        assert b"Hello, World!" not in raw and raw.count(b"HTTP/1.1 ") == 1, raw


def test_bare_lf_is_refused_so_a_hidden_field_cannot_frame_the_body(gatewayd):
    s = gatewayd()
    raw = http(s.port, b"POST / HTTP/1.1\r\nHost: x\r\nDummy: x\nContent-Length: 23\r\n\r\n"
                       b"GET /pid HTTP/1.1\r\n\r\n")
    assert status_of(raw) == 400 and raw.count(b"HTTP/1.1 ") == 1, raw
    assert status_of(http(s.port, b"GET / HTTP/1.1\nHost: x\n\n")) == 400


def test_chunk_extensions_bws_before_the_semicolon_is_accepted(gatewayd):
    s = gatewayd()
    raw = http(s.port, b"POST /echo-whole HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"6 ; comment\r\nhello!\r\n0\r\n\r\n")
    assert status_of(raw) == 200 and raw.endswith(b"hello!"), raw
