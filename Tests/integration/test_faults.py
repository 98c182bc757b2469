"""Fault injection against the real binary (issue 13): crash floods under
load, descriptor exhaustion (prlimit), a master killed with -9 or stopped
with SIGSTOP, stops while requests are queued, upgrades and reloads that
fail half way, a log disk that fills up. Each scenario is bounded in time
and asserts zero failed requests or the outcome SIGNALS.md documents; the
figures it measures are printed (pytest -s shows them)."""
import ctypes
import os
import resource
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import GATEWAYD, Client, read_response, get, wait_until, in_sleep



def alive(pid):
    """Running and not a zombie (orphans may be reaped late by pid 1)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_workers(s):
    """Workers inside the app's nanosleep (a /sleep request in hand)."""
    return [p for p in s.workers() if in_sleep(p)]


def prlimit_nofile(pid, n):
    """Lowers (or raises back) the soft limit only: lowering the hard one is
    for good, and here root may not touch the workers (they run as nobody)."""
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={n}:"], check=True)


def start_with_nofile(s, n):
    """Starts the server's master (and so its workers) with RLIMIT_NOFILE soft = n."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    s.logf = open(s.log_path, "ab")
    s.proc = subprocess.Popen([GATEWAYD, "-c", s.conf], stdout=s.logf, stderr=subprocess.STDOUT, cwd=s.workdir,
                              start_new_session=True,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard)))
    s.wait_ready()
    return s


libc = ctypes.CDLL(None, use_errno=True)


def steal_fd(pid, fd):
    """A duplicate of descriptor `fd` of process `pid` (pidfd_getfd(2)): the
    same open socket, so options set on it apply to the process's own."""
    pidfd = os.pidfd_open(pid)
    try:
        new = libc.syscall(438, pidfd, fd, 0)  # SYS_pidfd_getfd (x86_64)
        if new < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
        return new
    finally:
        os.close(pidfd)


