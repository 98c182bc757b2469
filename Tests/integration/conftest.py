"""Integration test harness: starts the real build/bin/gatewayd on free ports
with real apps, and talks to it with real clients (sockets, curl, wrk).

Every test gets its own directory (mode 0755: when the tests run as root the
workers drop to nobody, who must be able to read what the app reads)."""
import glob
import os
import pwd
import random
import signal
import socket
import subprocess
import time
import tempfile
import shutil
import stat
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# GATEWAYD_BIN: run the suite against another build (e.g. an older one, to see a new test fail there).
GATEWAYD = os.environ.get("GATEWAYD_BIN") or os.path.join(ROOT, "build", "bin", "gatewayd")
APPS = os.path.join(ROOT, "build", "apps")


def app_path(name):
    return os.path.join(APPS, name + ".so")


_handed_out = set()


def free_port():
    """A port to bind, below the kernel's ephemeral range: a port the kernel
    gave us (bind to 0) is in that range, where an outgoing connection (nginx
    to its upstream, a client) may take it before the server binds it. Never
    the same port twice in a run."""
    low = 10000
    try:
        high = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0]) - 1
    except (OSError, ValueError, IndexError):
        high = 32767
    for _ in range(1000):
        port = random.randint(low, high)
        if port in _handed_out:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_value(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Server:
    """One gatewayd master started from a config written for the test."""

    def __init__(self, workdir, port, settings, app_args=None, extra_args=()):
        self.workdir = workdir
        self.port = port
        self.settings = settings
        self.app_args = app_args or {}
        self.extra_args = list(extra_args)
        self.prefix = []  # e.g. setpriv: the master started as another user
        self.conf = os.path.join(workdir, "gatewayd.conf")
        self.log_path = os.path.join(workdir, "gatewayd.log")
        self.proc = None
        self.write_config()

    def write_config(self, settings=None, app_args=None):
        if settings is not None:
            self.settings = settings
        if app_args is not None:
            self.app_args = app_args
        lines = [f"{k} = {toml_value(v)}" for k, v in self.settings.items()]
        if self.app_args:
            lines.append("[app_args]")
            lines += [f"{k} = {toml_value(v)}" for k, v in self.app_args.items()]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, wait=True):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.prefix + [GATEWAYD, "-c", self.conf] + self.extra_args,
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     cwd=self.workdir, start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gatewayd exited with {self.proc.returncode}:\n{self.log()}")
            if len(self.workers()) >= int(self.settings.get("workers", 2)) and "workers ready" in self.log():
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        raise AssertionError("gatewayd did not become ready:\n" + self.log())

    @property
    def pid(self):
        return self.proc.pid

    def workers(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return sorted(int(x) for x in out.split())

    def wait_workers(self, n, timeout=10, exclude=()):
        deadline = time.time() + timeout
        while time.time() < deadline:
            w = [p for p in self.workers() if p not in exclude]
            if len(w) == n:
                return w
            time.sleep(0.05)
        raise AssertionError(f"expected {n} workers, have {self.workers()}\n{self.log()}")

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, text, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.log():
                return True
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in the log:\n{self.log()}")

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout=15):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except Exception:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if getattr(self, "logf", None):
            self.logf.close()

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="gatewayd-test-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def gatewayd(workdir):
    """gatewayd(app="testapp", workers=2, **settings) -> a started Server.
    as_user="nobody": the master itself starts as that user, with no
    capability at all (as under the shipped unit's User=gatewayd)."""
    servers = []

    def start(app="testapp", app_args=None, start=True, extra_args=(), as_user=None, **settings):
        port = settings.pop("port", None) or free_port()
        conf = {"bind": [f"127.0.0.1:{port}"], "workers": 2,
                "app": app if app.startswith("/") else app_path(app)}
        conf.update(settings)
        s = Server(workdir, port, conf, app_args, extra_args)
        if as_user:
            # setpriv execs gatewayd: the master keeps setpriv's pid
            s.prefix = ["setpriv", f"--reuid={as_user}", f"--regid={pwd.getpwnam(as_user).pw_gid}", "--clear-groups",
                        "--inh-caps=-all", "--bounding-set=-all", "--"]
        servers.append(s)
        if start:
            s.start()
        return s

    yield start
    for s in servers:
        s.stop()


