"""Slow clients pin nothing (body_buffer_size, response_buffer_size): with
one worker, a client that trickles its body or reads its response slowly
must not delay anybody else. Each test would hang (or time out) with both
keys at 0, as the worker then waits on the slow client inside the request.

A slow reader needs a small kernel send buffer: on loopback the kernel takes
megabytes from a client that does not read, so testapp's /bytes sets its
socket's SO_SNDBUF first (sndbuf=4096) as a long link's window would."""

import os
import signal
import socket
import threading
import time

import pytest

from conftest import Client, get, read_response, wait_until

SLOW_READ = "/bytes?n=32768&sndbuf=4096"


class Trickler(threading.Thread):
    """Sends `head`, then `body` one byte every `interval` seconds, then
    reads the response. `left` says how many bytes are still to be sent."""

    def __init__(self, port, head, body, interval=0.02):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.head, self.body, self.interval = head, body, interval
        self.left = len(body)
        self.response = None
        self.error = None
        self.sock.sendall(head)

    def run(self):
        try:
            for i in range(len(self.body)):
                self.sock.sendall(self.body[i:i + 1])
                self.left -= 1
                time.sleep(self.interval)
            self.response = read_response(self.sock.makefile("rb"))
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            self.sock.close()


def post_head(path, length=None, extra=""):
    framing = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return f"POST {path} HTTP/1.1\r\nHost: t\r\n{framing}{extra}\r\n".encode()


