"""pip install gatewayd: the wheels of `make wheels` (scripts/wheel.py), one
per CPython X.Y found, each installed into a fresh venv of every install of
its X.Y found (pyenv's, Debian's /usr/bin/python3...) with Flask from PyPI,
then a Flask app served by the venv's gatewayd as a Gunicorn user would
start it: the app runs on the venv's Python and packages (sys.prefix is the
venv, the venv's site-packages ahead of any dist-packages) with no
virtualenv setting, whichever install of that X.Y built the wheel (the
loader loads the libpython of the venv's Python at run time). A Python
3.9 to 3.13 that is not on this machine is one skipped test saying so.

The wheels in dist/ are reused when they are newer than what goes into
them; otherwise `make wheels` builds them. The venvs are made with
--without-pip and filled by this Python's pip (`pip --python`), in
parallel. Without PyPI the Flask tests are skipped.

Privileges: as root the workers drop to nobody, who must read the venv, the
app (both in a 0755 temporary directory) and the venv's base Python; when
that Python is not world-readable (pyenv under /root, mode 0700) the
workers keep root with `--user root`.
"""
import concurrent.futures
import glob
import importlib.util
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from conftest import APPS, GATEWAYD, ROOT, free_port, readable_by_others

DIST = os.path.join(ROOT, "dist")
WHEEL_SCRIPT = os.path.join(ROOT, "scripts", "wheel.py")
WHEEL_INPUTS = [GATEWAYD, os.path.join(ROOT, "build", "bin", "gatewayctl"), WHEEL_SCRIPT,
                os.path.join(ROOT, "Sources", "ServerCore", "Version.swift")] + \
    glob.glob(os.path.join(ROOT, "Sources", "WSGILoader", "*.[ch]"))
# The versions these machines have (pyenv's and Debian's): each is served or
# skipped with the reason.
VERSIONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]
THIS = "%d.%d" % sys.version_info[:2]

_spec = importlib.util.spec_from_file_location("wheel_script", WHEEL_SCRIPT)
wheel_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(wheel_script)

# Every install that can serve (a shared libpython), those that can build
# (with headers), and those `make wheels` builds with (one per X.Y).
INSTALLS = wheel_script.find_pythons(headers=False, quiet=True)
WITH_HEADERS = wheel_script.find_pythons(quiet=True)
BUILDERS = {p["xy"]: p for p in wheel_script.one_per_version(WITH_HEADERS) if not p["abi"]}
SEARCHED = "pyenv root %s, /usr/bin/python3, /usr/local/bin/python3, python3 on PATH" % (
    wheel_script.pyenv_root() or "(none)")

FLASK_APP = '''
import sys
import flask

app = flask.Flask(__name__)


@app.route("/")
def index():
    return {"prefix": sys.prefix, "base_prefix": sys.base_prefix, "version": list(sys.version_info[:3]),
            "executable": sys.executable, "flask": flask.__file__, "path": sys.path}
'''

PLAIN_APP = '''
import json
import sys


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"prefix": sys.prefix, "base_prefix": sys.base_prefix,
                        "version": list(sys.version_info[:3]), "path": sys.path}).encode()]
'''

# What pip says when it cannot reach the index (as opposed to a real failure).
OFFLINE = re.compile(r"NewConnectionError|ConnectTimeout|Temporary failure in name resolution|"
                     r"Network is unreachable|No matching distribution found|ProxyError|"
                     r"Could not fetch URL|Max retries exceeded")


def pairs():
    """(X.Y, install) to serve: every install of every version, or one
    skipped entry for a version that is missing."""
    out = []
    for xy in VERSIONS:
        installs = [p for p in INSTALLS if p["xy"] == xy and not p["abi"]]
        if xy not in BUILDERS:
            out.append(pytest.param(xy, None, id=xy, marks=pytest.mark.skip(
                reason=f"no CPython {xy} with a shared libpython and headers here ({SEARCHED})")))
            continue
        for p in installs:
            out.append(pytest.param(xy, p, id=f"{xy}-{p['version']}-{p['path']}"))
    return out


