"""The command line as a Gunicorn user types it: `gatewayd module:app` with
Gunicorn's flags and no config file, a native app by path, flags over a
config file, --check-config that loads the app, script_name."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import APPS, GATEWAYD, ROOT, app_path, curl, free_port, python_user_args

WSGI_SO = os.path.join(APPS, "wsgi.so")

APP = '''
import json, os, sys
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    print("printed by the app", flush=True)
    sys.stderr.write("stderr of the app\\n"); sys.stderr.flush()
    return [json.dumps({"script_name": environ["SCRIPT_NAME"], "path_info": environ["PATH_INFO"],
                        "greeting": os.environ.get("GREETING"), "remote": environ["REMOTE_ADDR"],
                        "cwd": os.getcwd(), "uid": os.getuid(), "sys_path0": sys.path[0]}).encode()]

def factory():
    return app
'''


@pytest.fixture
def project(workdir):
    d = os.path.join(workdir, "proj")
    os.makedirs(os.path.join(d, "pkg"))
    with open(os.path.join(d, "pkg", "__init__.py"), "w") as f:
        f.write("")
    with open(os.path.join(d, "pkg", "wsgi.py"), "w") as f:
        f.write(APP)
    with open(os.path.join(d, "broken.py"), "w") as f:
        f.write("def app(:\n")
    for root, dirs, files in os.walk(workdir):
        for n in dirs + files:
            os.chmod(os.path.join(root, n), 0o755)
    return d


class Daemon:
    def __init__(self, args, cwd, env=None):
        self.log = os.path.join(cwd, "daemon.out")
        self.out = open(self.log, "wb")
        self.proc = subprocess.Popen([GATEWAYD] + args, cwd=cwd, stdout=self.out, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, start_new_session=True)

    def wait_port(self, port, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    if "workers ready" in self.output():
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("not ready:\n" + self.output())

    def output(self):
        return open(self.log, "rb").read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.out.close()


@pytest.fixture
def daemon():
    started = []

    def start(args, cwd, env=None):
        if "--user" not in args and "-u" not in args:
            args = args + python_user_args()
        d = Daemon(args, cwd, env)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


def wait_log(path, text, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path) and text in open(path).read():
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in {path}")


def get_json(port, path="/"):
    r = curl(f"http://127.0.0.1:{port}{path}")
    return json.loads(r.stdout)


def test_gunicorn_command_line_runs_unchanged(daemon, project, workdir):
    """gunicorn -w 4 -b 127.0.0.1:PORT pkg.wsgi:app --timeout 30 --access-logfile - -e K=V"""
    port = free_port()
    errlog = os.path.join(workdir, "error.log")
    d = daemon(["-w", "3", "-b", f"127.0.0.1:{port}", "pkg.wsgi:app", "--timeout", "30",
                "--graceful-timeout", "5", "--keep-alive", "2", "--max-requests", "1000",
                "--max-requests-jitter", "10", "--access-logfile", "-", "--error-logfile", errlog,
                "--log-level", "info", "-e", "GREETING=hello", "-p", os.path.join(workdir, "gw.pid"),
                "--forwarded-allow-ips", "127.0.0.1, ::1"], cwd=project)
    wait_log(errlog, "workers ready")
    e = get_json(port, "/x?y=1")
    assert e["greeting"] == "hello"
    assert e["path_info"] == "/x"
    assert e["sys_path0"] in (project, "")  # the working directory is on sys.path, as Gunicorn puts it
    assert int(open(os.path.join(workdir, "gw.pid")).read()) == d.proc.pid
    workers = subprocess.run(["pgrep", "-P", str(d.proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(workers) == 3
    time.sleep(0.3)
    out = d.output()
    assert '"GET /x?y=1 HTTP/1.1" 200' in out  # the access log on stdout
    assert "workers ready" not in out           # the error log in its file
    assert "3 workers ready" in open(errlog).read()


def test_factory_and_native_app_by_path(daemon, project):
    port = free_port()
    d = daemon(["pkg.wsgi:factory()", "-b", f"127.0.0.1:{port}", "-w", "1"], cwd=project)
    d.wait_port(port)
    assert get_json(port)["path_info"] == "/"
    d.stop()
    port = free_port()
    d = daemon([app_path("hello-c"), "-b", f"127.0.0.1:{port}", "-w", "1"], cwd=project)
    d.wait_port(port)
    assert curl(f"http://127.0.0.1:{port}/").stdout == b"Hello, World!"


def test_flags_override_the_config_file(daemon, project, workdir):
    port, other = free_port(), free_port()
    conf = os.path.join(workdir, "gw.conf")
    with open(conf, "w") as f:
        f.write(f'bind = ["127.0.0.1:{other}"]\nworkers = 1\napp = "{WSGI_SO}"\n'
                f'[app_args]\napp = "pkg.wsgi:app"\npythonpath = "{project}"\n')
    d = daemon(["-c", conf, "-b", f"127.0.0.1:{port}", "-w", "2", "-e", "GREETING=flag"], cwd=workdir)
    d.wait_port(port)
    assert get_json(port)["greeting"] == "flag"
    workers = subprocess.run(["pgrep", "-P", str(d.proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(workers) == 2


def test_capture_output_sends_prints_to_the_error_log(daemon, project, workdir):
    port = free_port()
    errlog = os.path.join(workdir, "error.log")
    d = daemon(["pkg.wsgi:app", "-b", f"127.0.0.1:{port}", "-w", "1", "--error-logfile", errlog,
                "--capture-output"], cwd=project)
    wait_log(errlog, "workers ready")
    get_json(port)
    time.sleep(0.3)
    log = open(errlog).read()
    assert "printed by the app" in log and "stderr of the app" in log
    assert "printed by the app" not in d.output()


def test_without_capture_output_prints_stay_on_stdout(daemon, project, workdir):
    port = free_port()
    errlog = os.path.join(workdir, "error.log")
    d = daemon(["pkg.wsgi:app", "-b", f"127.0.0.1:{port}", "-w", "1", "--error-logfile", errlog], cwd=project)
    wait_log(errlog, "workers ready")
    get_json(port)
    time.sleep(0.3)
    assert "printed by the app" in d.output()
    assert "printed by the app" not in open(errlog).read()


def test_check_config_loads_the_app(project):
    ok = subprocess.run([GATEWAYD, "--check-config", "pkg.wsgi:app"] + python_user_args(), cwd=project, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([GATEWAYD, "--check-config", "broken:app"] + python_user_args(), cwd=project, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "SyntaxError" in bad.stderr and "broken.py" in bad.stderr
    missing = subprocess.run([GATEWAYD, "--check-config", "pkg.wsgi:nothing"] + python_user_args(), cwd=project, capture_output=True, text=True)
    assert missing.returncode == 1 and "nothing" in missing.stderr
    native = subprocess.run([GATEWAYD, "--check-config", app_path("broken-nosymbol")], cwd=project,
                            capture_output=True, text=True)
    assert native.returncode == 1 and "gateway_app" in native.stderr
    initfail = subprocess.run([GATEWAYD, "--check-config", app_path("broken-initfail")], cwd=project,
                              capture_output=True, text=True)
    assert initfail.returncode == 1


def test_script_name_mounts_the_app(daemon, project):
    port = free_port()
    d = daemon(["pkg.wsgi:app", "-b", f"127.0.0.1:{port}", "-w", "1"], cwd=project, env={"SCRIPT_NAME": "/api"})
    d.wait_port(port)
    e = get_json(port, "/api/items?x=1")
    assert (e["script_name"], e["path_info"]) == ("/api", "/items")
    e = get_json(port, "/api")
    assert (e["script_name"], e["path_info"]) == ("/api", "")
    r = curl("-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/apiother")
    assert r.stdout == b"404"
    r = curl("-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/")
    assert r.stdout == b"404"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the workers drop to another user")
def test_user_root_is_the_operators_choice(daemon, project):
    port = free_port()
    d = daemon(["pkg.wsgi:app", "-b", f"127.0.0.1:{port}", "-w", "1", "--user", "root"], cwd=project)
    d.wait_port(port)
    assert get_json(port)["uid"] == 0
    if python_user_args():
        return  # nobody cannot run this Python here (a pyenv under /root): the nobody half is moot
    port = free_port()
    d = daemon(["pkg.wsgi:app", "-b", f"127.0.0.1:{port}", "-w", "1"], cwd=project)
    d.wait_port(port)
    assert get_json(port)["uid"] != 0


def wait_for(check, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    return False


def test_reload_follows_edits_and_keeps_the_last_good_code(daemon, project, workdir):
    port = free_port()
    errlog = os.path.join(workdir, "error.log")
    d = daemon(["pkg.wsgi:app", "-b", f"127.0.0.1:{port}", "-w", "1", "--reload", "--error-logfile", errlog],
               cwd=project)
    wait_log(errlog, "workers ready")
    assert "for development" in open(errlog).read()
    path = os.path.join(project, "pkg", "wsgi.py")
    original = open(path).read()

    def edit(text):
        with open(path + ".tmp", "w") as f:   # as editors save: write, then rename over
            f.write(text)
        os.chmod(path + ".tmp", 0o755)
        os.rename(path + ".tmp", path)

    edit(original.replace('"greeting": os.environ.get("GREETING")', '"greeting": "edited"'))
    assert wait_for(lambda: get_json(port)["greeting"] == "edited"), open(errlog).read()[-2000:]
    edit("def app(:\n")   # a broken edit: the last good code keeps serving
    assert wait_for(lambda: "SyntaxError" in open(errlog).read()), open(errlog).read()[-2000:]
    time.sleep(0.5)
    assert get_json(port)["greeting"] == "edited"
    edit(original.replace('"greeting": os.environ.get("GREETING")', '"greeting": "fixed"'))
    assert wait_for(lambda: get_json(port)["greeting"] == "fixed"), open(errlog).read()[-2000:]


def test_reload_of_a_native_app_follows_its_so(daemon, workdir):
    port = free_port()
    so = os.path.join(workdir, "app.so")
    subprocess.run(["cp", app_path("hello-c"), so], check=True)
    d = daemon([so, "-b", f"127.0.0.1:{port}", "-w", "1", "--reload"], cwd=workdir)
    d.wait_port(port)
    assert curl(f"http://127.0.0.1:{port}/").stdout == b"Hello, World!"
    subprocess.run(["cp", app_path("testapp"), so + ".new"], check=True)
    os.rename(so + ".new", so)
    assert wait_for(lambda: curl(f"http://127.0.0.1:{port}/pid").stdout.isdigit()), d.output()[-2000:]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the workers drop to nobody")
def test_an_unreadable_project_is_named_before_any_worker_starts(project, workdir):
    os.chmod(workdir, 0o700)   # as a project under /root
    try:
        r = subprocess.run([GATEWAYD, "pkg.wsgi:app", "-b", f"127.0.0.1:{free_port()}"], cwd=project,
                           capture_output=True, text=True, timeout=30)
    finally:
        os.chmod(workdir, 0o755)
    assert r.returncode == 1
    out = r.stdout + r.stderr
    assert f"user nobody (the workers' user) cannot read {project}" in out, out
    assert "-u root" in out
    assert "booted" not in out and "crashed" not in out


def test_capture_output_keeps_the_access_log_on_stdout(daemon, project, workdir):
    port = free_port()
    errlog = os.path.join(workdir, "error.log")
    d = daemon(["pkg.wsgi:app", "-b", f"127.0.0.1:{port}", "-w", "1", "--capture-output",
                "--access-logfile", "-", "--error-logfile", errlog], cwd=project)
    wait_log(errlog, "workers ready")
    get_json(port, "/seen")
    time.sleep(0.3)
    assert '"GET /seen HTTP/1.1" 200' in d.output()
    assert "GET /seen" not in open(errlog).read()
    assert "printed by the app" in open(errlog).read()


def test_flags_are_checked_like_keys(project):
    r = subprocess.run([GATEWAYD, "--check-config", "--log-level", "verbose", "pkg.wsgi:app"], cwd=project,
                       capture_output=True, text=True)
    assert r.returncode == 1 and "--log-level" in r.stderr, r.stderr
    r = subprocess.run([GATEWAYD, "-b", "fd://3", "pkg.wsgi:app"], cwd=project, capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "fd://3" in r.stderr and "socket activation" in r.stderr, r.stderr


def write_conf(workdir, name, lines):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write("\n".join(lines + ['app = "%s"' % app_path("testapp")]) + "\n")
    return path


def gatewayd(args, cwd, timeout=20):
    return subprocess.run([GATEWAYD] + args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("flag,value,rule", [
    ("--timeout", "-1", "at least 0"), ("--graceful-timeout", "-1", "at least 0"),
    ("--keep-alive", "-1", "at least 0"), ("--max-requests", "-3", "at least 0"),
    ("--max-requests-jitter", "-1", "at least 0"), ("--workers", "0", "between 1 and 1024"),
])
def test_a_flag_is_checked_by_its_keys_rule_and_named(workdir, flag, value, rule):
    conf = write_conf(workdir, "neg.conf", ["workers = 1", 'bind = ["127.0.0.1:%d"]' % free_port()])
    for args in (["--check-config"], []):
        # The real start too: a negative --timeout used to kill the master (SIGILL).
        r = gatewayd(args + ["-c", conf, "%s=%s" % (flag, value)], workdir)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
        assert "gatewayd: %s: must be %s, found %s" % (flag, rule, value) in r.stderr, r.stderr
        assert "neg.conf" not in r.stderr, r.stderr


def test_a_cross_key_error_caused_by_a_flag_names_the_flag(workdir):
    conf = write_conf(workdir, "h.conf", ["workers = 2", "max_workers = 4", 'bind = ["127.0.0.1:%d"]' % free_port()])
    r = gatewayd(["--check-config", "-c", conf, "-w", "6"], workdir)
    assert r.returncode == 1, r.stderr
    assert "gatewayd: --workers: 6 is above max_workers (4, %s:2)" % conf in r.stderr, r.stderr
    ok = gatewayd(["--check-config", "-c", conf, "-w", "3"], workdir)
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("key,address,reason", [
    ("bind", "ftp:127.0.0.1:1", "unknown protocol 'ftp' (expected uwsgi:, fastcgi:, scgi: or none for HTTP)"),
    ("bind", "FASTCGI:127.0.0.1:27022", "unknown protocol 'FASTCGI'"),
    ("bind", "fastcgi:fastcgi:127.0.0.1:27023", "two protocol prefixes"),
    ("admin_bind", "uwsgi:127.0.0.1:27012", "admin_bind serves HTTP only: no protocol prefix"),
    ("admin_bind", "scgi:unix:/x.sock", "admin_bind serves HTTP only: no protocol prefix"),
])
def test_a_bad_bind_prefix_is_refused_at_check_time_with_its_key(workdir, key, address, reason):
    lines = ['%s = ["%s"]' % (key, address)]
    if key != "bind":
        lines.append('bind = ["127.0.0.1:%d"]' % free_port())
    conf = write_conf(workdir, "b.conf", lines)
    r = gatewayd(["--check-config", "-c", conf], workdir)
    assert r.returncode == 1, r.stderr
    assert "%s:1: key '%s': \"%s\": %s" % (conf, key, address, reason) in r.stderr, r.stderr


def test_a_bad_bind_flag_is_named_and_a_host_name_stays_valid(workdir):
    conf = write_conf(workdir, "b.conf", ['bind = ["127.0.0.1:%d"]' % free_port()])
    r = gatewayd(["--check-config", "-c", conf, "-b", "ftp:127.0.0.1:1"], workdir)
    assert r.returncode == 1 and "gatewayd: --bind: \"ftp:127.0.0.1:1\": unknown protocol 'ftp'" in r.stderr, r.stderr
    for good in (["-b", "localhost:%d" % free_port()], ["-b", "uwsgi:localhost:%d" % free_port()], ["-b", "[::1]:%d" % free_port()]):
        ok = gatewayd(["--check-config", "-c", conf] + good, workdir)
        assert ok.returncode == 0, (good, ok.stderr)


@pytest.mark.parametrize("args", [["--keep-alive", "abc"], ["-t"], ["--no-such-flag"]])
def test_a_malformed_command_line_is_a_usage_error(workdir, args):
    # docs/configuration.md: 64 (EX_USAGE) for a command line that does not
    # parse, 1 for a value that parses but breaks its key's rule.
    conf = write_conf(workdir, "u.conf", ['bind = ["127.0.0.1:%d"]' % free_port()])
    r = gatewayd(["--check-config", "-c", conf] + args, workdir)
    assert r.returncode == 64, (r.returncode, r.stderr)
    assert "Usage:" in r.stderr or "Error:" in r.stderr, r.stderr


# --- Gunicorn's environment and forms (issue 24) ---------------------------

FACTORY_APP = '''
import json
def create_app(name, greeting="hi", *, tags=()):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"name": name, "greeting": greeting, "tags": list(tags)}).encode()]
    return app
'''


def workers_of(d, n, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        w = subprocess.run(["pgrep", "-P", str(d.proc.pid)], capture_output=True, text=True).stdout.split()
        if len(w) == n:
            return w
        time.sleep(0.1)
    raise AssertionError("expected %d workers:\n%s" % (n, d.output()))


def test_port_binds_every_interface_when_no_bind_is_given(daemon, project):
    port = free_port()
    d = daemon(["pkg.wsgi:app"], cwd=project, env={"PORT": str(port)})
    d.wait_port(port)
    assert "0.0.0.0:%d" % port in d.output(), d.output()
    assert get_json(port)["path_info"] == "/"


def test_web_concurrency_is_the_worker_count_and_w_wins(daemon, project):
    port = free_port()
    d = daemon(["pkg.wsgi:app", "-b", "127.0.0.1:%d" % port], cwd=project, env={"WEB_CONCURRENCY": "3"})
    d.wait_port(port)
    assert len(workers_of(d, 3)) == 3
    port2 = free_port()
    d2 = daemon(["pkg.wsgi:app", "-b", "127.0.0.1:%d" % port2, "-w", "1"], cwd=project, env={"WEB_CONCURRENCY": "3"})
    d2.wait_port(port2)
    assert len(workers_of(d2, 1)) == 1


def test_a_bad_web_concurrency_is_named(project):
    r = subprocess.run([GATEWAYD, "--check-config", "pkg.wsgi:app"], cwd=project, capture_output=True, text=True,
                       env={**os.environ, "WEB_CONCURRENCY": "lots"}, timeout=30)
    assert r.returncode == 1 and "WEB_CONCURRENCY: expected an integer, found \"lots\"" in r.stderr, r.stderr


def test_forwarded_allow_ips_from_the_environment_is_all_the_trust(daemon, project):
    # Set to another address, the default 127.0.0.1 is no longer trusted:
    # a spoofed X-Forwarded-For from the loopback peer is not believed.
    port = free_port()
    d = daemon(["pkg.wsgi:app", "-b", "127.0.0.1:%d" % port], cwd=project, env={"FORWARDED_ALLOW_IPS": "10.9.9.9"})
    d.wait_port(port)
    r = curl("-H", "X-Forwarded-For: 203.0.113.7", "http://127.0.0.1:%d/" % port)
    assert json.loads(r.stdout)["remote"] == "127.0.0.1", r.stdout


def test_cidr_networks_are_trusted_proxies(daemon, project):
    port = free_port()
    d = daemon(["pkg.wsgi:app", "-b", "127.0.0.1:%d" % port, "--forwarded-allow-ips", "127.0.0.0/8"], cwd=project)
    d.wait_port(port)
    r = curl("-H", "X-Forwarded-For: 203.0.113.7, 127.5.5.5", "http://127.0.0.1:%d/" % port)
    assert json.loads(r.stdout)["remote"] == "203.0.113.7", r.stdout
    bad = subprocess.run([GATEWAYD, "--check-config", "--forwarded-allow-ips", "127.0.0.1/8", "pkg.wsgi:app"],
                         cwd=project, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1 and "--forwarded-allow-ips: \"127.0.0.1/8\" has host bits set" in bad.stderr, bad.stderr


def test_gatewayd_cmd_args_are_flags_under_the_command_line(daemon, project):
    port = free_port()
    d = daemon(["pkg.wsgi:app", "-w", "1"], cwd=project,
               env={"GATEWAYD_CMD_ARGS": "-b 127.0.0.1:%d -w 3 --forwarded-allow-ips '127.0.0.0/8, ::1'" % port})
    d.wait_port(port)
    assert len(workers_of(d, 1)) == 1        # -w on the command line wins
    r = curl("-H", "X-Forwarded-For: 203.0.113.8", "http://127.0.0.1:%d/" % port)
    assert json.loads(r.stdout)["remote"] == "203.0.113.8", r.stdout
    bad = subprocess.run([GATEWAYD, "--check-config", "pkg.wsgi:app"], cwd=project, capture_output=True, text=True,
                         env={**os.environ, "GATEWAYD_CMD_ARGS": "--no-such-flag"}, timeout=30)
    assert bad.returncode == 64 and "GATEWAYD_CMD_ARGS" in bad.stderr, bad.stderr
    for text, message in (("--preload", "GATEWAYD_CMD_ARGS: --preload: Gunicorn's option is not offered: the master never"),
                          ("pkg.wsgi:app", "GATEWAYD_CMD_ARGS: the APP argument belongs on the command line"),
                          ("-b '127.0.0.1:1", "GATEWAYD_CMD_ARGS: unbalanced quotes")):
        r = subprocess.run([GATEWAYD, "--check-config", "pkg.wsgi:app"], cwd=project, capture_output=True, text=True,
                           env={**os.environ, "GATEWAYD_CMD_ARGS": text}, timeout=30)
        assert r.returncode == 64 and message in r.stderr, (text, r.stderr)


@pytest.mark.skipif(os.geteuid() != 0, reason="numeric ids other than our own need root")
def test_numeric_user_and_group(daemon, project):
    port = free_port()
    d = daemon(["pkg.wsgi:app", "-b", "127.0.0.1:%d" % port, "-u", "0", "-g", "0"], cwd=project)
    d.wait_port(port)
    assert get_json(port)["uid"] == 0


def test_log_level_in_any_case(project):
    for level in ("WARNING", "Debug", "CRITICAL"):
        r = subprocess.run([GATEWAYD, "--check-config", "--log-level", level, "pkg.wsgi:app"] + python_user_args(),
                           cwd=project, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (level, r.stderr)


def test_a_factory_with_literal_arguments(daemon, project):
    with open(os.path.join(project, "fact.py"), "w") as f:
        f.write(FACTORY_APP)
    os.chmod(os.path.join(project, "fact.py"), 0o644)
    port = free_port()
    d = daemon(["fact:create_app('shop', greeting='yo', tags=(1, 'a'))", "-b", "127.0.0.1:%d" % port], cwd=project)
    d.wait_port(port)
    assert get_json(port) == {"name": "shop", "greeting": "yo", "tags": [1, "a"]}


@pytest.mark.parametrize("spec,message", [
    ("fact:create_app(__import__('os').system('touch pwned'))", "arguments must be literals"),
    ("fact:create_app(*['a'])", "arguments must be literals"),
    ("fact:create_app('a'", "is not a name or a call"),
    ("fact:create_app('a')()", "is not a name or a call"),
    ("fact:create_app(1, 2, 3, 4)", "create_app() takes from 1 to 2 positional arguments but 4 were given"),
])
def test_a_factory_argument_is_never_evaluated(project, spec, message):
    with open(os.path.join(project, "fact.py"), "w") as f:
        f.write(FACTORY_APP)
    os.chmod(os.path.join(project, "fact.py"), 0o644)
    r = subprocess.run([GATEWAYD, "--check-config", spec] + python_user_args(), cwd=project,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(project, "pwned"))


def test_a_file_name_as_module_says_did_you_mean(project):
    with open(os.path.join(project, "hello.py"), "w") as f:
        f.write(APP)
    os.chmod(os.path.join(project, "hello.py"), 0o644)
    r = subprocess.run([GATEWAYD, "--check-config", "hello.py:app"] + python_user_args(), cwd=project,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "did you mean 'hello:app'?" in r.stderr, r.stderr


@pytest.mark.parametrize("args,reason", [
    (["--preload"], "the master never imports the app"),
    (["-k", "gevent"], "every worker is gthread-like"),
    (["--worker-class=uvicorn.workers.UvicornWorker"], "every worker is gthread-like"),
    (["--certfile", "c.pem", "--keyfile", "k.pem"], "terminate TLS in nginx"),
    (["--daemon"], "run under systemd"),
    (["-D"], "run under systemd"),
    (["--statsd-host", "localhost:8125"], "admin listener"),
    (["--worker-tmp-dir", "/dev/shm"], "the heartbeat is a pipe"),
])
def test_a_gunicorn_flag_not_offered_is_refused_with_its_reason(project, args, reason):
    r = subprocess.run([GATEWAYD, "pkg.wsgi:app"] + args, cwd=project, capture_output=True, text=True, timeout=30)
    assert r.returncode == 64, (r.returncode, r.stderr)
    flag = args[0].split("=")[0]
    assert "gatewayd: %s: Gunicorn's option is not offered: " % flag in r.stderr and reason in r.stderr, r.stderr
    assert "Did you mean" not in r.stderr and "Unknown option" not in r.stderr, r.stderr


GUNICORN_CONF = '''
import multiprocessing
bind = "0.0.0.0:8000"
workers = multiprocessing.cpu_count() * 2 + 1
worker_class = "gevent"
accesslog = "-"
preload_app = True

def on_starting(server):
    pass
'''


def test_a_gunicorn_conf_py_is_named_with_the_flags_for_its_settings(daemon, project, workdir):
    with open(os.path.join(project, "gunicorn.conf.py"), "w") as f:
        f.write(GUNICORN_CONF)
    r = subprocess.run([GATEWAYD, "--check-config", "pkg.wsgi:app"] + python_user_args(), cwd=project,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    warning = [l for l in r.stderr.splitlines() if "gunicorn.conf.py" in l]
    assert warning, r.stderr
    text = "\n".join(warning)
    for part in ("is not read", "bind: -b/--bind", "workers: -w/--workers", "accesslog: --access-logfile",
                 "worker_class: not offered", "preload_app: not offered", "on_starting: not offered"):
        assert part in text, (part, text)
    assert "multiprocessing" not in text
    # A real start warns in the error log.
    port = free_port()
    errlog = os.path.join(workdir, "err.log")
    d = daemon(["pkg.wsgi:app", "-b", "127.0.0.1:%d" % port, "--error-logfile", errlog], cwd=project)
    wait_log(errlog, "workers ready")
    assert "gunicorn.conf.py" in open(errlog).read()
    # A Gunicorn config given as -c is refused with the same advice.
    r = subprocess.run([GATEWAYD, "--check-config", "-c", "gunicorn.conf.py"], cwd=project,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "Gunicorn configuration" in r.stderr and "workers: -w/--workers" in r.stderr, r.stderr


# Every command-line name of Gunicorn's settings (gunicorn/config.py,
# benoitc/gunicorn 65ac1a3, the Setting classes' cli).
GUNICORN_FLAGS = """-c --config -b --bind --backlog -w --workers -k --worker-class --threads --worker-connections
--max-requests --max-requests-jitter -t --timeout --graceful-timeout --keep-alive --limit-request-line
--limit-request-fields --limit-request-field_size --reload --reload-engine --reload-extra-file --spew --check-config
--print-config --preload --no-sendfile --reuse-port --chdir -D --daemon -e --env -p --pid --worker-tmp-dir -u --user
-g --group -m --umask --initgroups --forwarded-allow-ips --access-logfile --disable-redirect-access-to-syslog
--access-logformat --error-logfile --log-file --log-level --capture-output --logger-class --log-config
--log-config-json --log-syslog-to --log-syslog --log-syslog-prefix --log-syslog-facility -R
--enable-stdio-inheritance --statsd-host --dogstatsd-tags --statsd-prefix --enable-backlog-metric -n --name
--pythonpath --paste --paster --proxy-protocol --proxy-allow-from --protocol --uwsgi-allow-from --keyfile --certfile
--ssl-version --cert-reqs --ca-certs --suppress-ragged-eofs --do-handshake-on-connect --ciphers --http-protocols
--http2-cleartext --http2-max-concurrent-streams --http2-initial-window-size --http2-max-frame-size
--http2-max-header-list-size --paste-global --permit-obsolete-folding --strip-header-spaces
--permit-unconventional-http-method --permit-unconventional-http-version --casefold-http-method --forwarder-headers
--header-map --asgi-loop --asgi-lifespan --asgi-disconnect-grace-period --http-parser --root-path --dirty-app
--dirty-workers --dirty-timeout --dirty-threads --dirty-graceful-timeout --control-socket --control-socket-mode
--no-control-socket""".split()


def wsgi_md_tables():
    """docs/wsgi.md's flag tables: the offered flags (first column of the
    "Gunicorn's flags and settings" table) and {flag: reason} of "Not offered"."""
    text = open(os.path.join(ROOT, "docs", "wsgi.md")).read()
    offered_part = text.split("### Gunicorn's flags and settings", 1)[1].split("Not offered, and why:", 1)
    refused_part = offered_part[1].split("**The service file**", 1)[0]

    def flags(cell):
        out = []
        for code in cell.split("`")[1::2]:
            for token in code.replace(",", " ").replace("/", " ").split():
                if token.startswith("-"):
                    out.append(token.split("=")[0])
        return out

    offered = set()
    for row in offered_part[0].splitlines():
        cells = row.split(" | ")
        if row.startswith("| ") and len(cells) >= 2:
            offered.update(flags(cells[0]) + flags(cells[1]))
    refused = {}
    for row in refused_part.splitlines():
        if row.startswith("| ") and not row.startswith("| Gunicorn") and not row.startswith("| ---"):
            first, reason = row[2:].rsplit(" |", 1)[0].split(" | ", 1)
            for f in flags(first):
                refused[f] = reason.replace("`", "")
    return offered, refused


def test_every_gunicorn_flag_is_offered_or_refused_with_the_reason_in_wsgi_md(workdir):
    offered, refused = wsgi_md_tables()
    assert "--preload" in refused and "-w" in offered, (offered, refused)
    for flag in GUNICORN_FLAGS:
        assert (flag in offered) != (flag in refused), (flag, "in both or neither of docs/wsgi.md's tables")
    for flag, reason in sorted(refused.items()):
        r = gatewayd([flag, "x"] if flag.startswith("--") else [flag], workdir)
        assert r.returncode == 64, (flag, r.returncode, r.stderr)
        assert r.stderr.strip() == "gatewayd: %s: Gunicorn's option is not offered: %s" % (flag, reason), (flag, r.stderr)


def test_gatewayctl_help_of_a_verb_as_help_suggests(workdir):
    # `gatewayctl --help` ends with "See 'gatewayctl help <subcommand>'".
    ctl = os.path.join(os.path.dirname(GATEWAYD), "gatewayctl")
    assert "gatewayctl help <subcommand>" in subprocess.run([ctl, "--help"], capture_output=True, text=True).stdout
    for verb in ("dump", "status", "scale"):
        r = subprocess.run([ctl, "help", verb], capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, (verb, r.returncode, r.stderr)
        assert "gatewayctl %s" % verb in r.stdout and "Error" not in r.stdout + r.stderr, (verb, r.stdout, r.stderr)


def test_wsgi_md_walkthroughs_work_as_written(workdir):
    """docs/wsgi.md's fixes (issue 24): startproject into the folder the venv
    is in; the "moving from Gunicorn" unix socket reachable by nginx; the
    admin listener's /metrics is not "planned"."""
    text = open(os.path.join(ROOT, "docs", "wsgi.md")).read()
    django = text.split("### Django", 1)[1].split("```", 2)[1]
    startproject = [l for l in django.splitlines() if "startproject" in l]
    assert len(startproject) == 1 and startproject[0].split("#")[0].split()[-3:] == ["startproject", "shop", "/srv/shop"], startproject
    # As written, after `python3 -m venv /srv/shop/.venv` made the folder:
    srv = os.path.join(workdir, "srv")
    os.makedirs(os.path.join(srv, "shop", ".venv"))
    cmd = startproject[0].split("#")[0].replace("/srv/shop/.venv/bin/django-admin", sys.executable + " -m django").replace("/srv", srv)
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60)
    if "No module named django" in r.stderr:
        pytest.skip("no Django for " + sys.executable)
    assert r.returncode == 0 and os.path.exists(os.path.join(srv, "shop", "shop", "wsgi.py")), r.stderr
    moving = text.split("## Moving a project from Gunicorn", 1)[1].split("## PEP 3333 coverage", 1)[0]
    conf = moving.split("# /etc/gatewayd/shop.conf", 1)[1].split("```", 1)[0]
    unit = moving.split("# gatewayd: /etc/systemd/system/shop.service", 1)[1].split("```", 1)[0]
    assert 'bind = ["unix:/run/shop/shop.sock"]' in conf
    assert "ExecStartPost=-/bin/chgrp www-data /run/shop/shop.sock" in unit and "RuntimeDirectory=shop" in unit, unit
    assert "planned" not in text


