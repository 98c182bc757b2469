"""Issue 25: an unfinished head costs at most limit_request_head (nginx's
large_client_header_buffers, 4 x 8 KB, is the anchor), not the full
limit_request_fields x limit_request_field_size (800 KB)."""
import socket
import time

from conftest import http, read_all


def uss_kb(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return sum(int(line.split()[1]) for line in f if line.startswith(("Private_Clean:", "Private_Dirty:")))


def test_an_unfinished_head_costs_at_most_limit_request_head(gatewayd):
    s = gatewayd(workers=1)
    worker = s.workers()[0]
    field = b"X-Fill: " + b"a" * 8180 + b"\r\n"
    before = uss_kb(worker)
    conns = []
    for _ in range(100):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        c.setblocking(False)
        conns.append([c, b"GET / HTTP/1.1\r\nHost: x\r\n" + field * 90])  # no blank line
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(rest for _, rest in conns):
        for entry in conns:
            c, rest = entry
            if not rest:
                continue
            try:
                n = c.send(rest[:65536])
                entry[1] = rest[n:]
            except BlockingIOError:
                pass
            except OSError:
                entry[1] = b""  # refused and closed
        time.sleep(0.01)
    time.sleep(1)
    grown = uss_kb(worker) - before
    per_connection = grown / len(conns)
    print(f"\nworker USS grew {grown} KB for {len(conns)} unfinished heads: {per_connection:.1f} KB a connection")
    for c, _ in conns:
        c.close()
    assert per_connection < 64, per_connection


def test_a_head_past_limit_request_head_is_431(gatewayd):
    s = gatewayd(workers=1, limit_request_head=16384)
    field = b"X-Fill: " + b"a" * 1000 + b"\r\n"
    ok = http(s.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + field * 12 + b"\r\n")
    assert ok.startswith(b"HTTP/1.1 200"), ok[:100]
    big = http(s.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + field * 20 + b"\r\n")
    assert big.startswith(b"HTTP/1.1 431"), big[:100]
    assert "request head too large" in s.log()