def wheels_fresh(found):
    newest = max(os.path.getmtime(p) for p in WHEEL_INPUTS if os.path.exists(p))
    return all(xy in found and os.path.getmtime(found[xy]) >= newest for xy in BUILDERS)


def dist_wheels():
    found = {}
    for w in glob.glob(os.path.join(DIST, "gatewayd-*.whl")):
        m = re.search(r"-cp3(\d+)-cp3\d+-", os.path.basename(w))
        if m:
            found["3." + m.group(1)] = w
    return found


@pytest.fixture(scope="module")
def wheels():
    """{X.Y: wheel} of `make wheels`, rebuilt when stale."""
    if not BUILDERS:
        pytest.skip(f"no CPython >= 3.9 with a shared libpython and headers ({SEARCHED})")
    found = dist_wheels()
    if not wheels_fresh(found):
        r = subprocess.run(["make", "wheels"], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, "make wheels:\n" + r.stdout[-2000:] + r.stderr[-2000:]
        found = dist_wheels()
    assert set(BUILDERS) <= set(found), (sorted(BUILDERS), found)
    return found


def private_dir(prefix):
    top = tempfile.mkdtemp(prefix=prefix)
    os.chmod(top, 0o755)
    return top


def pip_has_python_option():
    """pip >= 22.3 installs into another interpreter (--python)."""
    r = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True)
    m = re.match(r"pip (\d+)\.(\d+)", r.stdout)
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= (22, 3)


PIP_PYTHON = pip_has_python_option()


def make_venv(python, path, with_pip=False):
    subprocess.run([python, "-m", "venv", path] + ([] if with_pip else ["--without-pip"]),
                   check=True, capture_output=True)
    for root, dirs, _ in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)


