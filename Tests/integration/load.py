"""A small load generator for tests: keep-alive and new-connection clients in
threads, counting every failed request. Bounded in time, loopback only."""
import socket
import threading
import time

from conftest import read_response


class Load:
    def __init__(self, port, path="/", keepalive_clients=4, fresh_clients=2, host="127.0.0.1"):
        self.port = port
        self.path = path
        self.host = host
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.errors = []
        self.threads = [threading.Thread(target=self.keepalive, daemon=True) for _ in range(keepalive_clients)]
        self.threads += [threading.Thread(target=self.fresh, daemon=True) for _ in range(fresh_clients)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=15)

    def record(self, error=None):
        with self.lock:
            if error is None:
                self.ok += 1
            else:
                self.errors.append(error)

    def request_bytes(self):
        return f"GET {self.path} HTTP/1.1\r\nHost: load\r\n\r\n".encode()

    def keepalive(self):
        sock = f = None
        while not self.stop_flag.is_set():
            try:
                if sock is None:
                    sock = socket.create_connection((self.host, self.port), timeout=10)
                    f = sock.makefile("rb")
                sock.sendall(self.request_bytes())
                r = read_response(f)
                if r.status != 200:
                    self.record(f"status {r.status}")
                else:
                    self.record()
                if r.header("connection") == "close":
                    sock.close()
                    sock = None
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.record(f"keep-alive: {e!r}")
                if sock:
                    sock.close()
                sock = None
        if sock:
            sock.close()

    def fresh(self):
        while not self.stop_flag.is_set():
            try:
                with socket.create_connection((self.host, self.port), timeout=10) as sock:
                    sock.sendall(f"GET {self.path} HTTP/1.1\r\nHost: load\r\nConnection: close\r\n\r\n".encode())
                    r = read_response(sock.makefile("rb"))
                    self.record(None if r.status == 200 else f"status {r.status}")
            except Exception as e:  # noqa: BLE001
                self.record(f"new connection: {e!r}")
