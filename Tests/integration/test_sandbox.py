"""The workers' sandbox (`sandbox`, docs/sandbox.md) against a hostile app
(Examples/hostile, build/apps/hostile.so): each thing a compromised app
would try is refused, the request still gets its answer, and the worker
lives on; with `sandbox = false` the same app can do what its user may (so
these tests can fail); the ways to widen it work; without Landlock the
server says so once and keeps the rest."""
import ctypes
import json
import os
import shutil
import socket
import tempfile

import pytest

from conftest import ROOT, get, wait_until

# Refused by the system-call filter whoever the workers run as (kill_master,
# kill_group: signals to the master's pid and process group).
BY_FILTER = ("exec", "ptrace", "raw_socket", "netlink", "mount", "setuid", "init_module", "finit_module",
             "kill_master", "kill_group")
# Refused by Landlock (write) or by the user and Landlock (shadow, the
# master's environ, a sibling's memory).
BY_FILES = ("shadow", "environ", "write", "mem_sibling")


def landlock_abi():
    """The kernel's Landlock ABI (0: none), as the workers see it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    v = libc.syscall(ctypes.c_long(444), None, ctypes.c_long(0), ctypes.c_long(1))  # landlock_create_ruleset, VERSION
    return max(int(v), 0)


ABI = landlock_abi()
# Landlock ABI 6 (Linux 6.12): signals and abstract unix sockets scoped to
# the worker; ABI 4 (6.7): no TCP bind.
BY_SCOPE = ("kill_sibling", "abstract") if ABI >= 6 else ()
BY_NET = ("bind_tcp",) if ABI >= 4 else ()


def assert_refused(r, by_filter=BY_FILTER, by_files=BY_FILES, by_scope=BY_SCOPE, by_net=BY_NET):
    for name in by_filter:
        assert r[name] == "EPERM", (name, r)
    for name in by_files:
        assert r[name] in ("EACCES", "EPERM"), (name, r)
    for name in by_scope:
        assert r[name] == "EPERM", (name, r)
    for name in by_net:
        assert r[name] == "EACCES", (name, r)


@pytest.fixture
def abstract():
    """An abstract unix socket listening in the test (another service's)."""
    name = f"gatewayd-test-{os.getpid()}-{os.urandom(4).hex()}"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("\0" + name)
    s.listen(64)
    yield name
    s.close()


@pytest.fixture
def outside():
    """A directory the workers' user may write but the sandbox does not
    allow: not the temp directory, not the app's, not the test's."""
    # Not under the checkout either: a clone may live in /tmp (CI's does),
    # and the temp directory is always writable under the sandbox.
    d = tempfile.mkdtemp(prefix="gatewayd-sandbox-outside-", dir="/var/lib")
    os.chmod(d, 0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def attempt(s, outside, workers=None, abstract=""):
    """One request to the hostile app, asked to ptrace, signal and read
    another worker: the answer as a dict."""
    workers = workers or s.workers()
    for _ in range(20):
        for sibling in workers:
            status, body = get(s.port, f"/?sibling={sibling}&write={outside}/planted&abstract={abstract}")
            assert status == 200, body
            r = json.loads(body)
            if r["pid"] != sibling:
                return r
    raise AssertionError("every request was served by the worker named as the sibling")


def test_every_attempt_is_refused_and_answered(gatewayd, outside, abstract):
    s = gatewayd(app="hostile", workers=2)
    before = s.workers()
    r = attempt(s, outside, abstract=abstract)
    assert_refused(r)
    assert not os.path.exists(os.path.join(outside, "planted"))
    # the same workers, still serving: a refusal is an error, never a kill
    assert s.workers() == before
    r2 = attempt(s, outside)
    assert r2["exec"] == "EPERM"
    assert s.workers() == before
    # this kernel has Landlock: one line of what is on, no warning
    lines = [line for line in s.log().splitlines() if "sandbox:" in line]
    assert len(lines) == 1 and "[info]" in lines[0] and "sandbox: on:" in lines[0], lines
    assert f"Landlock ABI {ABI}" in lines[0] and "exec refused" in lines[0], lines


def test_a_write_path_that_is_not_there_is_said_at_start(gatewayd, outside):
    missing = os.path.join(outside, "not-made-yet")
    s = gatewayd(app="hostile", workers=1, sandbox_write_paths=[missing])
    warnings = [line for line in s.log().splitlines() if "[warning]" in line and "sandbox:" in line]
    assert len(warnings) == 1 and missing in warnings[0] and "does not exist" in warnings[0], s.log()


def test_without_the_sandbox_the_app_can(gatewayd, outside, abstract):
    """The control: the same app with sandbox = false runs a program, opens
    a netlink socket and writes where its user may."""
    s = gatewayd(app="hostile", workers=2, sandbox=False)
    r = attempt(s, outside, abstract=abstract)
    assert r["exec"] == "ok", r
    assert r["netlink"] == "ok", r
    assert r["write"] == "ok", r
    assert r["kill_group"] == "ok", r  # the workers' group holds the workers
    assert r["kill_sibling"] == "ok", r
    assert r["abstract"] == "ok", r
    assert r["bind_tcp"] == "ok", r


def test_allow_exec_widens_only_exec(gatewayd, outside):
    s = gatewayd(app="hostile", workers=2, sandbox_allow_exec=True)
    r = attempt(s, outside)
    assert r["exec"] == "ok", r
    for name in BY_FILTER[1:]:
        assert r[name] == "EPERM", (name, r)
    assert r["write"] in ("EACCES", "EPERM"), r


@pytest.mark.skipif(ABI < 4, reason="Landlock ABI 4 (Linux 6.7) refuses TCP binds; older kernels do not")
def test_allow_bind_widens_only_bind(gatewayd, outside):
    s = gatewayd(app="hostile", workers=2, sandbox_allow_bind=True)
    r = attempt(s, outside)
    assert r["bind_tcp"] == "ok", r
    assert_refused(r, by_net=(), by_scope=())


def test_write_paths_widen_writes(gatewayd, outside):
    s = gatewayd(app="hostile", workers=2, sandbox_write_paths=[outside])
    r = attempt(s, outside)
    assert r["write"] == "ok", r
    assert r["exec"] == "EPERM", r


def test_relative_write_path_is_a_config_error(gatewayd):
    s = gatewayd(app="hostile", start=False, sandbox_write_paths=["data"])
    s.start(wait=False)
    assert s.wait_exit() != 0
    assert "sandbox_write_paths" in s.log() and "absolute" in s.log()


def test_without_landlock_one_line_and_the_filter_stays(gatewayd, outside, monkeypatch):
    """A kernel without Landlock (simulated: GATEWAYD_LANDLOCK=off): the
    master says so once, the workers keep no-new-privileges and the filter."""
    monkeypatch.setenv("GATEWAYD_LANDLOCK", "off")
    s = gatewayd(app="hostile", workers=2)
    r = attempt(s, outside)
    for name in BY_FILTER:
        assert r[name] == "EPERM", (name, r)
    assert r["write"] == "ok", r  # no filesystem rules without Landlock
    lines = [line for line in s.log().splitlines() if "sandbox:" in line]
    assert len(lines) == 1, s.log()
    assert "GATEWAYD_LANDLOCK=off" in lines[0] and "system-call filter" in lines[0]


# ------------------------------------------------- a master that is not root

def test_a_master_that_is_not_root_is_out_of_its_workers_reach(gatewayd, outside, abstract):
    """The shipped unit's way (User=gatewayd, no capability): master and
    workers share a user. A worker still cannot signal the master (the
    filter), read its environ or memory (it is not dumpable), signal or read
    a sibling (Landlock's scopes), bind a port; each is refused and answered."""
    s = gatewayd(app="hostile", workers=2, as_user="nobody")
    master = os.stat(f"/proc/{s.pid}/environ")
    assert master.st_uid == 0, "the master is dumpable: its /proc files belong to its user"
    workers = s.workers()
    assert all(os.stat(f"/proc/{w}").st_uid == pwd_uid("nobody") for w in workers)
    assert all(os.stat(f"/proc/{w}/environ").st_uid == pwd_uid("nobody") for w in workers), "workers not dumpable"
    r = attempt(s, outside, abstract=abstract)
    assert_refused(r)
    assert s.workers() == workers
    assert "capset" not in s.log() and "PR_SET_DUMPABLE" not in s.log(), s.log()


def test_without_landlock_a_master_that_is_not_root_keeps_its_shields(gatewayd, outside, monkeypatch):
    """No Landlock: the master's pid and group are still out of the
    filter's reach, its environ out of the workers' (not dumpable)."""
    monkeypatch.setenv("GATEWAYD_LANDLOCK", "off")
    s = gatewayd(app="hostile", workers=2, as_user="nobody")
    r = attempt(s, outside)
    assert_refused(r, by_files=("shadow", "environ"), by_scope=(), by_net=())


def test_sandbox_off_under_a_master_that_is_not_root_is_a_warning(gatewayd, outside):
    """sandbox = false with the master of the workers' user: the app may
    signal the master (the control of the tests above), and the log says so."""
    s = gatewayd(app="hostile", workers=2, as_user="nobody", sandbox=False)
    r = attempt(s, outside)
    assert r["kill_master"] == "ok", r
    warnings = [line for line in s.log().splitlines() if "[warning]" in line and "sandbox: off" in line]
    assert len(warnings) == 1 and "signal the master" in warnings[0], s.log()


def test_a_master_that_is_not_root_answers_a_timeout(gatewayd):
    """The master takes a timed-out client's socket from the worker
    (pidfd_getfd) without CAP_SYS_PTRACE: the workers made themselves
    dumpable again. The client gets the 504 at the timeout."""
    s = gatewayd(workers=1, timeout=1, as_user="nobody")
    status, _ = get(s.port, "/sleep?seconds=30", timeout=15)
    assert status == 504, s.log()
    assert "pidfd_getfd" not in s.log(), s.log()


def pwd_uid(name):
    import pwd
    return pwd.getpwnam(name).pw_uid


def test_status_no_new_privs_and_seccomp(gatewayd):
    """What the kernel says of a worker: NoNewPrivs and a seccomp filter."""
    s = gatewayd(app="hostile", workers=1)
    pid = s.workers()[0]
    status = wait_until(lambda: open(f"/proc/{pid}/status").read(), what="status")
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2"
    assert int(fields.get("Seccomp_filters", "2").strip()) >= 2  # the allow list, then exec closed
    # the master is not confined
    master = dict(line.split(":\t", 1) for line in open(f"/proc/{s.pid}/status").read().splitlines() if ":\t" in line)
    assert master["Seccomp"].strip() == "0"


# ------------------------------------------------------------ WSGI apps

DJANGO_SQLITE = '''
import os, subprocess
from django.conf import settings
settings.configure(DEBUG=False, SECRET_KEY="t", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__,
                   INSTALLED_APPS=[], MIDDLEWARE=[], USE_TZ=True, LOGGING_CONFIG=None,
                   DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                                          "NAME": os.path.join(os.environ["DB_DIR"], "app.sqlite3")}})
from django.core.wsgi import get_wsgi_application
from django.db import connection
from django.http import JsonResponse
from django.urls import path

def notes(request):
    with connection.cursor() as c:
        c.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT)")
        c.execute("INSERT INTO notes (text) VALUES (%s)", [request.GET.get("text", "x")])
        c.execute("SELECT COUNT(*) FROM notes")
        return JsonResponse({"count": c.fetchone()[0]})

def run(request):
    try:
        out = subprocess.run(["/bin/echo", "hi"], capture_output=True, text=True).stdout.strip()
        return JsonResponse({"ran": out})
    except OSError as e:
        return JsonResponse({"error": type(e).__name__, "errno": e.errno})

urlpatterns = [path("notes", notes), path("run", run)]
application = get_wsgi_application()
'''


from test_wsgi import WORKERS_AS_ROOT, WSGI_SO, _no_bytecode, frameworks  # noqa: E402,F401 (fixtures)


@pytest.fixture
def django_sqlite(gatewayd, outside, frameworks, workdir):
    """Django with SQLite, its database in `outside` (named by
    sandbox_write_paths), the module in the test's directory."""
    assert os.path.exists(WSGI_SO), f"{WSGI_SO} is not built: make build/apps/wsgi.so"

    def start(**settings):
        d = os.path.join(workdir, "django_app")
        os.makedirs(d, mode=0o755, exist_ok=True)
        with open(os.path.join(d, "django_sqlite.py"), "w") as f:
            f.write(DJANGO_SQLITE)
        if WORKERS_AS_ROOT:
            settings.setdefault("allow_root", True)
        settings.setdefault("env", [f"DB_DIR={outside}"])
        return gatewayd(app=WSGI_SO, workers=1, app_args={"app": "django_sqlite:application",
                                                          "pythonpath": [d, *frameworks]}, **settings)
    return start


def test_django_sqlite_in_a_write_path(django_sqlite, outside):
    s = django_sqlite(sandbox_write_paths=[outside])
    for n in (1, 2, 3):
        status, body = get(s.port, f"/notes?text=n{n}")
        assert status == 200, (body, s.log())
        assert json.loads(body) == {"count": n}
    assert os.path.exists(os.path.join(outside, "app.sqlite3"))
    # a program: refused (PermissionError in the app), the request answered
    status, body = get(s.port, "/run")
    assert status == 200 and json.loads(body) == {"error": "PermissionError", "errno": 1}, body


def test_django_sqlite_outside_the_write_paths_is_refused(django_sqlite, outside):
    s = django_sqlite()
    status, body = get(s.port, "/notes")
    assert status == 500, body  # sqlite3.OperationalError: unable to open database file
    assert not os.path.exists(os.path.join(outside, "app.sqlite3"))


def test_subprocess_with_allow_exec(django_sqlite, outside):
    s = django_sqlite(sandbox_allow_exec=True, sandbox_write_paths=[outside])
    status, body = get(s.port, "/run")
    assert status == 200 and json.loads(body) == {"ran": "hi"}, body


DJANGO_POSTGRES = '''
import os
from django.conf import settings
settings.configure(DEBUG=False, SECRET_KEY="t", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__,
                   INSTALLED_APPS=[], MIDDLEWARE=[], USE_TZ=True, LOGGING_CONFIG=None,
                   DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "postgres",
                                          "USER": "postgres", "HOST": os.environ["PG_HOST"],
                                          "PORT": os.environ["PG_PORT"]}})
from django.core.wsgi import get_wsgi_application
from django.db import connection
from django.http import JsonResponse
from django.urls import path

def notes(request):
    with connection.cursor() as c:
        c.execute("CREATE TABLE IF NOT EXISTS notes (id SERIAL PRIMARY KEY, text TEXT)")
        c.execute("INSERT INTO notes (text) VALUES (%s)", [request.GET.get("text", "x")])
        c.execute("SELECT COUNT(*) FROM notes")
        return JsonResponse({"count": c.fetchone()[0]})

urlpatterns = [path("notes", notes)]
application = get_wsgi_application()
'''

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_PACKAGES = os.path.join(ROOT, "build", "pg-packages")  # pip install --target build/pg-packages "psycopg[binary]"


@pytest.fixture
def postgres(workdir):
    """A throwaway PostgreSQL cluster (as the postgres user), on a unix
    socket and on 127.0.0.1: (socket directory, port)."""
    import pwd
    import subprocess
    from conftest import free_port
    if not os.path.exists(os.path.join(PG_BIN, "initdb")) or os.geteuid() != 0:
        pytest.skip("PostgreSQL 15 server binaries and root are needed")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres user")
    if not os.path.isdir(os.path.join(PG_PACKAGES, "psycopg")):
        pytest.skip("psycopg is not in build/pg-packages")
    d = os.path.join(workdir, "pg")
    os.mkdir(d)
    shutil.chown(d, "postgres")
    port = free_port()
    run = lambda *cmd: subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True, timeout=120)
    r = run(f"{PG_BIN}/initdb", "-D", f"{d}/data", "-A", "trust", "-U", "postgres")
    assert r.returncode == 0, r.stderr
    r = run(f"{PG_BIN}/pg_ctl", "-D", f"{d}/data", "-l", f"{d}/log", "-w", "start", "-o",
            f"-k {d} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off")
    assert r.returncode == 0, r.stderr + open(f"{d}/log").read()
    yield d, port
    run(f"{PG_BIN}/pg_ctl", "-D", f"{d}/data", "-m", "immediate", "stop")


@pytest.mark.parametrize("over", ["unix", "tcp"])
def test_django_postgres(gatewayd, frameworks, workdir, postgres, over):
    """Django on PostgreSQL (psycopg 3, libpq) under the sandbox, over the
    server's unix socket and over TCP."""
    sock_dir, port = postgres
    d = os.path.join(workdir, "django_pg")
    os.makedirs(d, mode=0o755)
    with open(os.path.join(d, "django_pg.py"), "w") as f:
        f.write(DJANGO_POSTGRES)
    host = sock_dir if over == "unix" else "127.0.0.1"
    settings = {"allow_root": True} if WORKERS_AS_ROOT else {}
    s = gatewayd(app=WSGI_SO, workers=1, env=[f"PG_HOST={host}", f"PG_PORT={port}"],
                 app_args={"app": "django_pg:application", "pythonpath": [d, PG_PACKAGES, *frameworks]}, **settings)
    for n in (1, 2):
        status, body = get(s.port, f"/notes?text=n{n}")
        assert status == 200, (body, s.log())
        assert json.loads(body) == {"count": n}
