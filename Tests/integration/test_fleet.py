"""Beyond one host: three gatewayd hosts, each in its own network namespace
(veth pairs to a bridge in the root namespace, addresses in 10.231.N.0/24,
nothing leaves the machine), behind a real nginx in the root namespace with an
upstream of the three (proxy_next_upstream for idempotent requests, passive
health with max_fails and fail_timeout), under steady load from a thread pool:

1. a rolling restart (SIGTERM with drain_delay, stop, start), host by host,
   loses no request;
2. a rolling binary upgrade (SIGUSR2, docs/reload.md) loses none;
3. kill -9 of one host's master loses at most the requests in flight there,
   and nginx stops sending there;
4. one host sheds (max_queue_wait) under a burst while the others serve.

Root only (network namespaces); skipped with the reason otherwise. Every
namespace, link and process is removed at the end, whatever happened."""
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest
from conftest import GATEWAYD, app_path, free_port, wait_until

TAG = "gwf%d" % os.getpid()
SUBNET = "10.231.%d" % (os.getpid() % 250)
BRIDGE = TAG + "br"
GATEWAY = SUBNET + ".1"
HOSTS = 3


def sh(*cmd, check=True):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


def why_not():
    if os.geteuid() != 0:
        return "the fleet test needs root (ip netns, veth, a bridge); run make test as root"
    if not shutil.which("ip"):
        return "the fleet test needs iproute2 (ip); scripts/deps.sh installs it"
    if not shutil.which("nginx"):
        return "the fleet test needs nginx"
    probe = TAG + "probe"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"network namespaces are not available here: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


SKIP = why_not()
pytestmark = pytest.mark.skipif(SKIP is not None, reason=str(SKIP))


class Host:
    def __init__(self, fleet, i):
        self.fleet = fleet
        self.i = i
        self.ns = f"{TAG}-h{i}"
        self.addr = f"{SUBNET}.{10 + i}"
        self.dir = os.path.join(fleet.dir, f"h{i}")
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "gatewayd.conf")
        self.pidfile = os.path.join(self.dir, "gatewayd.pid")
        self.log_path = os.path.join(self.dir, "gatewayd.log")
        self.exe = os.path.join(self.dir, "gatewayd")
        shutil.copy(GATEWAYD, self.exe)  # the upgrade replaces it by rename
        self.proc = None
        self.write_config()

    def write_config(self, **extra):
        settings = {"bind": [f"{self.addr}:8000"], "admin_bind": [f"{self.addr}:9000"], "workers": 2,
                    "app": app_path("testapp"), "forwarded_allow_ips": [GATEWAY], "drain_delay": 1,
                    "graceful_timeout": 5, "pidfile": self.pidfile, "keepalive_timeout": 5}
        settings.update(extra)
        with open(self.conf, "w") as f:
            for k, v in settings.items():
                f.write(f"{k} = {json.dumps(v)}\n")

    def start(self):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, self.exe, "-c", self.conf],
                                     stdout=self.logf, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(self.ready, timeout=20, what=f"host {self.i} ready")
        except AssertionError:
            raise AssertionError(f"host {self.i} not ready:\n" + self.log()[-3000:]) from None

    def ready(self):
        try:
            return self.admin("/readyz")[0] == 200
        except OSError:
            return False

    def admin(self, path):
        c = http.client.HTTPConnection(self.addr, 9000, timeout=3)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body

    def metric(self, name):
        for line in self.admin("/metrics")[1].decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        raise AssertionError(f"{name} not in host {self.i}'s /metrics")

    @property
    def master(self):
        try:
            return int(open(self.pidfile).read())
        except (OSError, ValueError):
            return None  # being replaced

    def exited(self, pid):
        if self.proc and self.proc.pid == pid:
            return self.proc.poll() is not None  # ours: reap it
        return not os.path.exists(f"/proc/{pid}")

    def pids(self):
        return [int(p) for p in sh("ip", "netns", "pids", self.ns, check=False).split()]

    def kill_all(self):
        """SIGKILL to everything in the namespace, then until each is reaped
        (a master not ours is reaped by init, a moment later: until then its
        pid is alive for the pidfile check of the next start)."""
        pids = self.pids()
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until(lambda: all(self.exited(p) for p in pids), timeout=10, what=f"host {self.i}'s processes reaped")

    def wait_gone(self, timeout=15):
        def gone():
            if self.proc:
                self.proc.poll()  # reap the master we started (a zombie holds no namespace, but be sure)
            return not self.pids()
        wait_until(gone, timeout=timeout, what=f"host {self.i}'s processes gone")

    def log(self):
        return open(self.log_path, errors="replace").read()


