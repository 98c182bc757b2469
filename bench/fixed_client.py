#!/usr/bin/env python3
"""fixed_client.py HOST PORT N [close|keepalive [PATH [BODY]]]: sends exactly N
"GET /" requests, one at a time, on one keep-alive connection (or, with
"close", each on a new connection with Connection: close), reads every
response, and prints how many succeeded (2xx). PATH asks for another path;
BODY makes the requests POSTs of BODY as application/json (the todo_create
workload). bench/callgrind.sh uses it: a fixed request count makes
instruction and syscall counts comparable from run to run.
"""
import socket
import sys



def request(path, body, close):
    head = "%s %s HTTP/1.1\r\nHost: bench\r\n" % ("POST" if body else "GET", path)
    if body:
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body.encode())
    if close:
        head += "Connection: close\r\n"
    return (head + "\r\n" + (body or "")).encode()


def read_response(sock, buf):
    """Reads one response with a Content-Length from sock; returns the
    leftover bytes and the status code."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the body")
        rest += chunk
    return rest[length:], int(head.split(b" ", 2)[1])


def main():
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    close = len(sys.argv) > 4 and sys.argv[4] == "close"
    path = sys.argv[5] if len(sys.argv) > 5 else "/"
    body = sys.argv[6] if len(sys.argv) > 6 else None
    message = request(path, body, close)
    ok = 0
    if close:
        for _ in range(n):
            with socket.create_connection((host, port)) as s:
                s.sendall(message)
                _, status = read_response(s, b"")
                ok += 200 <= status < 300
    else:
        with socket.create_connection((host, port)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = b""
            for _ in range(n):
                s.sendall(message)
                buf, status = read_response(s, buf)
                ok += 200 <= status < 300
    print(ok)
    sys.exit(0 if ok == n else 1)


if __name__ == "__main__":
    main()
