"""Supervision end to end: real workers killed, timed out, crashing, recycled
and scaled with real signals, while real clients keep talking to gatewayd.
Every wait has a generous deadline; the assertions are about behaviour."""
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from conftest import Client, read_response, get, wait_until, in_sleep



def pid_of(port):
    status, body = get(port, "/pid")
    assert status == 200
    return int(body)


def sleeping_worker(s):
    """A worker inside the app's nanosleep (a /sleep request in hand), or None."""
    return next((p for p in s.workers() if in_sleep(p)), None)


def log_lines(s, *needles):
    return [line for line in s.log().splitlines() if all(n in line for n in needles)]


class PidLoad:
    """Keep-alive clients in threads asking /pid in a loop. Each remembers
    which worker its connection is on, so a failure can be attributed to the
    worker that held the connection."""

    def __init__(self, port, clients=4):
        self.port = port
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.conn_pid = [None] * clients      # worker of each client's current connection
        self.conn_id = [0] * clients          # bumps on every new connection
        self.ok = 0
        self.ok_by_pid = {}
        self.errors = []                      # (client, connection id, worker pid or None, error)
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(clients)]

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

    def run(self, i):
        sock = f = None
        while not self.stop_flag.is_set():
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                    f = sock.makefile("rb")
                    with self.lock:
                        self.conn_id[i] += 1
                        self.conn_pid[i] = None
                sock.sendall(b"GET /pid HTTP/1.1\r\nHost: load\r\n\r\n")
                r = read_response(f)
                assert r.status == 200, r.status
                pid = int(r.body)
                with self.lock:
                    self.conn_pid[i] = pid
                    self.ok += 1
                    self.ok_by_pid[pid] = self.ok_by_pid.get(pid, 0) + 1
                if r.header("connection") == "close":
                    sock.close()
                    sock = None
            except Exception as e:  # noqa: BLE001 - every failure counts
                with self.lock:
                    self.errors.append((i, self.conn_id[i], self.conn_pid[i], repr(e)))
                if sock:
                    sock.close()
                sock = None
        if sock:
            sock.close()

    def snapshot(self):
        with self.lock:
            return list(zip(self.conn_id, self.conn_pid))


# MARK: a worker killed with SIGKILL

def test_kill_9_worker_is_replaced_and_only_its_connections_fail(gatewayd):
    s = gatewayd(workers=2)
    s.wait_workers(2)
    with PidLoad(s.port, clients=4) as load:
        wait_until(lambda: all(p is not None for _, p in load.snapshot()), what="every client connected")
        time.sleep(0.3)
        # the victim: the worker holding the most client connections (no
        # connection changes before the kill: nothing fails until then)
        held = load.snapshot()
        held_by = {}
        for _, p in held:
            held_by[p] = held_by.get(p, 0) + 1
        victim = max(held_by, key=held_by.get)
        victim_conns = {(i, cid) for i, (cid, p) in enumerate(held) if p == victim}
        survivors = [p for p in s.workers() if p != victim]
        assert not load.errors, load.errors
        os.kill(victim, signal.SIGKILL)
        replacement = wait_until(lambda: [p for p in s.workers() if p != victim and p not in survivors],
                                 timeout=2, interval=0.01, what="a replacement worker within 2 s")[0]
        # the replacement serves
        wait_until(lambda: load.ok_by_pid.get(replacement, 0) > 0 or pid_of(s.port) == replacement,
                   timeout=10, what="the replacement to answer")
        ok_before = load.ok
        time.sleep(0.5)
        assert load.ok > ok_before
    assert s.proc.poll() is None
    # failures only on connections the dead worker held, at most one per connection
    bad = [e for e in load.errors if (e[0], e[1]) not in victim_conns or e[2] != victim]
    assert not bad, f"requests failed on connections the victim did not hold: {bad}"
    assert len(load.errors) <= len(victim_conns), load.errors
    assert len({(e[0], e[1]) for e in load.errors}) == len(load.errors)
    assert log_lines(s, str(victim), "SIGKILL"), s.log()


# MARK: timeouts