def test_the_config_key_table_names_gatewayds_flags_and_variables(workdir):
    """ConfigKey.all (printed by the hidden --config-keys) against the real
    command line: every flag the table names is an option of gatewayd, and
    every option but -c, --check-config, --print-config, --help and --version
    sets a key."""
    r = gatewayd(["--config-keys"], workdir)
    assert r.returncode == 0, r.stderr
    rows = [l.split("\t") for l in r.stdout.splitlines()]
    names = [row[0] for row in rows]
    # Each key once; the count itself is the unit tests' (ConfigKeysTests
    # holds the table against docs/configuration.md and the loader).
    assert all(len(row) == 4 for row in rows) and len(names) == len(set(names)), rows
    assert {"bind", "workers", "app_args", "admin_bind", "max_queue_wait"} <= set(names), names
    table_flags = {f for row in rows for f in row[1].split(",") if f and f != "APP"}
    help_text = gatewayd(["--help"], workdir).stdout.split("OPTIONS:", 1)[1]
    options = set()
    for line in help_text.splitlines():
        if line.startswith("  -"):
            names = line.strip().split("  ")[0].split(" <")[0]
            options.update(n.strip() for n in names.split(","))
    not_keys = {"-c", "--config", "--check-config", "--print-config", "--version", "-h", "--help"}
    assert table_flags == options - not_keys, \
        (table_flags ^ (options - not_keys))
    env = {row[2]: row[0] for row in rows if row[2]}
    assert env == {"PORT": "bind", "WEB_CONCURRENCY": "workers", "FORWARDED_ALLOW_IPS": "forwarded_allow_ips",
                   "SCRIPT_NAME": "script_name"}, env


