#!/usr/bin/env python3
"""bench/slow_clients.py: a normal client's latency while slow clients
hold connections (issue 16, "slow clients pin nothing").

gatewayd with 2 workers and testapp; for each scenario, one normal client
sends GET / in a loop (one connection per request) and its latencies are
recorded, while 20 slow clients run:
  - trickle:  POST /echo with an 8 KB body sent 100 bytes every 50 ms
              (about 4 s per request), again and again;
  - slowread: GET /bytes?n=32768&sndbuf=4096 (the server's send buffer
              set small, as over a long link: on loopback the kernel would
              take megabytes from a reader that does not read) with
              SO_RCVBUF 4096, read 1 KB every 50 ms (about 1.6 s each).
Each scenario runs with a given binary and config: `on` (the defaults:
body_buffer_size and response_buffer_size 64 KiB), `off` (both 0: the
behaviour before), or `--before BINARY` (a build of main before the change).

    flock /tmp/gatewayd-bench.lock python3 bench/slow_clients.py [--seconds 15] [--before /tmp/gw-main/build/bin/gatewayd]

Writes bench/results/slow_clients.json and prints a table (ms).
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLOW = 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, extra):
        self.dir = tempfile.mkdtemp(prefix="gw-slow-")
        self.port = free_port()
        conf = os.path.join(self.dir, "gatewayd.conf")
        with open(conf, "w") as f:
            f.write(f'bind = ["127.0.0.1:{self.port}"]\nworkers = 2\n'
                    f'app = "{ROOT}/build/apps/testapp.so"\nbody_timeout = 60\ntimeout = 120\n{extra}')
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen([binary, "-c", conf], stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if get(self.port, 2) is not None:
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("gatewayd did not start: " + open(self.log.name).read())

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def get(port, timeout=60):
    """One GET / on a fresh connection: its latency in seconds, None on failure."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
    return time.perf_counter() - started if data.startswith(b"HTTP/1.1 200") else None


def trickler(port, stop):
    body = b"t" * 8192
    head = b"POST /echo HTTP/1.1\r\nHost: b\r\nContent-Length: 8192\r\nConnection: close\r\n\r\n"
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
                s.sendall(head)
                for i in range(0, len(body), 100):
                    if stop.is_set():
                        return
                    s.sendall(body[i:i + 100])
                    time.sleep(0.05)
                while s.recv(65536):
                    pass
        except OSError:
            time.sleep(0.1)


def slow_reader(port, stop):
    while not stop.is_set():
        try:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.settimeout(120)
                s.connect(("127.0.0.1", port))
                s.sendall(b"GET /bytes?n=32768&sndbuf=4096 HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
                while not stop.is_set():
                    time.sleep(0.05)
                    if not s.recv(1024):
                        break
        except OSError:
            time.sleep(0.1)


def scenario(binary, extra, load, seconds):
    server = Server(binary, extra)
    stop = threading.Event()
    threads = [threading.Thread(target=load, args=(server.port, stop), daemon=True) for _ in range(SLOW if load else 0)]
    for t in threads:
        t.start()
    time.sleep(1.0 if load else 0)  # the slow clients are in
    latencies, failures = [], 0
    deadline = time.time() + seconds
    try:
        while time.time() < deadline:
            try:
                v = get(server.port)
            except OSError:
                v = None
            if v is None:
                failures += 1
            else:
                latencies.append(v)
            time.sleep(0.01)
    finally:
        stop.set()
        server.stop()
    return summary(latencies, failures)


def summary(lat, failures):
    if not lat:
        return {"requests": 0, "failures": failures}
    lat = sorted(lat)
    pct = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2)
    return {"requests": len(lat), "failures": failures, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": round(lat[-1] * 1000, 2), "mean_ms": round(statistics.mean(lat) * 1000, 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--binary", default=f"{ROOT}/build/bin/gatewayd")
    ap.add_argument("--before", help="a gatewayd built from main before the change")
    ap.add_argument("--out", default=f"{ROOT}/bench/results/slow_clients.json")
    a = ap.parse_args()
    off = "body_buffer_size = 0\nresponse_buffer_size = 0\n"
    runs = [("unloaded", "on", a.binary, "", None)]
    for name, load in (("trickle", trickler), ("slowread", slow_reader)):
        if a.before:
            runs.append((name, "before (main)", a.before, "", load))
        runs.append((name, "off (both 0)", a.binary, off, load))
        runs.append((name, "on (64 KiB)", a.binary, "", load))
    results = []
    print(f"{'scenario':10} {'server':16} {'requests':>8} {'fail':>5} {'p50':>9} {'p99':>9} {'max':>9}  (ms)")
    for name, label, binary, extra, load in runs:
        r = scenario(binary, extra, load, a.seconds)
        r.update(scenario=name, server=label)
        results.append(r)
        print(f"{name:10} {label:16} {r['requests']:>8} {r['failures']:>5} {r.get('p50_ms', '-'):>9} "
              f"{r.get('p99_ms', '-'):>9} {r.get('max_ms', '-'):>9}", flush=True)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"stamp": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), "seconds": a.seconds,
                   "slow_clients": SLOW, "workers": 2, "load_average": os.getloadavg()[0], "runs": results}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
