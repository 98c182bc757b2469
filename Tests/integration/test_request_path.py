"""The worker's request/response path as a client and an operator see it:
the request head intact whatever the body does, responses an app cannot
mis-frame, lingering close, timeouts that win over the app. The framing
rules themselves are unit-tested as bytes (Tests/ServerCoreTests/
ResponseEncoderTests.swift); these run the real binary."""
import json
import os
import re
import socket
import subprocess
import threading
import time
from urllib.parse import quote

import pytest

from conftest import Client, free_port, http, read_all, read_response


def start_nginx(workdir, http_block):
    """A real nginx with `http_block` inside http {}; returns its stop function."""
    conf = os.path.join(workdir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1; pid {workdir}/nginx.pid; error_log {workdir}/nginx.err;
events {{}}
http {{ client_body_temp_path {workdir}/body; proxy_temp_path {workdir}/proxy; {http_block} }}
""")
    subprocess.run(["nginx", "-c", conf], check=True)
    return lambda: subprocess.run(["nginx", "-c", conf, "-s", "stop"], capture_output=True)


def chunked(data, size):
    out = b""
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def environ_after_upload(port, body_bytes, split=None, pause=0.0, extra_headers=b""):
    """POSTs a chunked body to an app that reads it before any getenv; the environ it answers."""
    head = (b"POST /read-then-environ?q=1 HTTP/1.1\r\nHost: good.example\r\n" + extra_headers +
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    raw = head + body_bytes
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        if split is None:
            s.sendall(raw)
        else:
            for i in range(0, len(raw), split):
                s.sendall(raw[i:i + split])
                if pause:
                    time.sleep(pause)
        f = s.makefile("rb")
        r = read_response(f)
    assert r.status == 200, r.body[:200]
    return json.loads(r.body)


# The reproduction of the issue: one write, a 16 KB chunk of Q.
ISSUE_BODY = b"4000\r\n" + b"Q" * 16384 + b"\r\n0\r\n\r\n"


def test_a_chunked_body_leaves_the_head_intact(gatewayd):
    s = gatewayd(access_log="access.log", workers=1, app_args={"read_first": "1"})
    env = environ_after_upload(s.port, ISSUE_BODY)
    assert env["REQUEST_METHOD"] == "POST"
    assert env["PATH_INFO"] == "/read-then-environ"
    assert env["QUERY_STRING"] == "q=1"
    assert env["HTTP_HOST"] == "good.example"
    assert env["SERVER_NAME"] == "good.example"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    time.sleep(0.3)
    access = open(os.path.join(s.workdir, "access.log"), "rb").read()
    assert b'"POST /read-then-environ?q=1 HTTP/1.1" 200' in access, access[-300:]
    assert b"QQQQ" not in access
    log = s.log()
    assert "read 16384 body bytes (POST /read-then-environ?q=1)" in log, log[-1000:]
    assert "QQQQ" not in log


@pytest.mark.parametrize("size,chunk,split", [
    (1, 1, None), (100, 7, 3), (8190, 8190, None), (65536, 4096, None),
    (200_000, 65536, 1024), (300_000, 1000, 60_000), (40_000, 40_000, 1),
])
def test_chunked_uploads_of_any_size_and_split_keep_the_head(gatewayd, size, chunk, split):
    s = gatewayd(workers=1, app_args={"read_first": "1"})
    # Body bytes that look like header lines: they must never reach the environ.
    data = (b"\r\nX-Forwarded-For: 6.6.6.6\r\nHost: evil\r\n" * (size // 40 + 1))[:size]
    env = environ_after_upload(s.port, chunked(data, chunk), split=split,
                               extra_headers=b"X-Forwarded-For: 198.51.100.1\r\n")
    assert env["REQUEST_METHOD"] == "POST"
    assert env["HTTP_HOST"] == "good.example"
    assert env["HTTP_X_FORWARDED_FOR"] == "198.51.100.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1" or env["REMOTE_ADDR"] == "198.51.100.1"
    assert "6.6.6.6" not in json.dumps(env)


def test_a_head_that_nearly_fills_the_buffer_still_survives(gatewayd):
    s = gatewayd(workers=1, app_args={"read_first": "1"})
    big = b"X-Pad: " + b"p" * 7900 + b"\r\n"
    env = environ_after_upload(s.port, chunked(b"Z" * 50_000, 3000), extra_headers=big)
    assert env["HTTP_X_PAD"] == "p" * 7900
    assert env["REQUEST_METHOD"] == "POST"


def respond(port, method="GET", **params):
    q = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    raw = f"{method} /respond?{q} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()
    return http(port, raw)


def status_line(raw):
    return raw.split(b"\r\n", 1)[0].decode("latin-1")


def headers_of(raw):
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return [tuple(x.strip() for x in h.split(":", 1)) for h in head]


@pytest.mark.parametrize("status", ["100 Continue", "101 Switching Protocols", "199 X", "600 X", "999 X", "99 X"])
def test_the_app_cannot_send_an_interim_or_impossible_status(gatewayd, status):
    s = gatewayd(workers=1)
    raw = respond(s.port, status=status, body="x")
    assert status_line(raw) == "HTTP/1.1 500 Internal Server Error", raw[:200]
    assert raw.count(b"HTTP/1.1 ") == 1
    assert "invalid status" in s.log()


def test_a_status_without_a_reason_gets_one(gatewayd):
    s = gatewayd(workers=1)
    assert status_line(respond(s.port, status="200", body="x")) == "HTTP/1.1 200 OK"
    assert status_line(respond(s.port, status="404", body="x")) == "HTTP/1.1 404 Not Found"


def test_a_101_from_the_app_does_not_open_a_tunnel_through_nginx(gatewayd, workdir):
    """Behind nginx, a 101 would make nginx tunnel the client's next request unseen."""
    gport = free_port()
    s = gatewayd(workers=1, port=gport)
    nport = free_port()
    stop = start_nginx(workdir, f"""access_log {workdir}/nginx.access;
  server {{ listen 127.0.0.1:{nport};
    location / {{ proxy_pass http://127.0.0.1:{gport}; proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"; }} }}""")
    try:
        raw = (f"GET /respond?status={quote('101 Switching Protocols')} HTTP/1.1\r\nHost: t\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
               "GET /environ HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n").encode()
        data = http(nport, raw, timeout=5)
        assert b"101" not in status_line(data).encode()
        assert data.count(b"HTTP/1.1 ") == 2, data
        time.sleep(0.3)
        # nginx saw (and logged) the second request itself: no tunnel.
        lines = open(f"{workdir}/nginx.access").read().splitlines()
        assert len(lines) == 2 and "GET /environ" in lines[1], lines
    finally:
        stop()


def test_conflicting_or_invalid_content_length_from_the_app_is_a_500(gatewayd):
    s = gatewayd(workers=1)
    raw = respond(s.port, h1="Content-Length:5", h2="Content-Length:7", body="12345")
    assert status_line(raw) == "HTTP/1.1 500 Internal Server Error"
    raw = respond(s.port, h1="Content-Length:five", body="12345")
    assert status_line(raw) == "HTTP/1.1 500 Internal Server Error"
    raw = respond(s.port, h1="Content-Length:5, 5", body="12345")
    assert status_line(raw) == "HTTP/1.1 500 Internal Server Error"
    raw = respond(s.port, h1="Content-Length:5", h2="Content-Length:5", body="12345")
    assert status_line(raw) == "HTTP/1.1 200 OK"
    assert [v for k, v in headers_of(raw) if k.lower() == "content-length"] == ["5"]


def test_the_apps_date_and_server_replace_the_servers(gatewayd):
    s = gatewayd(workers=1)
    raw = respond(s.port, h1="Date:Mon, 01 Jan 2024 00:00:00 GMT", h2="Server:myapp", body="x")
    h = headers_of(raw)
    assert [v for k, v in h if k.lower() == "date"] == ["Mon, 01 Jan 2024 00:00:00 GMT"]
    assert [v for k, v in h if k.lower() == "server"] == ["myapp"]


def test_a_write_past_the_content_length_sends_nothing_of_it(gatewayd):
    s = gatewayd(workers=1)
    raw = respond(s.port, h1="Content-Length:5", body="0123456789", mode="write")
    assert status_line(raw) == "HTTP/1.1 500 Internal Server Error", raw
    assert b"01234" not in raw


def test_head_of_an_empty_unsized_body_has_no_content_length(gatewayd):
    s = gatewayd(workers=1)
    raw = respond(s.port, method="HEAD", mode="none", h1="Content-Type:text/html")
    assert status_line(raw) == "HTTP/1.1 200 OK"
    assert not [v for k, v in headers_of(raw) if k.lower() == "content-length"], raw
    get = respond(s.port, body="abc")
    head = respond(s.port, method="HEAD", body="abc")
    assert [v for k, v in headers_of(head) if k.lower() == "content-length"] == ["3"]
    assert get.endswith(b"abc") and head.endswith(b"\r\n\r\n")


def send_then_read(port, head, body, timeout=15):
    """Sends head+body from a thread while reading the response; returns (response bytes, error)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    errors = []

    def writer():
        try:
            sock.sendall(head + body)
        except OSError as e:
            errors.append(e)

    t = threading.Thread(target=writer)
    t.start()
    data = b""
    err = None
    try:
        while True:
            b = sock.recv(65536)
            if not b:
                break
            data += b
    except OSError as e:
        err = e
    t.join(timeout)
    sock.close()
    return data, err


def test_an_unread_large_body_does_not_reset_the_response(gatewayd):
    s = gatewayd(workers=1)
    body = b"x" * (5 << 20)
    head = b"POST /ignore-body HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
    data, err = send_then_read(s.port, head, body)
    assert err is None, err
    assert status_line(data) == "HTTP/1.1 200 OK", data[:100]
    assert data.endswith(b"ignored")


def test_a_refused_request_body_gets_its_413_not_a_reset(gatewayd):
    s = gatewayd(workers=1, max_body_size=1000)
    body = b"x" * (3 << 20)
    head = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
    data, err = send_then_read(s.port, head, body)
    assert err is None, err
    assert status_line(data) == "HTTP/1.1 413 Content Too Large"


def test_a_chunked_body_over_max_body_size_is_a_413_to_the_client(gatewayd):
    s = gatewayd(workers=1, max_body_size=1000)
    head = b"POST /count HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    data, err = send_then_read(s.port, head, chunked(b"y" * 5000, 500))
    assert status_line(data) == "HTTP/1.1 413 Content Too Large", data[:200]
    assert "client went away" not in s.log()


def test_an_unread_large_body_through_nginx_is_the_apps_200(gatewayd, workdir):
    """The shipped nginx site (request buffering on) in front of a unix socket."""
    sock = os.path.join(workdir, "gw.sock")
    gport = free_port()
    s = gatewayd(workers=1, bind=[f"unix:{sock}", f"127.0.0.1:{gport}"], port=gport, unix_socket_mode=0o666)
    site = open(os.path.join(os.path.dirname(__file__), "..", "..", "etc", "nginx", "gatewayd.conf")).read()
    nport = free_port()
    site = site.replace("unix:/run/gatewayd/gatewayd.sock", f"unix:{sock}")
    site = re.sub(r"listen \[::\]:80;", "", site)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{nport};")
    site = re.sub(r"access_log [^;]+;", f"access_log {workdir}/nginx.access;", site)
    site = re.sub(r"error_log [^;]+;", f"error_log {workdir}/nginx.err;", site)
    stop = start_nginx(workdir, site)
    try:
        body = b"x" * (5 << 20)
        head = b"POST /ignore-body HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
        for _ in range(3):
            data, err = send_then_read(nport, head, body)
            assert status_line(data) == "HTTP/1.1 200 OK", (data[:200], open(f"{workdir}/nginx.err").read()[-500:])
    finally:
        stop()


def test_a_timeout_answers_exactly_504_even_when_the_app_wakes_up(gatewayd):
    s = gatewayd(workers=1, timeout=2)
    start = time.time()
    data = http(s.port, b"GET /sleep?seconds=5&once=1 HTTP/1.1\r\nHost: t\r\n\r\n", timeout=15)
    took = time.time() - start
    assert status_line(data) == "HTTP/1.1 504 Gateway Timeout", data[:200]
    assert data.count(b"HTTP/1.1 ") == 1, data
    assert b"slept" not in data
    h = headers_of(data)
    assert [k for k, v in h if k.lower() == "date"], h
    assert took < 10
    time.sleep(1)
    assert "slept" not in s.log()


def test_a_client_that_abandons_an_upload_is_not_an_app_error(gatewayd):
    s = gatewayd(workers=1)
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(b"POST /count HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + b"a" * 1000)
        time.sleep(0.3)
    time.sleep(0.5)
    log = s.log()
    assert "client went away" in log
    assert "500" not in log
    assert "[error]" not in log, log[-800:]


def test_body_bytes_cannot_forge_remote_addr_behind_nginx_streaming_uploads(gatewayd, workdir):
    """nginx with proxy_request_buffering off streams the chunked body: the
    X-Forwarded-For nginx set must stay what the app sees."""
    gport = free_port()
    s = gatewayd(workers=1, port=gport, app_args={"read_first": "1"})
    nport = free_port()
    stop = start_nginx(workdir, f"""access_log off;
  server {{ listen 127.0.0.1:{nport};
    location / {{ proxy_pass http://127.0.0.1:{gport}; proxy_http_version 1.1;
      proxy_request_buffering off; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; }} }}""")
    try:
        forged = b"\r\nX-Forwarded-For: 6.6.6.6\r\n" * 2000
        for chunk in (7, 1000, 16384):
            env = environ_after_upload(nport, chunked(forged, chunk), split=4096)
            assert env["REMOTE_ADDR"] == "127.0.0.1", env["REMOTE_ADDR"]
            assert env["HTTP_X_FORWARDED_FOR"] == "127.0.0.1"
            assert env["REQUEST_METHOD"] == "POST"
    finally:
        stop()


def test_a_refused_start_response_stays_refused(gatewayd):
    s = gatewayd(workers=1)
    for bad in ({"h1": "Connection:x"}, {"status": "600 X"}, {"h1": "Content-Length:x"}):
        raw = respond(s.port, retry="1", body="d", **bad)
        assert status_line(raw) == "HTTP/1.1 500 Internal Server Error", (bad, raw[:200])


def test_a_spooled_body_left_unread_keeps_the_connection(gatewayd):
    """The loop read the whole body (spooled) before the app: what the app
    left unread is skipped, and the connection serves the next request."""
    s = gatewayd(workers=1)
    body = b"x" * (6 << 20)
    with Client(s.port) as c:
        r = c.request("POST", "/ignore-body", body=body)
        assert r.status == 200 and r.header("connection") is None
        assert c.request(path="/").body == b"Hello, World!"


def test_a_body_left_unread_announces_the_close(gatewayd):
    """A 200 that is followed by a close says Connection: close, so a
    keep-alive client does not send its next request into the void
    (a body streamed to the app: spooling off)."""
    s = gatewayd(workers=1, body_spool_max_size=0)
    body = b"x" * (6 << 20)
    head = b"POST /ignore-body HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
    data, err = send_then_read(s.port, head, body)
    assert status_line(data) == "HTTP/1.1 200 OK"
    assert [v for k, v in headers_of(data) if k.lower() == "connection"] == ["close"], data[:300]
    # within the drain budget the connection stays open and says nothing
    with Client(s.port) as c:
        r = c.request("POST", "/ignore-body", body=b"y" * 100_000)
        assert r.status == 200 and r.header("connection") is None
        assert c.request(path="/").body == b"Hello, World!"
    # Expect: 100-continue, never read: the client has not sent the body
    # (one bigger than body_buffer_size: a smaller one gets 100 Continue at
    # once, the event loop reading it before the app is called)
    raw = http(s.port, b"POST /ignore-body HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
    assert b"100 Continue" not in raw
    assert [v for k, v in headers_of(raw) if k.lower() == "connection"] == ["close"], raw


def test_head_gets_no_body_from_the_servers_own_responses(gatewayd):
    s = gatewayd(workers=1, timeout=2)
    for bad in (b"HEAD /a%00 HTTP/1.1\r\nHost: t\r\n\r\n", b"HEAD / HTTP/1.1\r\nHost: t\r\nExpect: x\r\n\r\n"):
        raw = http(s.port, bad)
        assert status_line(raw).split(" ")[1] in ("400", "417"), raw
        assert raw.endswith(b"\r\n\r\n"), raw
    raw = http(s.port, b"HEAD /sleep?seconds=4&once=1 HTTP/1.1\r\nHost: t\r\n\r\n", timeout=10)
    assert status_line(raw) == "HTTP/1.1 504 Gateway Timeout"
    assert raw.endswith(b"\r\n\r\n"), raw


def test_refused_requests_are_in_the_access_log_with_their_line(gatewayd):
    s = gatewayd(workers=1, access_log="access.log", access_log_format="$request $status $body_bytes_sent")
    http(s.port, b"GET /a%00b HTTP/1.1\r\nHost: t\r\n\r\n")
    http(s.port, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    http(s.port, b"GET /error HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    time.sleep(0.3)
    lines = open(os.path.join(s.workdir, "access.log")).read().splitlines()
    assert lines[0] == "GET /a%00b HTTP/1.1 400 16", lines
    assert lines[1] == "POST / HTTP/1.1 400 16", lines
    assert lines[2] == "GET /error HTTP/1.1 500 26", lines
    log = s.log()
    assert "400 Bad Request: both Transfer-Encoding and Content-Length (client 127.0.0.1: POST / HTTP/1.1)" in log, log[-1500:]


def test_after_a_timeout_the_same_worker_still_answers_a_refused_request(gatewayd):
    """The master's claim on the timed-out request must not silence the
    worker's next answers (a 400 is given outside any request)."""
    s = gatewayd(workers=1, timeout=2)
    for _ in range(3):
        raw = http(s.port, b"GET /sleep?seconds=4&once=1 HTTP/1.1\r\nHost: t\r\n\r\n", timeout=10)
        assert status_line(raw) == "HTTP/1.1 504 Gateway Timeout"
        raw = http(s.port, b"GET /a%00 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert status_line(raw) == "HTTP/1.1 400 Bad Request", raw