def http(port, raw, timeout=5, host="127.0.0.1"):
    """Sends raw bytes, returns everything read until the server closes or `timeout`."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(raw)
        return read_all(s, timeout)


def read_all(s, timeout=5):
    s.settimeout(timeout)
    chunks = []
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    except socket.timeout:
        pass
    return b"".join(chunks)


class Response:
    def __init__(self, status, reason, headers, body, version):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lowercase name, value)
        self.body = body
        self.version = version

    def header(self, name):
        for k, v in self.headers:
            if k == name.lower():
                return v
        return None


def read_response(sock_file, head_only=False):
    """Reads one response from a file object made with sock.makefile('rb')."""
    line = sock_file.readline()
    if not line:
        raise EOFError("connection closed")
    version, status, *reason = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers = []
    while True:
        h = sock_file.readline().decode("latin-1").rstrip("\r\n")
        if not h:
            break
        k, v = h.split(":", 1)
        headers.append((k.strip().lower(), v.strip()))
    r = Response(int(status), reason[0] if reason else "", headers, b"", version)
    status = int(status)
    if head_only or status in (204, 304) or 100 <= status < 200:
        return r
    if r.header("transfer-encoding") == "chunked":
        body = b""
        while True:
            size = int(sock_file.readline().strip().split(b";")[0], 16)
            if size == 0:
                while sock_file.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += sock_file.read(size)
            assert sock_file.read(2) == b"\r\n"
        r.body = body
    elif r.header("content-length") is not None:
        r.body = sock_file.read(int(r.header("content-length")))
    else:
        r.body = sock_file.read()
    return r


class Client:
    """A keep-alive client on one connection."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def send(self, raw):
        self.sock.sendall(raw)

    def request(self, method="GET", path="/", headers=None, body=b"", version="HTTP/1.1"):
        h = {"Host": "test"}
        h.update(headers or {})
        if body and "Content-Length" not in h and "Transfer-Encoding" not in h:
            h["Content-Length"] = str(len(body))
        raw = f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        self.send(raw.encode("latin-1") + body)
        return read_response(self.file, head_only=(method == "HEAD"))

    def read(self, head_only=False):
        return read_response(self.file, head_only)

    def close(self):
        self.file.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def curl(*args, timeout=30):
    return subprocess.run(["curl", "-s", "-S"] + list(args), capture_output=True, timeout=timeout)


def wait_until(fn, timeout=10, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def get(port, path="/", timeout=10):
    """One request on a fresh connection: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        r = read_response(sock.makefile("rb"))
        return r.status, r.body


def readable_by_others(path):
    """Whether every folder down to `path` lets other users in, and `path`
    itself is world-readable (so that nobody can use it)."""
    path = os.path.realpath(path)
    parts = path.split(os.sep)
    for i in range(2, len(parts) + 1):
        d = os.sep.join(parts[:i]) or os.sep
        try:
            mode = os.stat(d).st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH or not mode & stat.S_IROTH:
            return False
    return True


def python_user_args():
    """`--user root` when the workers (nobody, as root) could not read the
    Python the WSGI loader is built against (a pyenv under /root): the loader
    refuses to run the app on another Python then."""
    if os.geteuid() != 0 or readable_by_others(sys.base_prefix):
        return []
    return ["--user", "root"]


def in_sleep(pid):
    """True when one of the process's threads is inside nanosleep or
    clock_nanosleep (x86_64): with app threads, the request may be on any."""
    for task in glob.glob(f"/proc/{pid}/task/*/syscall"):
        try:
            with open(task) as f:
                if f.read().split()[0] in ("35", "230"):
                    return True
        except (OSError, IndexError):
            continue
    return False