def test_request_past_timeout_gets_504_and_the_worker_is_replaced(gatewayd):
    s = gatewayd(workers=2, timeout=2)
    before = set(s.wait_workers(2))
    with Client(s.port, timeout=20) as c:
        r = c.request(path="/sleep?seconds=10")
    assert r.status == 504
    s.wait_log("timed out after")
    lines = log_lines(s, "timed out after")
    assert any("/sleep" in line and "GET" in line for line in lines), s.log()
    for _ in range(6):
        assert get(s.port)[0] == 200
    wait_until(lambda: set(s.workers()) - before, what="a new worker pid")
    s.wait_workers(2)
    assert s.proc.poll() is None


def test_timeout_zero_lets_a_slow_request_finish(gatewayd):
    s = gatewayd(workers=1, timeout=0)
    pid = s.wait_workers(1)[0]
    status, body = get(s.port, "/sleep?seconds=2.5")
    assert (status, body) == (200, b"slept 2.5")
    assert s.workers() == [pid]
    assert "timed out" not in s.log()


# MARK: crashes

def test_crash_loop_backs_off_while_the_other_worker_serves(gatewayd, workdir):
    # Workers that die right after booting, idle (SIGALRM 1 s after init
    # once the file exists): boot crashes, respawned with a growing backoff.
    # Crashes while serving a request never back off (test_faults.py).
    trigger = os.path.join(workdir, "crash-after-boot")
    s = gatewayd(workers=2, app_args={"crash_idle_if": trigger})
    steady = Client(s.port)
    steady_pid = int(steady.request(path="/pid").body)
    victim = [p for p in s.wait_workers(2) if p != steady_pid][0]
    open(trigger, "w").close()
    os.kill(victim, signal.SIGKILL)
    deadline = time.time() + 30
    while "crashed 5 times in a row" not in s.log() and time.time() < deadline:
        # the steady worker keeps serving, on the same connection
        try:
            r = steady.request()
        except (EOFError, ConnectionError) as e:
            raise AssertionError(f"the steady worker's connection failed ({e!r}):\n{s.log()}")
        assert (r.status, r.body) == (200, b"Hello, World!")
        time.sleep(0.1)
    os.unlink(trigger)
    assert int(steady.request(path="/pid").body) == steady_pid
    steady.close()
    assert s.proc.poll() is None
    s.wait_log("crashed 5 times in a row")
    # the backoff: every respawn logged with its delay, growing with the count
    delays = {}
    for m in re.finditer(r"slot (\d+) crashed (\d+) times? in a row.*?next spawn in (\d+\.\d+)s", s.log()):
        delays.setdefault(int(m.group(1)), []).append((int(m.group(2)), float(m.group(3))))
    assert len(delays) == 1, s.log()
    seq = list(delays.values())[0][:5]
    assert [n for n, _ in seq] == [1, 2, 3, 4, 5], seq
    assert seq[0][1] == 0
    assert all(b[1] > a[1] for a, b in zip(seq[1:], seq[2:])) and seq[1][1] > 0, seq
    assert "SIGALRM" in s.log()
    # and it recovers
    s.wait_workers(2, timeout=15)
    assert get(s.port)[0] == 200


def test_crash_log_names_the_signal_and_the_request(gatewayd):
    s = gatewayd(workers=1)
    pid = s.wait_workers(1)[0]
    with Client(s.port) as c:
        c.send(b"GET /crash HTTP/1.1\r\nHost: t\r\n\r\n")
        try:
            c.read()
            raise AssertionError("/crash answered")
        except (EOFError, ConnectionError):
            pass
    s.wait_log("SIGABRT")
    lines = log_lines(s, str(pid), "SIGABRT")
    assert lines, s.log()
    assert any("/crash" in line for line in lines), f"the crash log does not name the request: {lines}"
    s.wait_workers(1, exclude=(pid,))
    assert get(s.port)[0] == 200


# MARK: recycling