def health_channel_fd(pid):
    """The worker's end of its health socketpair: its only SOCK_SEQPACKET socket."""
    seqpacket = set()
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[4] == "0005":
                seqpacket.add(parts[6])
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in seqpacket:
            return int(fd)
    raise AssertionError(f"no health channel in {pid}")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def can_bind(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        s.listen(1)
        return True
    except OSError:
        return False
    finally:
        s.close()


def slow_request(port, seconds, results, key):
    """A /sleep request in a thread: results[key] = status, or the error."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=seconds + 20) as sock:
            sock.sendall(f"GET /sleep?seconds={seconds} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            results[key] = read_response(sock.makefile("rb")).status
    except Exception as e:  # noqa: BLE001
        results[key] = e


# MARK: 1. a flood of crashing requests

def test_crash_flood_is_no_outage(gatewayd):
    s = gatewayd(workers=2)
    stop = threading.Event()
    crashes = [0]

    def flood():
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
                    sock.sendall(b"GET /crash HTTP/1.1\r\nHost: t\r\n\r\n")
                    sock.recv(100)
            except OSError:
                pass
            crashes[0] += 1

    threads = [threading.Thread(target=flood, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    served, failed, slowest = 0, [], 0.0
    deadline = time.time() + 6
    try:
        while time.time() < deadline:
            t0 = time.time()
            try:
                status, body = get(s.port, timeout=5)
                assert (status, body) == (200, b"Hello, World!")
                served += 1
            except (OSError, EOFError, AssertionError) as e:
                failed.append(repr(e))
            slowest = max(slowest, time.time() - t0)
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    t0 = time.time()
    assert get(s.port, timeout=10)[0] == 200
    after = time.time() - t0
    log = s.log()
    # one line per second in full, the rest of that second in its summary
    request_crashes = len(re.findall(r"request crash \(", log)) + sum(
        int(n) for n in re.findall(r"(\d+) more request crash", log))
    print(f"\ncrash flood: {served} healthy requests served in 6 s, {len(failed)} failed, slowest {slowest:.2f} s, "
          f"{crashes[0]} /crash sent, {request_crashes} request crashes logged, first 200 after it {after:.2f} s, "
          f"log {len(log)} bytes")
    assert s.proc.poll() is None
    # A healthy request fails only when it shares a worker with a crash;
    # each worker takes one connection per wakeup and reads it at once, so
    # that is rare. None may wait for a backoff.
    assert served >= 20, (served, failed, log[-3000:])
    assert len(failed) <= served // 10, failed
    assert slowest < 3, slowest
    assert after < 2
    assert "right after boot" not in log, "request crashes were counted as boot crashes"
    assert request_crashes > 0
    # the master folds a flood into a line a second; what is left is each new worker's own boot line
    assert len(log) < 250 * request_crashes + 20_000, len(log)
    s.wait_workers(2)


# MARK: 2. descriptor exhaustion in accept

def test_emfile_pauses_accept_without_spinning_or_flooding_the_log(gatewayd):
    s = start_with_nofile(gatewayd(workers=2, header_timeout=60, keepalive_timeout=60, start=False), 64)
    workers = s.wait_workers(2)
    held = []
    try:
        for _ in range(200):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            c.sendall(b"GET / HTTP/1.1\r\n")  # a head that never ends: the worker keeps it
            held.append(c)
        wait_until(lambda: "Too many open files" in s.log(), what="EMFILE in the log")
        size0 = os.path.getsize(s.log_path)
        cpu0 = sum(cpu_seconds(w) for w in workers)
        time.sleep(3)
        log_bytes = os.path.getsize(s.log_path) - size0
        cpu = (sum(cpu_seconds(w) for w in workers) - cpu0) / 3
        print(f"\nEMFILE: {log_bytes} log bytes and {cpu * 100:.0f} % CPU (both workers) in 3 s")
        assert log_bytes < 20_000, s.log()[-2000:]
        assert cpu < 0.3
        assert re.search(r"\d+ more like it in the last second", s.log()), s.log()[-2000:]
    finally:
        for c in held:
            c.close()
    # descriptors are free again: accepting resumes
    t0 = time.time()
    assert get(s.port, timeout=10)[0] == 200
    assert time.time() - t0 < 2
    assert s.workers() == workers


# MARK: 3. the master killed with -9

def test_workers_release_the_port_and_exit_when_the_master_is_killed(gatewayd):
    s = gatewayd(workers=2, timeout=3)
    workers = s.wait_workers(2)
    results = {}
    t = threading.Thread(target=slow_request, args=(s.port, 12, results, "slow"), daemon=True)
    t.start()
    wait_until(lambda: busy_workers(s), what="a busy worker")
    os.kill(s.pid, signal.SIGKILL)
    s.proc.wait()
    t0 = time.time()
    wait_until(lambda: can_bind(s.port), timeout=10, interval=0.02, what="the port to be free")
    bind_after = time.time() - t0
    wait_until(lambda: not any(alive(w) for w in workers), timeout=15, interval=0.05, what="the workers to exit")
    exit_after = time.time() - t0
    t.join(timeout=15)
    print(f"\nkill -9 master: port free after {bind_after:.2f} s, last worker gone after {exit_after:.2f} s")
    assert bind_after < 1.5
    # the busy one finishes within `timeout` (3 s), then goes: its client sees a closed connection
    assert exit_after < 3 + 2
    assert not isinstance(results.get("slow"), int), results
    # a new master binds and serves
    s.proc = None
    s2 = s.__class__(s.workdir, s.port, s.settings)
    s2.start()
    try:
        assert get(s.port)[0] == 200
    finally:
        s2.stop()


# MARK: 4. graceful stop with requests in flight and in the queue

def test_graceful_stop_serves_every_accepted_connection_and_refuses_the_rest(gatewayd):
    s = gatewayd(workers=2, graceful_timeout=15)
    s.wait_workers(2)
    results = {}
    slow = [threading.Thread(target=slow_request, args=(s.port, 2, results, f"slow{i}"), daemon=True) for i in range(5)]
    for t in slow:
        t.start()
    wait_until(lambda: len(busy_workers(s)) == 2, what="both workers busy")
    s.signal(signal.SIGTERM)
    time.sleep(0.1)
    late = {}

    def late_client(i):
        try:
            sock = socket.create_connection(("127.0.0.1", s.port), timeout=20)
        except ConnectionRefusedError:
            late[i] = "refused"
            return
        except OSError as e:
            late[i] = e
            return
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            late[i] = read_response(sock.makefile("rb")).status
        except Exception as e:  # noqa: BLE001
            late[i] = e
        finally:
            sock.close()

    threads = []
    for i in range(8):
        threads.append(threading.Thread(target=late_client, args=(i,), daemon=True))
        threads[-1].start()
        time.sleep(0.05)
    for t in slow + threads:
        t.join(timeout=25)
    assert s.wait_exit(timeout=20) == 0
    print(f"\ngraceful stop: in flight {sorted(results.values(), key=str)}, after TERM {sorted(late.values(), key=str)}")
    assert all(v == 200 for v in results.values()), results
    # after TERM: served (it reached a listener before the last worker
    # closed it) or refused at connect; never reset or left unanswered
    assert all(v in (200, "refused") for v in late.values()), late
    assert len(late) == 8


# MARK: 5. a binary upgrade whose app cannot boot

def test_failed_upgrade_keeps_the_pidfile(gatewayd, workdir):
    pidfile = os.path.join(workdir, "gw.pid")
    s = gatewayd(pidfile=pidfile)
    old = s.pid
    assert int(open(pidfile).read()) == old
    # the new master re-reads the config: its app sleeps, then fails init
    s.write_config(app_args={"sleep_init": "1", "fail_init": "no database"})
    s.signal(signal.SIGUSR2)
    s.wait_log("started new master")
    time.sleep(0.5)
    assert int(open(pidfile).read()) == old, "the new master took the pidfile before it was ready"
    s.wait_log("binary upgrade failed", timeout=15)
    time.sleep(0.3)
    assert s.proc.poll() is None
    assert os.path.exists(pidfile), "the failed upgrade deleted the pidfile"
    assert int(open(pidfile).read()) == old
    assert get(s.port)[0] == 200


def test_upgrade_whose_new_master_is_killed_half_way(gatewayd, workdir):
    pidfile = os.path.join(workdir, "gw.pid")
    s = gatewayd(pidfile=pidfile)
    old = s.pid
    old_workers = s.wait_workers(2)
    # the new master's workers take 2 s to boot: kill it in the middle
    s.write_config(app_args={"sleep_init": "2"})
    s.signal(signal.SIGUSR2)
    s.wait_log("started new master")
    new = int(re.search(r"started new master (\d+)", s.log()).group(1))
    orphans = wait_until(lambda: [int(p) for p in subprocess.run(["pgrep", "-P", str(new)], capture_output=True,
                                                                  text=True).stdout.split()], what="its workers")
    os.kill(new, signal.SIGKILL)
    s.wait_log("binary upgrade failed", timeout=5)
    # its workers notice (PR_SET_PDEATHSIG), finish booting and leave without serving
    wait_until(lambda: not any(alive(p) for p in orphans), timeout=10, what="the new master's workers to go")
    assert s.proc.poll() is None
    assert int(open(pidfile).read()) == old
    assert [p for p in s.workers() if p != new] == old_workers
    for _ in range(5):
        assert get(s.port)[0] == 200


# MARK: 6. a reload whose workers cannot be spawned

def test_reload_that_cannot_spawn_is_abandoned_and_scaling_works_again(gatewayd):
    s = gatewayd(workers=2, boot_timeout=5)
    s.wait_workers(2)
    # one descriptor left: the config can be read, the socketpair cannot be made
    prlimit_nofile(s.pid, open_fds(s.pid) + 1)
    t0 = time.time()
    s.signal(signal.SIGHUP)
    s.wait_log("abandoned", timeout=5 + 3)
    took = time.time() - t0
    line = [x for x in s.log().splitlines() if "abandoned" in x][0]
    print(f"\nreload with EMFILE: abandoned after {took:.2f} s: {line}")
    assert "socketpair" in line
    prlimit_nofile(s.pid, 4096)
    assert get(s.port)[0] == 200
    s.signal(signal.SIGTTIN)
    s.wait_workers(3, timeout=10)
    assert "ignored while a reload is in progress" not in s.log()


def test_spawn_failure_is_not_called_a_boot_crash(gatewayd):
    s = gatewayd(workers=2)
    workers = s.wait_workers(2)
    prlimit_nofile(s.pid, open_fds(s.pid))
    os.kill(workers[0], signal.SIGKILL)
    s.wait_log("cannot spawn worker", timeout=5)
    time.sleep(0.5)
    prlimit_nofile(s.pid, 4096)
    s.wait_workers(2, timeout=15)
    log = s.log()
    assert "socketpair" in log
    assert re.search(r"spawn failed \d+ times? in a row: next try in", log), log
    # the kill itself (inside the crash window) is the only boot crash
    assert len([x for x in log.splitlines() if "right after boot" in x]) == 1, log
    assert get(s.port)[0] == 200


# MARK: 7. graceful_timeout for workers retired by a reload

def test_graceful_timeout_applies_to_workers_retiring_after_a_reload(gatewayd):
    s = gatewayd(workers=1, timeout=0, graceful_timeout=2)
    old = s.wait_workers(1)[0]
    results = {}
    t = threading.Thread(target=slow_request, args=(s.port, 12, results, "slow"), daemon=True)
    t.start()
    wait_until(lambda: busy_workers(s), what="a busy worker")
    s.signal(signal.SIGHUP)
    s.wait_log("generation 2 serving")
    t0 = time.time()
    wait_until(lambda: not alive(old), timeout=12, what="the retired worker to go")
    lived = time.time() - t0
    print(f"\nretired worker with a 12 s request, graceful_timeout 2: gone {lived:.2f} s after the promotion")
    assert lived < 2 + 1.5
    assert "graceful_timeout" in s.log()


# MARK: 8. a stopped master

def test_workers_serve_while_the_master_is_stopped(gatewayd):
    s = gatewayd(workers=2)
    workers = s.wait_workers(2)
    # Shrink the workers' send buffers to the minimum (the same sockets, via
    # pidfd_getfd), so a few heartbeats fill them instead of a few minutes' worth.
    for w in workers:
        fd = steal_fd(w, health_channel_fd(w))
        socket.socket(fileno=fd).setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)
    os.kill(s.pid, signal.SIGSTOP)
    served, slowest = 0, 0.0
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            t0 = time.time()
            assert get(s.port, timeout=3)[0] == 200
            slowest = max(slowest, time.time() - t0)
            served += 1
            time.sleep(0.2)
    finally:
        os.kill(s.pid, signal.SIGCONT)
    print(f"\nmaster stopped 10 s: {served} requests served, slowest {slowest:.3f} s")
    time.sleep(1.5)
    assert s.workers() == workers, s.log()[-2000:]
    assert get(s.port)[0] == 200


def socket_and_thread_states(s):
    """The port's sockets (a listener's Recv-Q is its accept queue) and
    each worker thread's state, wait channel and system call."""
    out = subprocess.run(["ss", "-tanoi", f"( sport = :{s.port} or dport = :{s.port} )"],
                         capture_output=True, text=True).stdout
    for pid in s.workers():
        for tid in sorted(os.listdir(f"/proc/{pid}/task")):
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                with open(f"/proc/{pid}/task/{tid}/wchan") as f:
                    wchan = f.read()
                with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                    call = f.read().split()[:3]
            except OSError as e:
                state, wchan, call = "?", repr(e), []
            out += f"worker {pid} thread {tid}: {state} wchan {wchan} syscall {' '.join(call)}\n"
    return out