def pip_into(venv, *args):
    """This Python's pip, installing into the venv's interpreter (the
    venv's own pip with a pip older than 22.3)."""
    pip = ([sys.executable, "-m", "pip", "--python", os.path.join(venv, "bin", "python")] if PIP_PYTHON
           else [os.path.join(venv, "bin", "python"), "-m", "pip"])
    return subprocess.run(pip + ["install", "-q", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=600)


def write_app(top, text, name="app.py"):
    app = os.path.join(top, "app")
    os.makedirs(app, exist_ok=True)
    with open(os.path.join(app, name), "w") as f:
        f.write(text)
    os.chmod(os.path.join(app, name), 0o644)
    return app


@pytest.fixture(scope="module")
def venvs(wheels):
    """{install path: venv} for every install of a version with a wheel:
    a fresh venv with the wheel and Flask, made in parallel."""
    top = private_dir("gatewayd-wheels-")
    todo = [(i, p, wheels[p["xy"]]) for i, p in enumerate(INSTALLS) if p["xy"] in wheels and not p["abi"]]

    def one(item):
        i, p, wheel = item
        venv = os.path.join(top, "venv-%s-%d" % (p["version"], i))
        make_venv(p["path"], venv, with_pip=not PIP_PYTHON)
        r = pip_into(venv, wheel, "flask")
        return p["path"], venv, r

    try:
        out, offline = {}, None
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            for path, venv, r in pool.map(one, todo):
                if r.returncode != 0 and OFFLINE.search(r.stdout + r.stderr):
                    offline = (r.stdout + r.stderr).strip().splitlines()[-1]
                    continue
                assert r.returncode == 0, f"pip install into a venv of {path}:\n" + r.stdout + r.stderr
                out[path] = venv
        if offline and not out:
            pytest.skip("PyPI is unreachable (pip install flask failed): " + offline)
        write_app(top, FLASK_APP)
        yield top, out
    finally:
        shutil.rmtree(top, ignore_errors=True)


def user_args(python):
    """--user root when nobody could not run that Python (pyenv under /root)."""
    if os.getuid() != 0 or readable_by_others(python):
        return []
    return ["--user", "root"]


class Served:
    """A gatewayd master started from a command line; stopped with SIGTERM."""

    def __init__(self, argv, cwd, env):
        fd, self.log = tempfile.mkstemp(prefix="gatewayd-wheel-", suffix=".log")
        self.out = os.fdopen(fd, "wb")
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
            time.sleep(0.05)
        raise AssertionError("not ready:\n" + self.output())

    def wait_exit(self, timeout=30):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

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


def serve(argv, app, python, env=None, spec="app:app"):
    port = free_port()
    s = Served(argv + [spec, "-b", f"127.0.0.1:{port}", "-w", "1"] + user_args(python),
               cwd=app, env=env or clean_env())
    try:
        body = s.get(port)
        return body, s.output(), os.readlink(f"/proc/{s.proc.pid}/exe")
    finally:
        s.stop()


def same(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def base_prefix(python):
    return subprocess.run([python, "-I", "-c", "import sys; print(sys.base_prefix)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def assert_the_venv(body, venv, python, out):
    """Served by the venv: its prefix, its base Python's version and
    install, its site-packages ahead of any other."""
    version = subprocess.run([python, "-I", "-c", "import sys; print(list(sys.version_info[:3]))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert same(body["prefix"], venv), out
    assert str(body["version"]) == version, (body["version"], version, out)
    assert same(body["base_prefix"], base_prefix(python)), (body["base_prefix"], out)
    site = [i for i, p in enumerate(body["path"]) if "-packages" in p]
    assert site and body["path"][site[0]].startswith(venv), body["path"]
    assert f"prefix {venv}" in out   # the worker's boot line names it too


@pytest.mark.parametrize("xy,python", pairs())
def test_each_wheel_serves_flask_in_a_venv_of_each_install_of_its_version(venvs, wheels, xy, python):
    top, made = venvs
    venv = made.get(python["path"])
    if venv is None:
        pytest.skip("PyPI is unreachable")
    binary = os.path.join(venv, "bin", "gatewayd")
    body, out, exe = serve([binary], os.path.join(top, "app"), python["path"])
    assert same(exe, binary)
    assert_the_venv(body, venv, python["path"], out)
    assert body["flask"].startswith(os.path.join(venv, "lib")), body
    built_with = BUILDERS[xy]
    print(f"{os.path.basename(wheels[xy])} (built with {built_with['version']} {built_with['path']}) "
          f"served a venv of {python['version']} {python['path']}")


def this_venv(venvs):
    top, made = venvs
    p = next((p for p in INSTALLS if same(p["real"], sys.executable) and p["path"] in made), None)
    if p is None:
        pytest.skip(f"no venv of this Python ({sys.executable}) was made")
    return top, made[p["path"]], p["path"]


def test_wheel_installs_gatewayd_and_the_loader(venvs):
    _, env, _ = this_venv(venvs)
    binary = os.path.join(env, "bin", "gatewayd")
    assert os.access(binary, os.X_OK)
    assert os.path.isfile(os.path.join(env, "lib", "gatewayd", "wsgi.so"))
    assert os.path.isfile(os.path.join(env, "lib", "gatewayd", f"wsgi-python{THIS}.so"))
    ctl = os.path.join(env, "bin", "gatewayctl")
    assert os.access(ctl, os.X_OK)
    assert subprocess.run([ctl, "--help"], capture_output=True).returncode == 0
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == re.search(r'"(.*)"', open(WHEEL_INPUTS[3]).read()).group(1)


def test_wheels_are_tagged_manylinux_and_link_neither_libpython_nor_libsystemd(wheels):
    for xy, w in wheels.items():
        name = os.path.basename(w)
        tag = "cp" + xy.replace(".", "")
        assert re.search(rf"-{tag}-{tag}-manylinux_2_\d+_(x86_64|aarch64)", name), name
        top = private_dir("gatewayd-wheel-elf-")
        try:
            subprocess.run(["python3", "-m", "zipfile", "-e", w, top], check=True)
            for root, _, files in os.walk(top):
                for f in files:
                    path = os.path.join(root, f)
                    with open(path, "rb") as fh:
                        if fh.read(4) != b"\x7fELF":
                            continue
                    needed = re.findall(r"NEEDED\s+(\S+)", subprocess.run(
                        ["objdump", "-p", path], capture_output=True, text=True, check=True).stdout)
                    assert not [n for n in needed if "python" in n or "systemd" in n], (name, f, needed)
        finally:
            shutil.rmtree(top, ignore_errors=True)


def test_python_m_gatewayd_execs_the_venv_binary(venvs):
    top, env, python = this_venv(venvs)
    body, out, exe = serve([os.path.join(env, "bin", "python"), "-m", "gatewayd"],
                           os.path.join(top, "app"), python)
    assert same(exe, os.path.join(env, "bin", "gatewayd"))   # exec'd: the master is gatewayd
    assert same(body["prefix"], env), out
    assert body["flask"].startswith(os.path.join(env, "lib")), body


def test_activated_venv_serves_with_the_source_tree_gatewayd(venvs):
    """$VIRTUAL_ENV: what a shell's `. venv/bin/activate` sets, for a
    gatewayd (the .deb's, a source tree's) that is not in the venv."""
    top, env, python = this_venv(venvs)
    try:
        built_for = open(os.path.join(ROOT, "build", "wsgi.python")).read().split()[0]
    except (OSError, IndexError):
        pytest.skip("no build/apps/wsgi.so")
    xy = subprocess.run([built_for, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                        capture_output=True, text=True).stdout.strip()
    if xy != THIS:
        pytest.skip(f"build/apps/wsgi.so is for Python {xy}, not {THIS}")
    body, out, _ = serve([GATEWAYD], os.path.join(top, "app"), python, env=clean_env(VIRTUAL_ENV=env))
    assert same(body["prefix"], env), out
    assert body["flask"].startswith(os.path.join(env, "lib")), body


# ------------------------------------------------ one install's loader, another's venv

def other_installs():
    """(builder, server) pairs of two installs of one X.Y, both ways."""
    out = []
    for xy in VERSIONS:
        installs = [p for p in INSTALLS if p["xy"] == xy and not p["abi"]]
        with_headers = [p["path"] for p in WITH_HEADERS if p["xy"] == xy]
        for a in installs:
            for b in installs:
                if a["real"] != b["real"] and a["path"] in with_headers:
                    out.append(pytest.param(a, b, id=f"{a['version']}-{a['path']}-in-{b['version']}-{b['path']}"))
    return out or [pytest.param(None, None, marks=pytest.mark.skip(
        reason=f"no X.Y with two installs here ({SEARCHED})"))]


@pytest.fixture(scope="module")
def plain_app():
    top = private_dir("gatewayd-loader-")
    write_app(top, PLAIN_APP)
    yield top
    shutil.rmtree(top, ignore_errors=True)


@pytest.mark.parametrize("builder,server", other_installs())
def test_a_loader_built_with_one_install_serves_a_venv_of_another(plain_app, builder, server):
    """Issue 24: the loader built with Debian's 3.11 served a pyenv 3.11
    venv with Debian's Python (3.11.2, sys.prefix /usr, dist-packages
    first); built with pyenv's, it refused a Debian venv."""
    build = os.path.join(plain_app, "build-" + os.path.basename(os.path.dirname(os.path.dirname(builder["real"]))) +
                         "-" + str(abs(hash(builder["real"]))))
    r = subprocess.run(["make", "--no-print-directory", f"BUILD={build}", f"{build}/apps/wsgi.so",
                        f"PYTHON={builder['path']}"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    venv = os.path.join(plain_app, "venv-" + str(abs(hash((builder["real"], server["real"])))))
    make_venv(server["path"], venv)
    body, out, _ = serve([GATEWAYD], os.path.join(plain_app, "app"), server["path"], spec="app:application",
                         env=clean_env(VIRTUAL_ENV=venv, GATEWAYD_WSGI_LOADER=f"{build}/apps/wsgi.so"))
    assert_the_venv(body, venv, server["path"], out)


# ------------------------------------------------------------- refusals

def fake_venv(top, name, fields):
    """A venv whose python answers the loader's question with `fields`."""
    venv = os.path.join(top, name)
    os.makedirs(os.path.join(venv, "bin"))
    with open(os.path.join(venv, "pyvenv.cfg"), "w") as f:
        f.write("home = /opt/fake/bin\nversion = %s\n" % fields[2])
    py = os.path.join(venv, "bin", "python3")
    with open(py, "w") as f:
        f.write("#!%s\nimport sys\nsys.stdout.write(%r)\n" % (sys.executable, "\0".join(fields)))
    os.chmod(py, 0o755)
    return venv


def refused(plain_app, venv):
    port = free_port()
    # as root, the workers keep root: nobody may not run the venv's Python
    s = Served([GATEWAYD, "app:application", "-b", f"127.0.0.1:{port}", "-w", "1"]
               + (["--user", "root"] if os.getuid() == 0 else []),
               cwd=os.path.join(plain_app, "app"), env=clean_env(VIRTUAL_ENV=venv))
    try:
        assert s.wait_exit() not in (None, 0), s.output()
        return [line for line in s.output().splitlines() if "wsgi: " in line and "virtualenv" in line]
    finally:
        s.stop()


def loader_version():
    try:
        built_for = open(os.path.join(ROOT, "build", "wsgi.python")).read().split()
    except OSError:
        pytest.skip("no build/apps/wsgi.so")
    return built_for[0], ".".join(built_for[1].split(".")[:2])


def test_a_venv_of_another_version_is_refused_naming_both_pythons(plain_app):
    exe, xy = loader_version()
    other = next((p for p in INSTALLS if p["xy"] != xy), None)
    if other is None:
        pytest.skip(f"no Python other than {xy} here")
    venv = os.path.join(plain_app, "venv-other")
    make_venv(other["path"], venv)
    lines = refused(plain_app, venv)
    assert lines, "no refusal"
    line = lines[0]
    assert f"the virtualenv {venv} is of Python {other['version']} ({other['real']})" in line, line
    assert f"this loader is for Python {xy} (built with Python" in line and exe in line, line


def test_a_python_without_a_shared_libpython_is_refused(plain_app):
    exe, xy = loader_version()
    venv = fake_venv(plain_app, "venv-static", ["cpython", xy, xy + ".99", "", "0", "/opt/fake/lib",
                                                 "libpython%s.a" % xy, "libpython%s.a" % xy, "/opt/fake",
                                                 "/opt/fake", "/opt/fake/bin/python" + xy])
    lines = refused(plain_app, venv)
    assert lines and "has no shared libpython" in lines[0] and f"/opt/fake/bin/python{xy}" in lines[0], lines
    assert exe in lines[0], lines


def test_a_venv_whose_python_is_gone_is_refused_naming_it(plain_app):
    """A venv copied without its base Python (a Docker stage, a removed
    pyenv version): the refusal says so, no other Python is tried."""
    _, xy = loader_version()
    venv = os.path.join(plain_app, "venv-gone")
    os.makedirs(os.path.join(venv, "bin"))
    with open(os.path.join(venv, "pyvenv.cfg"), "w") as f:
        f.write(f"home = /opt/gone/bin\nversion = {xy}.4\n")
    os.symlink(f"/opt/gone/bin/python{xy}", os.path.join(venv, "bin", "python3"))
    lines = refused(plain_app, venv)
    assert lines and "(/opt/gone/bin) is not there" in lines[0], lines