def test_max_requests_recycles_workers_without_failing_a_request(gatewayd):
    s = gatewayd(workers=2, max_requests=50, max_requests_jitter=10)
    before = set(s.wait_workers(2))
    if shutil.which("wrk"):
        r = subprocess.run(["wrk", "-t1", "-c8", "-d4s", s.url("/")], capture_output=True, text=True, timeout=60)
        out = r.stdout
        assert r.returncode == 0, out + r.stderr
        total = int(re.search(r"(\d+) requests in", out).group(1))
        assert "Socket errors" not in out, out
        assert "Non-2xx" not in out, out
    else:
        results = {"ok": 0, "errors": []}
        lock = threading.Lock()
        stop = threading.Event()

        def client():
            c = None
            while not stop.is_set():
                try:
                    if c is None:
                        c = Client(s.port)
                    r = c.request()
                    with lock:
                        if r.status == 200:
                            results["ok"] += 1
                        else:
                            results["errors"].append(r.status)
                    if r.header("connection") == "close":
                        c.close()
                        c = None
                except Exception as e:  # noqa: BLE001
                    with lock:
                        results["errors"].append(repr(e))
                    if c:
                        c.close()
                    c = None
            if c:
                c.close()
        threads = [threading.Thread(target=client, daemon=True) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(4)
        stop.set()
        for t in threads:
            t.join(timeout=15)
        assert not results["errors"], results["errors"][:10]
        total = results["ok"]
    assert total > 200, total
    assert s.proc.poll() is None
    assert "max_requests" in s.log()
    # recycled again and again (a stopping worker still answers what its
    # other connections already sent, so a little over max_requests each)
    recycles = len(log_lines(s, "is recycling", "max_requests"))
    assert recycles >= total // 120, (total, recycles)
    after = set(s.wait_workers(2))
    assert not (after & before), (before, after)
    # recycling is no crash, and every exit was announced (the replacement
    # is spawned when the worker announces it is leaving, before it exits)
    assert "crashed" not in s.log()
    assert not log_lines(s, "exited with code"), log_lines(s, "exited with code")[:5]
    for _ in range(4):
        assert get(s.port)[0] == 200


def test_max_worker_memory_recycles_after_the_response(gatewayd):
    s = gatewayd(workers=1, max_worker_memory=40)
    pid = s.wait_workers(1)[0]
    with Client(s.port) as c:
        r = c.request(path="/leak?mb=64")
    assert (r.status, r.body) == (200, b"leaked 64 MB")
    new = s.wait_workers(1, exclude=(pid,))[0]
    # the replacement may boot while the old worker is still on its way out
    wait_until(lambda: pid not in s.workers(), what=f"worker {pid} gone")
    s.wait_log("max_worker_memory")
    assert log_lines(s, "max_worker_memory", "recycling"), s.log()
    assert "max_worker_memory_hard" not in s.log()
    assert pid_of(s.port) == new
    assert get(s.port)[0] == 200


def test_max_worker_memory_hard_is_enforced_by_the_master(gatewayd):
    s = gatewayd(workers=1, max_worker_memory_hard=40)
    pid = s.wait_workers(1)[0]
    with Client(s.port) as c:
        r = c.request(path="/leak?mb=64")
        assert (r.status, r.body) == (200, b"leaked 64 MB")
    s.wait_log("max_worker_memory_hard")
    lines = log_lines(s, "[master", f"worker {pid}", "max_worker_memory_hard", "killed")
    assert lines, s.log()
    new = s.wait_workers(1, exclude=(pid,))[0]
    assert pid_of(s.port) == new
    # the master's doing, not a crash of the app: no crash log, no backoff
    assert not log_lines(s, f"worker {pid}", "SIGKILL"), s.log()
    assert "crashed" not in s.log()


# MARK: signals

def test_sigterm_finishes_a_request_in_flight(gatewayd, workdir):
    pidfile = os.path.join(workdir, "gw.pid")
    s = gatewayd(workers=2, pidfile=pidfile)
    assert int(open(pidfile).read()) == s.pid
    result = {}

    def slow():
        try:
            with Client(s.port, timeout=20) as c:
                result["r"] = c.request(path="/sleep?seconds=3")
        except Exception as e:  # noqa: BLE001
            result["e"] = e
    t = threading.Thread(target=slow)
    t.start()
    wait_until(lambda: sleeping_worker(s), what="the request to be in the app")
    s.signal(signal.SIGTERM)
    t.join(timeout=20)
    assert "e" not in result, result.get("e")
    r = result["r"]
    assert (r.status, r.body) == (200, b"slept 3")
    assert s.wait_exit(timeout=20) == 0
    assert not os.path.exists(pidfile)


def test_ttin_and_ttou_change_the_worker_count(gatewayd):
    s = gatewayd(workers=2)
    s.wait_workers(2)
    s.signal(signal.SIGTTIN)
    three = s.wait_workers(3)
    s.signal(signal.SIGTTOU)
    s.wait_workers(2)
    s.signal(signal.SIGTTOU)
    one = s.wait_workers(1)
    assert set(one) <= set(three)
    s.signal(signal.SIGTTOU)
    s.wait_log("SIGTTOU ignored")
    time.sleep(0.5)
    assert s.workers() == one
    assert get(s.port)[0] == 200
    s.signal(signal.SIGTTIN)
    s.wait_workers(2)


def open_files(pid):
    out = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                out.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                pass
    except OSError:
        pass
    return out


def test_sigusr1_reopens_the_error_log(gatewayd, workdir):
    path = os.path.join(workdir, "error.log")
    rotated = path + ".1"
    s = gatewayd(workers=2, error_log=path, start=False)
    s.start(wait=False)
    wait_until(lambda: os.path.exists(path) and "workers ready" in open(path).read(), what="workers ready")
    workers = s.wait_workers(2)
    before = [f"rotate-before-{i:03d}." for i in range(20)]
    after = [f"rotate-after-{i:03d}." for i in range(20)]
    for m in before:
        assert get(s.port, "/log?msg=" + m)[0] == 200
    os.rename(path, rotated)
    s.signal(signal.SIGUSR1)
    # every process of the server lets go of the moved file
    wait_until(lambda: os.path.exists(path) and "log files reopened" in open(path).read(), what="the master to reopen")
    wait_until(lambda: all(rotated not in open_files(p) for p in [s.pid] + workers),
               what="the workers to reopen")
    for m in after:
        assert get(s.port, "/log?msg=" + m)[0] == 200
    wait_until(lambda: all(m in open(path).read() for m in after), what="the messages in the new file")
    old = open(rotated).read().splitlines()
    new = open(path).read().splitlines()

    def count(lines, m):  # lines logging m (a line names it twice: message and request)
        return sum(1 for line in lines if m in line)
    for m in before:
        assert (count(old, m), count(new, m)) == (1, 0), m
    for m in after:
        assert (count(old, m), count(new, m)) == (0, 1), m
    assert s.workers() == workers


def test_stale_pidfile_is_replaced(gatewayd, workdir):
    pidfile = os.path.join(workdir, "gw.pid")
    dead = subprocess.Popen(["true"])
    dead.wait()
    with open(pidfile, "w") as f:
        f.write(f"{dead.pid}\n")
    s = gatewayd(workers=1, pidfile=pidfile)
    assert int(open(pidfile).read()) == s.pid
    s.signal(signal.SIGTERM)
    assert s.wait_exit() == 0
    assert not os.path.exists(pidfile)


def test_pidfile_of_a_live_process_refuses_the_start(gatewayd, workdir):
    pidfile = os.path.join(workdir, "gw.pid")
    me = os.getpid()
    with open(pidfile, "w") as f:
        f.write(f"{me}\n")
    s = gatewayd(workers=1, pidfile=pidfile, start=False)
    s.start(wait=False)
    code = s.wait_exit(timeout=15)
    assert code != 0
    log = s.log()
    assert pidfile in log and str(me) in log and "running" in log, log
    assert "workers ready" not in log
    # the other process's pidfile is left alone
    assert int(open(pidfile).read()) == me


def test_a_master_started_with_its_signals_blocked_still_obeys_them(gatewayd):
    """A parent may start gatewayd from a thread that blocks signals (a
    posix_spawn from a runtime's worker thread inherits that thread's mask):
    the master must unblock the signals it serves, or TERM, HUP and TTIN
    would never arrive (found by the differential test, whose Foundation
    Process left a master deaf to SIGINT)."""
    s = gatewayd(workers=1, start=False)
    blocked = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGTTIN, signal.SIGQUIT}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        s.start()   # the child inherits this thread's mask through fork and exec
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    before = s.workers()
    os.kill(s.pid, signal.SIGTTIN)
    wait_until(lambda: len(s.workers()) == len(before) + 1, timeout=10, what="a worker added by TTIN")
    os.kill(s.pid, signal.SIGTERM)
    assert s.proc.wait(timeout=20) == 0, s.log()