def test_a_stopped_worker_is_routed_around_then_replaced(gatewayd):
    s = gatewayd(workers=2, timeout=5)
    stopped = s.wait_workers(2)[0]
    os.kill(stopped, signal.SIGSTOP)
    served, slowest = 0, 0.0
    try:
        deadline = time.time() + 12  # silence is judged after max(timeout, 10 s)
        while time.time() < deadline:
            t0 = time.time()
            try:
                status = get(s.port, timeout=6)[0]
            except OSError as e:  # seen twice in CI, never reproduced: what the kernel and the workers were doing
                raise AssertionError(f"request {served + 1} after {time.time() - t0:.1f} s: {e!r}\n"
                                     f"{socket_and_thread_states(s)}\n{s.log()}") from e
            assert status == 200
            slowest = max(slowest, time.time() - t0)
            served += 1
            time.sleep(0.2)
        wait_until(lambda: not alive(stopped), timeout=5, what="the stopped worker to be killed")
    finally:
        try:
            os.kill(stopped, signal.SIGCONT)
        except ProcessLookupError:
            pass
    print(f"\nworker stopped: {served} requests served around it, slowest {slowest:.3f} s")
    # a connection whose wakeup went to the stopped worker waits for the
    # others' once-a-second look at the listeners, not for the kill
    assert slowest < 3
    s.wait_log("sent no heartbeat")
    s.wait_workers(2)