class Fleet:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gatewayd-fleet-")
        os.chmod(self.dir, 0o755)
        self.hosts = []
        self.nginx = None

    def build(self):
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        for i in range(1, HOSTS + 1):
            h = Host(self, i)
            self.hosts.append(h)
            outer, inner = f"{TAG}h{i}a", f"{TAG}h{i}b"
            sh("ip", "netns", "add", h.ns)
            sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            sh("ip", "link", "set", outer, "master", BRIDGE)
            sh("ip", "link", "set", outer, "up")
            sh("ip", "link", "set", inner, "netns", h.ns)
            sh("ip", "-n", h.ns, "link", "set", "lo", "up")
            sh("ip", "-n", h.ns, "addr", "add", f"{h.addr}/24", "dev", inner)
            sh("ip", "-n", h.ns, "link", "set", inner, "up")
            sh("ip", "-n", h.ns, "route", "add", "default", "via", GATEWAY)
        for h in self.hosts:
            h.start()
        self.start_nginx()

    def start_nginx(self):
        d = os.path.join(self.dir, "nginx")
        os.makedirs(d)
        self.port = free_port()
        servers = "\n".join(f"        server {h.addr}:8000 max_fails=1 fail_timeout=2s;" for h in self.hosts)
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"""worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream fleet {{
{servers}
        keepalive 16;
        keepalive_timeout 4s;
    }}
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            proxy_pass http://fleet;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Request-Start "t=${{msec}}";
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 3;
            proxy_connect_timeout 1s;
            proxy_read_timeout 10s;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
""")
        self.nginx = subprocess.Popen(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-g", "daemon off;"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: self.get("/")[0] == 200, timeout=10, what="nginx in front of the fleet")

    def get(self, path):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            c.close()
            return r.status, r.getheader("X-Upstream", "")
        except OSError as e:
            return None, repr(e)

    def ensure_up(self):
        for h in self.hosts:
            if not h.ready():
                h.kill_all()
                h.start()
        time.sleep(2.5)  # past fail_timeout: nginx sends to every host again

    def tear_down(self):
        if self.nginx and self.nginx.poll() is None:
            os.killpg(self.nginx.pid, signal.SIGKILL)
            self.nginx.wait()
        for h in self.hosts:
            for p in h.pids():
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for i in range(1, HOSTS + 1):
            subprocess.run(["ip", "netns", "del", f"{TAG}-h{i}"], capture_output=True)
            subprocess.run(["ip", "link", "del", f"{TAG}h{i}a"], capture_output=True)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def remove_stale():
    """Namespaces and links left by a fleet test whose process is gone (killed hard)."""
    for line in sh("ip", "netns", "list", check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith("gwf") and "-h" in name:
            pid = name[3:].split("-")[0]
            stale = pid.isdigit() and not os.path.exists(f"/proc/{pid}")
            if stale or name.startswith(TAG + "-"):
                for p in sh("ip", "netns", "pids", name, check=False).split():
                    subprocess.run(["kill", "-9", p], capture_output=True)
                subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture(scope="module")
def fleet():
    remove_stale()
    f = Fleet()
    try:
        f.build()
        yield f
    finally:
        f.tear_down()


class SteadyLoad:
    """Clients in threads, one GET after another through nginx; every
    request's outcome, its time and the host that answered it."""

    def __init__(self, fleet, clients=6, path="/"):
        self.fleet = fleet
        self.path = path
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.results = []  # (started, status, upstream)
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(clients)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        time.sleep(0.3)
        return self

    def __exit__(self, *a):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=15)

    def client(self):
        while not self.stop_flag.is_set():
            t = time.time()
            status, upstream = self.fleet.get(self.path)
            with self.lock:
                self.results.append((t, status, upstream))
            time.sleep(0.005)

    @property
    def failures(self):
        return [r for r in self.results if r[1] != 200]


def test_rolling_restart_with_drain_loses_no_request(fleet):
    fleet.ensure_up()
    with SteadyLoad(fleet) as load:
        for h in fleet.hosts:
            old = h.master
            os.kill(old, signal.SIGTERM)
            wait_until(lambda: h.admin("/readyz")[0] == 503, timeout=1, what="readyz 503 at once")
            h.wait_gone(timeout=15)
            assert "draining for 1.0s" in h.log()
            h.start()
            time.sleep(0.5)
    served = len(load.results)
    print(f"\nrolling restart: {served} requests, {len(load.failures)} failed")
    assert served > 100, served
    assert load.failures == [], load.failures[:5]
    # every host serves again once nginx tries it after fail_timeout
    time.sleep(2.5)
    answered = {fleet.get("/")[1].split(", ")[-1].split(":")[0] for _ in range(30)}
    assert answered == {h.addr for h in fleet.hosts}, answered


def test_rolling_binary_upgrade_loses_no_request(fleet):
    fleet.ensure_up()
    with SteadyLoad(fleet) as load:
        for h in fleet.hosts:
            old = h.master
            shutil.copy(GATEWAYD, h.exe + ".new")
            os.rename(h.exe + ".new", h.exe)
            os.kill(old, signal.SIGUSR2)
            wait_until(lambda: h.exited(old) and h.master not in (None, old), timeout=20,
                       what=f"host {h.i}: the new master took over")
            wait_until(h.ready, timeout=10, what=f"host {h.i} ready after the upgrade")
    print(f"\nrolling binary upgrade: {len(load.results)} requests, {len(load.failures)} failed")
    assert len(load.results) > 100
    assert load.failures == [], load.failures[:5]


def test_kill_9_of_a_master_loses_at_most_its_requests_in_flight(fleet):
    fleet.ensure_up()
    victim = fleet.hosts[2]
    with SteadyLoad(fleet) as load:
        time.sleep(0.5)
        killed_at = time.time()
        os.kill(victim.master, signal.SIGKILL)
        time.sleep(3)
    print(f"\nkill -9: {len(load.results)} requests, {len(load.failures)} failed")
    # at most one request per worker was in flight there (and nginx retried the rest)
    assert len(load.failures) <= 2, load.failures
    later = [u for t, st, u in load.results if t > killed_at + 0.5 and st == 200]
    assert len(later) > 50
    assert not any(u.endswith(f"{victim.addr}:8000") for u in later), "nginx stopped sending there"
    victim.wait_gone(timeout=10)  # its orphaned workers finish and leave
    wait_until(lambda: victim.exited(victim.master), timeout=10, what="the killed master reaped")


def test_one_host_sheds_under_a_burst_while_the_others_serve(fleet):
    fleet.ensure_up()
    shedder = fleet.hosts[0]
    shedder.kill_all()
    shedder.write_config(workers=1, max_queue_wait=0.2)
    shedder.start()
    time.sleep(2.5)
    results = []

    def slow():
        results.append(fleet.get("/sleep?seconds=0.3"))
    with SteadyLoad(fleet, clients=3) as load:
        burst = [threading.Thread(target=slow) for _ in range(24)]
        for t in burst:
            t.start()
        for t in burst:
            t.join(timeout=30)
    shed = shedder.metric("gatewayd_requests_shed_total")
    print(f"\nburst: 24 slow requests, {sum(1 for st, _ in results if st == 200)} served, host 1 shed {shed:.0f}, "
          f"steady load {len(load.results)} requests, {len(load.failures)} failed")
    assert shed > 0, "the one-worker host shed what waited above 0.2 s"
    # nginx took each shed request to another host (http_503): every one served
    assert [st for st, _ in results] == [200] * 24, results
    assert load.failures == [], load.failures[:5]
    others = {h.addr for h in fleet.hosts[1:]}
    assert sum(1 for _, u in results if u.split(", ")[-1].split(":")[0] in others) >= 12
    shedder.write_config()
