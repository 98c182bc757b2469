"""pip install gatewayd: the wheel of `make wheel` (scripts/wheel.py) into a
fresh venv with Flask from PyPI, then a Flask app served by the venv's
gatewayd as a Gunicorn user would start it, and with `python -m gatewayd`:
the app runs on the venv's Python and packages (sys.prefix is the venv)
with no virtualenv setting.

The wheel in dist/ is reused when it is newer than what goes into it;
otherwise `make wheel` builds it with this Python (the venv is made with
the same one: the wheel is for its ABI). Without PyPI the test is skipped.

Privileges: as root the workers drop to nobody, who must read the venv, the
app (both in a 0755 temporary directory) and the venv's base Python; when
that Python is not world-readable (pyenv under /root, mode 0700) the
workers keep root with `--user root`.
"""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from conftest import APPS, GATEWAYD, ROOT, free_port, readable_by_others

DIST = os.path.join(ROOT, "dist")
WHEEL_INPUTS = [GATEWAYD, os.path.join(APPS, "wsgi.so"), os.path.join(ROOT, "scripts", "wheel.py"),
                os.path.join(ROOT, "Sources", "ServerCore", "Version.swift")]
TAG = "cp%d%d" % sys.version_info[:2]

APP = '''
import sys
import flask

app = flask.Flask(__name__)


@app.route("/")
def index():
    return {"prefix": sys.prefix, "base_prefix": sys.base_prefix,
            "executable": sys.executable, "flask": flask.__file__}
'''

# What pip says when it cannot reach the index (as opposed to a real failure).
OFFLINE = re.compile(r"NewConnectionError|ConnectTimeout|Temporary failure in name resolution|"
                     r"Network is unreachable|No matching distribution found|ProxyError|"
                     r"Could not fetch URL|Max retries exceeded")



def wheel_path():
    """dist/'s wheel for this Python, rebuilt by `make wheel` when stale."""
    found = glob.glob(os.path.join(DIST, f"gatewayd-*-{TAG}-*.whl"))
    if found and all(os.path.getmtime(found[0]) >= os.path.getmtime(p)
                     for p in WHEEL_INPUTS if os.path.exists(p)):
        return found[0]
    subprocess.run(["make", "wheel", f"PYTHON={sys.executable}"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    found = glob.glob(os.path.join(DIST, f"gatewayd-*-{TAG}-*.whl"))
    assert len(found) == 1, found
    return found[0]


def pip(venv, *args):
    return subprocess.run([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def venv():
    wheel = wheel_path()
    top = tempfile.mkdtemp(prefix="gatewayd-wheel-")
    os.chmod(top, 0o755)
    env = os.path.join(top, "venv")
    try:
        subprocess.run([sys.executable, "-m", "venv", env], check=True)
        r = pip(env, "flask")
        if r.returncode != 0:
            if OFFLINE.search(r.stdout + r.stderr):
                pytest.skip("PyPI is unreachable (pip install flask failed): "
                            + (r.stdout + r.stderr).strip().splitlines()[-1])
            raise AssertionError("pip install flask:\n" + r.stdout + r.stderr)
        r = pip(env, wheel)
        assert r.returncode == 0, "pip install " + wheel + ":\n" + r.stdout + r.stderr
        app = os.path.join(top, "app")
        os.makedirs(app)
        with open(os.path.join(app, "app.py"), "w") as f:
            f.write(APP)
        for root, dirs, files in os.walk(app):
            for n in dirs + files:
                os.chmod(os.path.join(root, n), 0o755)
        yield env, app
    finally:
        shutil.rmtree(top, ignore_errors=True)


def user_args():
    if os.getuid() != 0 or readable_by_others(sys.base_prefix):
        return []
    return ["--user", "root"]


class Served:
    """A gatewayd master started from a command line; stopped with SIGTERM."""

    def __init__(self, argv, cwd, env):
        self.log = os.path.join(cwd, "out.log")
        self.out = open(self.log, "wb")
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def output(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def get(self, port, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, "gatewayd exited:\n" + self.output()
            if "workers ready" in self.output():
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
                    return json.loads(r.read())
            time.sleep(0.1)
        raise AssertionError("not ready:\n" + self.output())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.out.close()
        os.remove(self.log)


def clean_env(**extra):
    """No activated venv, and the venv's bin/ not on PATH: only gatewayd's
    own location can tell it the venv."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "GATEWAYD_WSGI_LOADER")}
    env.update(extra)
    return env


def serve(argv, venv, app, env=None):
    port = free_port()
    s = Served(argv + ["app:app", "-b", f"127.0.0.1:{port}", "-w", "1"] + user_args(),
               cwd=app, env=env or clean_env())
    try:
        body = s.get(port)
        return body, s.output(), os.readlink(f"/proc/{s.proc.pid}/exe")
    finally:
        s.stop()


def same(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def test_wheel_installs_gatewayd_and_the_loader(venv):
    env, _ = venv
    binary = os.path.join(env, "bin", "gatewayd")
    assert os.access(binary, os.X_OK)
    assert os.path.isfile(os.path.join(env, "lib", "gatewayd", "wsgi.so"))
    ctl = os.path.join(env, "bin", "gatewayctl")
    assert os.access(ctl, os.X_OK)
    assert subprocess.run([ctl, "--help"], capture_output=True).returncode == 0
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == re.search(r'"(.*)"', open(WHEEL_INPUTS[3]).read()).group(1)


def test_venv_gatewayd_serves_flask_from_the_venv(venv):
    env, app = venv
    body, out, exe = serve([os.path.join(env, "bin", "gatewayd")], env, app)
    assert same(exe, os.path.join(env, "bin", "gatewayd"))
    assert same(body["prefix"], env), out
    assert same(os.path.dirname(body["executable"]), os.path.join(env, "bin"))
    assert body["flask"].startswith(os.path.join(env, "lib")), body
    assert f"prefix {env}" in out   # the worker's boot line names it too


def test_python_m_gatewayd_execs_the_venv_binary(venv):
    env, app = venv
    body, out, exe = serve([os.path.join(env, "bin", "python"), "-m", "gatewayd"], env, app)
    assert same(exe, os.path.join(env, "bin", "gatewayd"))   # exec'd: the master is gatewayd
    assert same(body["prefix"], env), out
    assert body["flask"].startswith(os.path.join(env, "lib")), body


def test_activated_venv_serves_with_the_source_tree_gatewayd(venv):
    """$VIRTUAL_ENV: what a shell's `. venv/bin/activate` sets, for a
    gatewayd (the .deb's, a source tree's) that is not in the venv."""
    env, app = venv
    try:
        built_for = open(os.path.join(ROOT, "build", "wsgi.python")).read().split()[0]
    except (OSError, IndexError):
        pytest.skip("no build/apps/wsgi.so")
    if not same(built_for, sys.executable):
        pytest.skip(f"build/apps/wsgi.so embeds {built_for}, not this Python")
    body, out, _ = serve([GATEWAYD], env, app, env=clean_env(VIRTUAL_ENV=env))
    assert same(body["prefix"], env), out
    assert body["flask"].startswith(os.path.join(env, "lib")), body