@pytest.mark.skipif(os.path.exists("/etc/gatewayd.conf"), reason="gatewayd without APP would read /etc/gatewayd.conf")
def test_a_gunicorn_conf_py_is_named_when_gatewayd_runs_without_an_app(project):
    # `gunicorn` alone serves gunicorn.conf.py's wsgi_app; `gatewayd` alone
    # reads /etc/gatewayd.conf: the warning says what to pass instead.
    with open(os.path.join(project, "gunicorn.conf.py"), "w") as f:
        f.write('wsgi_app = "pkg.wsgi:app"\nworkers = 2\n')
    r = subprocess.run([GATEWAYD], cwd=project, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stderr
    assert "gunicorn.conf.py is not read" in r.stderr and "wsgi_app: the APP argument" in r.stderr, r.stderr


# A value for each key's flags: (flag value, or None for a switch).
FLAG_VALUES = {"bind": "127.0.0.1:9", "backlog": "64", "workers": "3", "threads": "4", "worker_connections": "10", "app": "b.so",
               "app_args": "/srv", "user": "nobody", "group": "nogroup", "env": "A=1", "capture_output": None,
               "reload": None, "pidfile": "/run/g.pid", "timeout": "60", "graceful_timeout": "60",
               "keepalive_timeout": "2", "max_requests": "1000", "max_requests_jitter": "10",
               "limit_request_line": "4096", "limit_request_fields": "50", "limit_request_field_size": "4096",
               "forwarded_allow_ips": "10.0.0.0/8", "error_log": "/var/log/e.log", "log_level": "DEBUG",
               "access_log": "/var/log/a.log"}


def test_each_flag_sets_its_key_as_print_config_shows(workdir):
    """Gunicorn's --print-config: the configuration as gatewayd.conf keys. With
    it, each flag of the key table (all its spellings) changes its key alone."""
    conf = write_conf(workdir, "p.conf", ['bind = ["127.0.0.1:%d"]' % free_port()])
    base = gatewayd(["--print-config", "-c", conf], workdir)
    assert base.returncode == 0, base.stderr
    lines = dict(l.split(" = ", 1) for l in base.stdout.splitlines())
    assert lines["workers"] == "2" and lines["log_level"] == '"info"', base.stdout
    rows = [l.split("\t") for l in gatewayd(["--config-keys"], workdir).stdout.splitlines()]
    # Every key of the table is printed, and nothing else.
    assert set(lines) == {row[0] for row in rows}, set(lines) ^ {row[0] for row in rows}
    keyed = [(row[0], f) for row in rows for f in row[1].split(",") if f and f != "APP"]
    assert set(k for k, _ in keyed) == set(FLAG_VALUES), set(k for k, _ in keyed) ^ set(FLAG_VALUES)
    for key, flag in keyed:
        value = FLAG_VALUES[key]
        r = gatewayd(["--print-config", "-c", conf, flag] + ([] if value is None else [value]), workdir)
        assert r.returncode == 0, (flag, r.stderr)
        changed = dict(l.split(" = ", 1) for l in r.stdout.splitlines())
        assert [k for k in lines if lines[k] != changed[k]] == [key], (flag, key, r.stdout)


def test_print_config_is_a_config_file_that_reads_back_the_same(project, workdir):
    r = gatewayd(["--print-config", "pkg.wsgi:create('a\"b', x=1)", "-e", "Q=a\\b", "--forwarded-allow-ips", "10.0.0.0/8,unix",
                  "--log-level", "WARNING"], project)
    assert r.returncode == 0, r.stderr
    path = os.path.join(workdir, "printed.conf")
    with open(path, "w") as f:
        f.write(r.stdout)
    again = gatewayd(["--print-config", "-c", path], workdir)
    assert again.returncode == 0 and again.stdout == r.stdout, (again.stderr, r.stdout, again.stdout)
