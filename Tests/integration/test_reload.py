"""The Reload issue under real load: SIGHUP swaps generations without a
failed request, refuses broken apps and configs, and SIGUSR2 upgrades the
binary on the same sockets."""
import json
import os
import shutil
import signal
import time

from conftest import APPS, GATEWAYD, Client, app_path, free_port
from load import Load


def generation(port):
    with Client(port) as c:
        return int(json.loads(c.request(path="/environ").body)["gateway.generation"])


def wait_generation(port, g, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if generation(port) == g:
            return
        time.sleep(0.05)
    raise AssertionError(f"generation {g} never served")


def wait_promoted(s, g, timeout=15):
    s.wait_log(f"generation {g} serving", timeout)
    wait_generation(s.port, g, timeout)


def test_ten_reloads_under_load_lose_nothing(gatewayd, workdir):
    app = os.path.join(workdir, "app.so")
    shutil.copy(app_path("testapp"), app)
    s = gatewayd(app=app, app_args={"version": 0}, graceful_timeout=10)
    with Load(s.port) as load:
        time.sleep(0.5)
        for i in range(1, 11):
            if i % 2:
                s.write_config(app_args={"version": i})
            else:
                # a deploy replaces the .so by rename
                shutil.copy(app_path("testapp"), app + ".new")
                os.rename(app + ".new", app)
                s.write_config(app_args={"version": i})
            s.signal(signal.SIGHUP)
            wait_promoted(s, i + 1)
            with Client(s.port) as c:
                assert json.loads(c.request(path="/args").body)["version"] == str(i)
        time.sleep(0.5)
    assert load.errors == [], load.errors[:5]
    assert load.ok > 100
    assert "abandoned" not in s.log()


def test_broken_reloads_keep_the_old_generation(gatewayd, workdir):
    app = os.path.join(workdir, "app.so")
    shutil.copy(app_path("testapp"), app)
    s = gatewayd(app=app, app_args={"version": "good"})
    good = dict(s.settings)
    cases = [
        ({**good}, {"fail_init": "no database"}, "no database"),
        ({**good, "app": app_path("broken-nosymbol")}, {}, "gateway_app"),
        ({**good, "app": app_path("broken-crashinit")}, {}, "SIGABRT"),
        ({**good, "app": app_path("broken-badabi")}, {}, "version 99"),
        ({**good, "app": "/nonexistent/new.so"}, {}, "/nonexistent/new.so"),
    ]
    with Load(s.port) as load:
        for settings, args, cause in cases:
            s.write_config(settings=settings, app_args=args)
            s.signal(signal.SIGHUP)
            s.wait_log(cause)
            s.wait_log("abandoned")
            assert s.proc.poll() is None
        # an invalid config: refused before any worker starts
        with open(s.conf, "w") as f:
            f.write('workers = "many"\n')
        s.signal(signal.SIGHUP)
        s.wait_log("reload failed")
        time.sleep(0.5)
    assert load.errors == [], load.errors[:5]
    assert s.proc.poll() is None
    assert generation(s.port) == 1
    with Client(s.port) as c:
        assert json.loads(c.request(path="/args").body) == {"version": "good"}
    assert f"{s.conf}:1" in s.log()


def test_workers_change_by_reload(gatewayd):
    s = gatewayd(workers=2)
    s.settings["workers"] = 4
    s.write_config()
    s.signal(signal.SIGHUP)
    wait_promoted(s, 2)
    s.wait_workers(4, timeout=15)
    s.settings["workers"] = 2
    s.write_config()
    s.signal(signal.SIGHUP)
    wait_promoted(s, 3)
    s.wait_workers(2, timeout=15)


def test_rolling_reload_under_load(gatewayd):
    s = gatewayd(workers=3, reload_strategy="rolling")
    with Load(s.port) as load:
        time.sleep(0.3)
        s.write_config(app_args={"version": "rolled"})
        s.signal(signal.SIGHUP)
        wait_promoted(s, 2)
        time.sleep(0.5)
    assert load.errors == [], load.errors[:5]
    s.wait_workers(3)
    with Client(s.port) as c:
        assert json.loads(c.request(path="/args").body) == {"version": "rolled"}


def test_reload_opens_new_binds_and_closes_removed(gatewayd):
    s = gatewayd()
    other = free_port()
    s.settings["bind"] = [f"127.0.0.1:{s.port}", f"127.0.0.1:{other}"]
    s.write_config()
    s.signal(signal.SIGHUP)
    wait_promoted(s, 2)
    assert Client(other).request().status == 200
    s.settings["bind"] = [f"127.0.0.1:{other}"]
    s.write_config()
    s.signal(signal.SIGHUP)
    s.wait_log("generation 3 serving")
    time.sleep(0.5)
    assert Client(other).request().status == 200
    try:
        Client(s.port).request()
        raise AssertionError("the removed address still accepts")
    except OSError:
        pass


def test_binary_upgrade_under_load(gatewayd, workdir):
    exe = os.path.join(workdir, "gatewayd")
    shutil.copy(GATEWAYD, exe)
    pidfile = os.path.join(workdir, "gw.pid")
    s = gatewayd(pidfile=pidfile, start=False)
    s.start(wait=False)
    # start the copy, so that a deploy can replace it by rename
    s.proc.kill(); s.proc.wait()
    import subprocess
    s.proc = subprocess.Popen([exe, "-c", s.conf], stdout=s.logf, stderr=subprocess.STDOUT, cwd=workdir,
                              start_new_session=True)
    s.wait_ready()
    old = s.proc.pid
    with Load(s.port) as load:
        time.sleep(0.3)
        shutil.copy(GATEWAYD, exe + ".new")
        os.rename(exe + ".new", exe)
        os.kill(old, signal.SIGUSR2)
        s.wait_log(f"stopping the old master {old}")
        assert s.wait_exit(timeout=15) == 0
        time.sleep(0.5)
    assert load.errors == [], load.errors[:5]
    new = int(open(pidfile).read())
    assert new != old
    os.kill(new, 0)
    assert Client(s.port).request().status == 200
    os.kill(new, signal.SIGTERM)
    deadline = time.time() + 10
    while time.time() < deadline and os.path.exists(pidfile):
        time.sleep(0.05)
    assert not os.path.exists(pidfile)


def test_failed_binary_upgrade_keeps_the_old_master(gatewayd, workdir):
    exe = os.path.join(workdir, "gatewayd")
    shutil.copy(GATEWAYD, exe)
    s = gatewayd(start=False)
    import subprocess
    s.logf = open(s.log_path, "ab")
    s.proc = subprocess.Popen([exe, "-c", s.conf], stdout=s.logf, stderr=subprocess.STDOUT, cwd=workdir,
                              start_new_session=True)
    s.wait_ready()
    with open(exe + ".new", "w") as f:
        f.write("#!/bin/sh\nexit 7\n")
    os.chmod(exe + ".new", 0o755)
    os.rename(exe + ".new", exe)
    with Load(s.port) as load:
        s.signal(signal.SIGUSR2)
        s.wait_log("binary upgrade failed")
        time.sleep(0.3)
    assert load.errors == []
    assert s.proc.poll() is None
