#!/usr/bin/env python3
"""idle_conns.py HOST PORT COUNT SECONDS: holds COUNT keep-alive connections
to HOST:PORT open for SECONDS, for the "idle connections plus load" workload.

Each connection sends one GET / and reads the answer, then stays idle. Every
PING seconds (env, default 2) each open connection sends one more request, so
that a server's keep-alive timeout (gatewayd's default is 5 s) does not close
it during the run; that is COUNT/PING requests a second, nothing next to wrk's
load. A connection the server closed is counted, not reopened.

Prints "ready N" once the connections are open (N = how many answered), then
at the end one JSON line: {"opened", "alive", "closed_by_server", "failed"}.
"""
import json
import os
import selectors
import socket
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def read_response(sock, deadline):
    """Reads one response with a Content-Length; False if the peer closed."""
    data = b""
    while True:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            return False
        data += chunk
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0:
            continue
        head = data[:head_end].lower()
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if len(data) - head_end - 4 >= length:
            return b"\r\nconnection: close" not in head


def ping(sock):
    try:
        sock.sendall(REQUEST)
        return read_response(sock, time.monotonic() + 5)
    except OSError:
        return False


def main():
    host, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    period = float(os.environ.get("PING", "2"))
    conns, failed = [], 0
    for _ in range(count):
        try:
            s = socket.create_connection((host, port), timeout=5)
        except OSError:
            failed += 1
            continue
        if ping(s):
            conns.append(s)
        else:
            failed += 1
            s.close()
    print("ready", len(conns), flush=True)
    opened = len(conns)
    closed = 0
    end = time.monotonic() + seconds
    sel = selectors.DefaultSelector()
    for s in conns:
        sel.register(s, selectors.EVENT_READ)
    next_ping = time.monotonic() + period
    while time.monotonic() < end:
        # An idle connection that becomes readable was closed by the server.
        for key, _ in sel.select(timeout=max(0, min(next_ping, end) - time.monotonic())):
            sel.unregister(key.fileobj)
            conns.remove(key.fileobj)
            key.fileobj.close()
            closed += 1
        if time.monotonic() >= next_ping:
            next_ping += period
            for s in list(conns):
                sel.unregister(s)
                if ping(s):
                    sel.register(s, selectors.EVENT_READ)
                else:
                    conns.remove(s)
                    s.close()
                    closed += 1
    print(json.dumps({"opened": opened, "alive": len(conns),
                      "closed_by_server": closed, "failed": failed}), flush=True)
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
