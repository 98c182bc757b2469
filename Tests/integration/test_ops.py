"""The Operations issue with real parts: systemd-socket-activate, an
sd_notify listener, nginx in front, privilege drop."""
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import GATEWAYD, Client, app_path, curl, free_port, toml_value

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


class NotifyListener:
    """A unix datagram socket set as NOTIFY_SOCKET: records every sd_notify message."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o777)
        self.sock.settimeout(0.2)
        self.messages = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                self.messages.append(self.sock.recv(65536).decode())
            except socket.timeout:
                pass

    def fields(self):
        """Every KEY=value line in order."""
        return [line for m in self.messages for line in m.split("\n") if line]

    def wait_for(self, field, count=1, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if sum(1 for f in self.fields() if f.startswith(field)) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"{field} x{count} not received: {self.messages}")

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def write_conf(path, **settings):
    with open(path, "w") as f:
        for k, v in settings.items():
            f.write(f"{k} = {toml_value(v)}\n")


def wait_http(port=None, unix=None, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        args = ["-m", "1", "http://localhost/"] if unix else ["-m", "1", f"http://127.0.0.1:{port}/"]
        if unix:
            args = ["--unix-socket", unix] + args
        if curl(*args).stdout == b"Hello, World!":
            return
        time.sleep(0.1)
    raise AssertionError("not serving")


def test_socket_activation_tcp_and_unix_with_notify(workdir):
    port = free_port()
    sock = os.path.join(workdir, "gw.sock")
    conf = os.path.join(workdir, "gw.conf")
    write_conf(conf, bind=[f"127.0.0.1:{port}", f"unix:{sock}"], workers=2, app=app_path("testapp"))
    notify = NotifyListener(os.path.join(workdir, "notify.sock"))
    log = open(os.path.join(workdir, "log"), "wb")
    proc = subprocess.Popen(["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "-l", sock,
                             "-E", f"NOTIFY_SOCKET={notify.path}", "-E", "WATCHDOG_USEC=1000000",
                             GATEWAYD, "-c", conf], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(port=port)
        wait_http(unix=sock)
        notify.wait_for("READY=1")
        text = open(log.name).read()
        assert "serving on inherited socket fd 3" in text and "serving on inherited socket fd 4" in text
        assert "listening on" not in text  # nothing was bound again
        workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert len(workers) == 2
        # LISTEN_* cleared before the workers were forked (the app sees no such variable)
        for name in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
            assert curl(f"http://127.0.0.1:{port}/getenv?name={name}").stdout == b"unset"
        assert curl(f"http://127.0.0.1:{port}/getenv?name=PATH").stdout != b"unset"
        notify.wait_for("WATCHDOG=1", count=2)
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("READY=1", count=2)
        wait_http(port=port)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        notify.wait_for("STOPPING=1")
        assert "listening on" not in open(log.name).read()  # the reload re-bound nothing either
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
    order = [f for f in notify.fields() if f.split("=")[0] in ("READY", "RELOADING", "STOPPING", "MONOTONIC_USEC")]
    assert order[0] == "READY=1"
    i = order.index("RELOADING=1")
    assert order[i + 1].startswith("MONOTONIC_USEC=")
    assert order[i + 2] == "READY=1"
    assert order[-1] == "STOPPING=1"
    assert any(f.startswith("STATUS=") and "workers" in f for f in notify.fields())
    assert any(f.startswith("MAINPID=") for f in notify.fields())


def test_failed_reload_reports_ready_with_the_reason(workdir):
    port = free_port()
    conf = os.path.join(workdir, "gw.conf")
    write_conf(conf, bind=[f"127.0.0.1:{port}"], workers=1, app=app_path("testapp"))
    notify = NotifyListener(os.path.join(workdir, "notify.sock"))
    env = dict(os.environ, NOTIFY_SOCKET=notify.path)
    proc = subprocess.Popen([GATEWAYD, "-c", conf], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        notify.wait_for("READY=1")
        write_conf(conf, bind=[f"127.0.0.1:{port}"], workers=1, app=app_path("broken-initfail"))
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("READY=1", count=2)
        time.sleep(0.2)
        assert any(f.startswith("STATUS=reload failed") and "database unreachable" in f for f in notify.fields())
        wait_http(port=port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        notify.close()


NGINX_CONF = """
{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx.err;
events {{}}
http {{
    access_log off;
    upstream gw_unix {{ server unix:{sock}; keepalive 8; }}
    upstream gw_tcp {{ server 127.0.0.1:{gport}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{nport};
        location / {{
            proxy_pass http://gw_unix;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For 203.0.113.7;
            proxy_set_header X-Forwarded-Proto https;
        }}
        location /tcp/ {{
            proxy_pass http://gw_tcp/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For 203.0.113.7;
        }}
    }}
}}
"""


@pytest.fixture
def nginx(workdir):
    procs = []

    def start(sock, gport):
        nport = free_port()
        conf = os.path.join(workdir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(user="user root;" if os.geteuid() == 0 else "", dir=workdir, sock=sock,
                                      gport=gport, nport=nport))
        subprocess.run(["nginx", "-c", conf], check=True)
        procs.append(conf)
        return nport

    yield start
    for conf in procs:
        subprocess.run(["nginx", "-c", conf, "-s", "stop"], capture_output=True)


def test_behind_nginx_on_a_unix_socket(gatewayd, nginx, workdir):
    sock = os.path.join(workdir, "gw.sock")
    gport = free_port()
    s = gatewayd(bind=[f"unix:{sock}", f"127.0.0.1:{gport}"], port=gport)
    nport = nginx(sock, gport)
    r = curl(f"http://127.0.0.1:{nport}/")
    assert r.stdout == b"Hello, World!"
    e = json.loads(curl(f"http://127.0.0.1:{nport}/environ").stdout)
    assert e["REMOTE_ADDR"] == "203.0.113.7"  # unix peers are trusted by default
    assert e["gateway.url_scheme"] == "https"
    # upstream keep-alive: nginx reuses its connection to gatewayd (same peer port)
    ports = {json.loads(curl(f"http://127.0.0.1:{nport}/tcp/environ").stdout)["REMOTE_PORT"] for _ in range(10)}
    assert len(ports) == 1, ports
    for _ in range(50):
        assert curl(f"http://127.0.0.1:{nport}/").stdout == b"Hello, World!"


def test_forwarded_headers_only_from_trusted_peers(gatewayd, nginx, workdir):
    sock = os.path.join(workdir, "gw.sock")
    gport = free_port()
    s = gatewayd(bind=[f"unix:{sock}", f"127.0.0.1:{gport}"], port=gport, forwarded_allow_ips=["10.1.2.3"])
    nport = nginx(sock, gport)
    e = json.loads(curl(f"http://127.0.0.1:{nport}/tcp/environ").stdout)
    assert e["REMOTE_ADDR"] == "127.0.0.1"
    e = json.loads(curl(f"http://127.0.0.1:{nport}/environ").stdout)
    assert e["REMOTE_ADDR"] == "" and e["gateway.url_scheme"] == "http"
    # direct clients cannot spoof either
    e = json.loads(curl("-H", "X-Forwarded-For: 1.2.3.4", "-H", "X-Forwarded-Proto: https",
                        f"http://127.0.0.1:{gport}/environ").stdout)
    assert e["REMOTE_ADDR"] == "127.0.0.1" and e["gateway.url_scheme"] == "http"


def uid_of(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("Uid:"):
            return int(line.split()[1])


@needs_root
def test_workers_drop_privileges(gatewayd):
    import pwd
    s = gatewayd(user="nobody")
    nobody = pwd.getpwnam("nobody").pw_uid
    assert uid_of(s.pid) == 0
    for w in s.workers():
        assert uid_of(w) == nobody
    pid = int(Client(s.port).request(path="/pid").body)
    assert uid_of(pid) == nobody


@needs_root
def test_root_workers_only_when_allowed(gatewayd):
    s = gatewayd()  # no user: nobody
    assert all(uid_of(w) != 0 for w in s.workers())
    s.stop()
    s = gatewayd(allow_root=True)
    assert all(uid_of(w) == 0 for w in s.workers())