def chunked(data, size=7):
    out = b""
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def slow_reader(port, path=SLOW_READ):
    """A client with a small receive buffer that sends a request and reads nothing yet."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    return s


def read_slowly(s, pause=0.005):
    r = read_response(_SlowFile(s, pause))
    return r


class _SlowFile:
    """A file over a socket that recv()s 1 KB at a time with a pause: a slow reader."""

    def __init__(self, s, pause):
        self.s, self.pause, self.buf = s, pause, b""

    def _more(self):
        time.sleep(self.pause)
        b = self.s.recv(1024)
        if not b:
            raise EOFError("connection closed")
        self.buf += b

    def readline(self):
        while b"\n" not in self.buf:
            self._more()
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read(self, n):
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def expected_pattern(n):
    alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
    return (alphabet * (n // 64 + 1))[:n]


# MARK: request bodies


def test_a_trickled_body_does_not_delay_a_normal_request(gatewayd):
    s = gatewayd(workers=1)
    body = b"x" * 150
    t = Trickler(s.port, post_head("/echo", len(body)), body)
    t.start()
    time.sleep(0.3)
    # Served while the trickle is far from over (150 bytes at 20 ms: 3 s).
    assert get(s.port, "/") == (200, b"Hello, World!")
    assert t.left > 0, "the normal request waited for the trickle"
    t.join(20)
    assert t.error is None and t.response.status == 200 and t.response.body == body


def test_a_trickled_chunked_body_is_held_too(gatewayd):
    s = gatewayd(workers=1)
    data = bytes(range(65, 91)) * 4
    t = Trickler(s.port, post_head("/echo"), chunked(data), interval=0.01)
    t.start()
    time.sleep(0.3)
    assert get(s.port, "/") == (200, b"Hello, World!")
    assert t.left > 0, "the normal request waited for the chunked trickle"
    t.join(20)
    assert t.error is None and t.response.status == 200 and t.response.body == data


def test_100_continue_is_sent_before_the_body_is_held(gatewayd):
    s = gatewayd(workers=1)
    body = b"y" * 80
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(post_head("/echo", len(body), "Expect: 100-continue\r\n"))
        f = c.makefile("rb")
        assert f.readline() == b"HTTP/1.1 100 Continue\r\n" and f.readline() == b"\r\n"
        c.sendall(body[:10])
        # The body is held by the loop: another client is served meanwhile.
        assert get(s.port, "/") == (200, b"Hello, World!")
        c.sendall(body[10:])
        r = read_response(f)
        assert r.status == 200 and r.body == body  # no second 100 Continue before it


def test_a_body_bigger_than_body_buffer_size_is_spooled_and_the_app_called_once_it_is_whole(gatewayd):
    s = gatewayd(workers=1, body_buffer_size=1024)
    body = os.urandom(8192)
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.sendall(post_head("/echo", len(body)) + body[:2048])
        # Nothing comes back while the body is incomplete: the app is not called yet.
        c.settimeout(0.5)
        with pytest.raises(socket.timeout):
            c.recv(1)
        c.settimeout(5)
        c.sendall(body[2048:])
        f = c.makefile("rb")
        r = read_response(f, head_only=True)
        assert r.status == 200
        assert f.read(len(body)) == body


def test_with_spooling_off_a_body_bigger_than_body_buffer_size_streams_to_the_app(gatewayd):
    s = gatewayd(workers=1, body_buffer_size=1024, body_spool_max_size=0)
    body = os.urandom(8192)
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.sendall(post_head("/echo", len(body)) + body[:2048])
        # The app echoes what it read before the rest is even sent.
        f = c.makefile("rb")
        r = read_response(f, head_only=True)
        assert r.status == 200
        assert f.read(2048) == body[:2048]
        c.sendall(body[2048:])
        assert f.read(len(body) - 2048) == body[2048:]


def test_a_stalled_held_body_gets_408_after_body_timeout(gatewayd):
    s = gatewayd(workers=1, body_timeout=1)
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(post_head("/echo", 100) + b"z" * 10)
        assert get(s.port, "/") == (200, b"Hello, World!")
        started = time.time()
        r = read_response(c.makefile("rb"))
        assert r.status == 408 and r.header("connection") == "close"
        assert time.time() - started < 5
    s.wait_log("request body not received within body_timeout")


def test_with_body_buffer_size_0_the_app_reads_the_body_itself(gatewayd):
    # The old behaviour, kept: the app is called at once and waits on the body.
    s = gatewayd(workers=1, body_buffer_size=0, body_timeout=1)
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(post_head("/echo-whole", 100) + b"z" * 10)
        r = read_response(c.makefile("rb"))
        assert r.status == 408


# MARK: responses


def test_a_slow_reader_does_not_block_another_client(gatewayd):
    s = gatewayd(workers=1, body_timeout=20)
    a = slow_reader(s.port)
    time.sleep(0.3)
    assert get(s.port, "/", timeout=5) == (200, b"Hello, World!")
    with Client(s.port, timeout=5) as b:  # keep-alive after it too
        assert b.request().status == 200 and b.request().status == 200
    r = read_slowly(a)
    a.close()
    assert r.status == 200 and r.body == expected_pattern(32768)


def test_keep_alive_and_pipelining_go_on_after_a_held_response(gatewayd):
    s = gatewayd(workers=1)
    a = slow_reader(s.port)
    a.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # pipelined behind the held one
    time.sleep(0.3)
    assert get(s.port, "/") == (200, b"Hello, World!")
    f = _SlowFile(a, 0.002)
    assert read_response(f).body == expected_pattern(32768)
    assert read_response(f).body == b"Hello, World!"
    a.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert read_response(f).body == b"Hello, World!"
    a.close()


def test_a_stalled_reader_is_dropped_after_body_timeout(gatewayd, workdir):
    log = os.path.join(workdir, "access.log")
    s = gatewayd(workers=1, body_timeout=1, access_log=log, access_log_format="$status $body_bytes_sent $request")
    a = slow_reader(s.port)
    s.wait_log("client stopped reading the response for body_timeout", timeout=5)
    # The line says what went out, less than the whole response.
    line = wait_until(lambda: open(log).read().strip(), what="the access log line")
    status, sent, request = line.split(" ", 2)
    assert status == "200" and 0 < int(sent) < 32768 and request.startswith("GET /bytes")
    a.close()
    assert get(s.port, "/") == (200, b"Hello, World!")


def test_the_access_log_line_of_a_held_response_counts_every_byte(gatewayd, workdir):
    log = os.path.join(workdir, "access.log")
    s = gatewayd(workers=1, access_log=log, access_log_format="$status $body_bytes_sent $request_time_us $request")
    a = slow_reader(s.port)
    time.sleep(0.5)
    assert get(s.port, "/") == (200, b"Hello, World!")
    # The normal request is logged first: the held one only once it is sent.
    wait_until(lambda: open(log).read().count("\n") == 1, what="the normal request's line")
    assert "GET / HTTP/1.1" in open(log).read()
    assert read_slowly(a).status == 200
    a.close()
    lines = wait_until(lambda: open(log).read().splitlines()[1:], what="the held response's line")
    status, sent, us, request = lines[0].split(" ", 3)
    assert (status, sent) == ("200", "32768") and request.startswith("GET /bytes?n=32768")
    assert int(us) >= 400_000  # from the app call to the last byte sent


def test_with_response_buffer_size_0_a_slow_reader_pins_the_worker(gatewayd):
    # The old behaviour, kept; and the proof that the tests above test something.
    s = gatewayd(workers=1, response_buffer_size=0, body_timeout=3)
    a = slow_reader(s.port)
    time.sleep(0.3)
    started = time.time()
    assert get(s.port, "/", timeout=10)[0] == 200
    assert time.time() - started > 2
    a.close()


def test_max_requests_finishes_a_held_response(gatewayd):
    s = gatewayd(workers=1, max_requests=1)
    worker = s.workers()[0]
    a = slow_reader(s.port)
    s.wait_log("max_requests", timeout=5)
    time.sleep(0.5)
    r = read_slowly(a)
    a.close()
    assert r.status == 200 and r.body == expected_pattern(32768)
    assert r.header("connection") == "close"
    s.wait_workers(1, exclude=[worker])


def test_a_graceful_stop_finishes_a_held_response(gatewayd):
    s = gatewayd(workers=1)
    a = slow_reader(s.port)
    time.sleep(0.3)
    s.signal(signal.SIGTERM)
    time.sleep(0.5)
    r = read_slowly(a)
    a.close()
    assert r.status == 200 and r.body == expected_pattern(32768)
    assert s.wait_exit() == 0


def test_kill_9_of_a_worker_with_held_responses_is_a_crash_like_any(gatewayd):
    s = gatewayd(workers=1)
    worker = s.workers()[0]
    readers = [slow_reader(s.port) for _ in range(3)]
    time.sleep(0.5)
    assert get(s.port, "/") == (200, b"Hello, World!")  # they are held, not in the app
    os.kill(worker, signal.SIGKILL)
    s.wait_workers(1, exclude=[worker])
    # The held clients see their connection end, short of the response.
    for a in readers:
        got = b""
        try:
            while True:
                b = a.recv(65536)
                if not b:
                    break
                got += b
        except ConnectionResetError:
            pass
        a.close()
        assert len(got) < 32768
    assert get(s.port, "/") == (200, b"Hello, World!")


def test_a_held_response_that_closes_lingers_over_unread_input(gatewayd):
    # Connection: close with bytes behind it: all of the response arrives,
    # then the end (not a reset that would destroy the response's tail).
    s = gatewayd(workers=1)
    a = socket.socket()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    a.settimeout(10)
    a.connect(("127.0.0.1", s.port))
    a.sendall(f"GET {SLOW_READ} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n".encode())
    time.sleep(0.3)
    assert get(s.port, "/") == (200, b"Hello, World!")
    f = _SlowFile(a, 0.002)
    r = read_response(f)
    assert r.status == 200 and r.body == expected_pattern(32768) and r.header("connection") == "close"
    assert a.recv(100) == b""  # the end, after the whole response
    a.close()


def test_the_metrics_count_the_bytes_of_a_held_response_as_they_go_out(gatewayd):
    import urllib.request
    from conftest import free_port
    aport = free_port()
    s = gatewayd(workers=1, admin_bind=[f"127.0.0.1:{aport}"])

    def sent():
        body = urllib.request.urlopen(f"http://127.0.0.1:{aport}/metrics", timeout=5).read().decode()
        return next(float(l.split()[1]) for l in body.splitlines() if l.startswith("gatewayd_response_bytes_total "))

    a = slow_reader(s.port)
    time.sleep(0.5)
    held = sent()
    assert held < 32768  # the app returned; most of the response is not out yet
    assert read_slowly(a).body == expected_pattern(32768)
    a.close()
    wait_until(lambda: sent() >= 32768, what="the held bytes in gatewayd_response_bytes_total")