# MARK: 9. smaller ones

def test_fast_stop_logs_its_own_window(gatewayd):
    s = gatewayd(workers=1, graceful_timeout=30)
    s.wait_workers(1)
    results = {}
    t = threading.Thread(target=slow_request, args=(s.port, 10, results, "slow"), daemon=True)
    t.start()
    wait_until(lambda: busy_workers(s), what="a busy worker")
    s.signal(signal.SIGINT)
    started = time.monotonic()
    assert s.wait_exit(timeout=10) == 0
    # Fast: not graceful_timeout's 30 s. The worker's loop thread ends the
    # process with the app call in progress; if it cannot (stopped, stuck),
    # the master kills it 2 s after the fast stop and says so.
    assert time.monotonic() - started < 5
    log = s.log()
    assert "after graceful_timeout" not in log, log
    assert "exiting with app calls in progress" in log or "after the fast stop" in log, log


def test_worker_connections_reached_is_logged_once_and_the_next_client_waits(gatewayd):
    s = gatewayd(workers=1, worker_connections=5, header_timeout=60)
    s.wait_workers(1)
    held = []
    for _ in range(5):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        c.sendall(b"GET / HTTP/1.1\r\n")
        held.append(c)
    time.sleep(0.3)
    extra = []
    for _ in range(10):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        c.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        extra.append(c)
    time.sleep(1)
    lines = [x for x in s.log().splitlines() if "worker_connections" in x]
    assert len(lines) == 1, lines
    # the 6th client waits in the listen queue, unanswered, not refused ...
    extra[0].settimeout(0.5)
    with pytest.raises(socket.timeout):
        extra[0].recv(100)
    # ... and is served once a connection closes
    for c in held:
        c.close()
    for c in extra:
        c.settimeout(5)
        r = read_response(c.makefile("rb"))
        assert r.status == 200
        c.close()


LINE = re.compile(r"^(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4} \[\w+\] \[\w+ \d+\] .*|127\.0\.0\.1 .*\" \d{3} \d+ .*\")$")


def test_log_lines_are_whole_when_the_disk_is_full(gatewayd, workdir):
    logs = os.path.join(workdir, "logs")
    os.mkdir(logs)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", logs]).returncode != 0:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
    try:
        os.chmod(logs, 0o777)
        s = gatewayd(workers=1, error_log=os.path.join(logs, "error.log"), access_log=os.path.join(logs, "access.log"),
                     start=False)
        s.start(wait=False)
        error_log = os.path.join(logs, "error.log")
        wait_until(lambda: os.path.exists(error_log) and "workers ready" in open(error_log).read(), what="ready")
        with Client(s.port) as c:
            for i in range(2000):
                assert c.request(path="/log?msg=" + "x" * (i % 37)).status == 200
        sizes = {n: os.path.getsize(os.path.join(logs, n)) for n in os.listdir(logs)}
        print(f"\nfull disk: {sizes}, requests all answered")
        for name in ("error.log", "access.log"):
            data = open(os.path.join(logs, name), "rb").read()
            assert data.endswith(b"\n"), f"{name} ends in a torn line: {data[-120:]!r}"
            bad = [x for x in data.decode("utf-8", "replace").split("\n")[:-1] if not LINE.match(x)]
            assert not bad, f"{name}: torn lines {bad[:3]}"
        s.stop()
    finally:
        subprocess.run(["umount", "-l", logs])
