"""A binary upgrade (SIGUSR2) that systemd can follow with
NotifyAccess=main, where it hears only its MAINPID: the old master sends
MAINPID=<new master> before the new master sends READY=1 (SIGNALS.md).
A datagram socket as NOTIFY_SOCKET records each message with its sender's
pid (SO_PASSCRED), as systemd sees it."""
import os
import shutil
import signal
import socket
import struct
import threading
import time

from conftest import GATEWAYD, get, wait_until


class CredNotifyListener:
    """NOTIFY_SOCKET that keeps (sender pid, message) in order."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(0.2)
        self.messages = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        size = socket.CMSG_SPACE(struct.calcsize("3i"))
        while not self.stop:
            try:
                data, anc, _, _ = self.sock.recvmsg(65536, size)
            except socket.timeout:
                continue
            pid = None
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", cdata[:12])[0]
            self.messages.append((pid, data.decode()))

    def first(self, predicate):
        """The index of the first message for which predicate(pid, fields) holds, or None."""
        for i, (pid, m) in enumerate(list(self.messages)):
            if predicate(pid, m.split("\n")):
                return i
        return None

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def test_the_old_master_hands_mainpid_over_before_the_new_master_is_ready(gatewayd, workdir):
    notify = CredNotifyListener(os.path.join(workdir, "notify.sock"))
    exe = os.path.join(workdir, "gatewayd")
    shutil.copy(GATEWAYD, exe)
    pidfile = os.path.join(workdir, "gw.pid")
    s = gatewayd(workers=1, pidfile=pidfile, start=False)
    s.logf = open(s.log_path, "ab")
    import subprocess
    s.proc = subprocess.Popen([exe, "-c", s.conf], stdout=s.logf, stderr=subprocess.STDOUT, cwd=workdir,
                              start_new_session=True, env=dict(os.environ, NOTIFY_SOCKET=notify.path))
    try:
        s.wait_ready()
        old = s.pid
        wait_until(lambda: notify.first(lambda p, f: p == old and "READY=1" in f) is not None, what="READY=1")
        s.signal(signal.SIGUSR2)
        assert s.wait_exit(timeout=20) == 0
        new = int(open(pidfile).read())
        assert new != old
        wait_until(lambda: notify.first(lambda p, f: p == new and "READY=1" in f) is not None,
                   what="READY=1 from the new master")
        handed = notify.first(lambda p, f: f"MAINPID={new}" in f and p == old)
        ready = notify.first(lambda p, f: p == new and "READY=1" in f)
        assert handed is not None, notify.messages
        assert handed < ready, notify.messages
        # nothing from the new master reached the socket before the hand-over
        # carried what systemd would have needed then (with main, dropped)
        assert notify.first(lambda p, f: p == new and ("READY=1" in f or any(x.startswith("MAINPID=") for x in f))) == ready
        assert "gone without handing over" not in s.log()
        assert get(s.port)[0] == 200
    finally:
        try:
            os.kill(int(open(pidfile).read()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        wait_until(lambda: not os.path.exists(pidfile), timeout=15, what="the new master to stop")
        notify.close()


def test_a_new_master_whose_old_master_is_gone_says_it_is_ready_itself(gatewayd, workdir):
    """An old master that never hands over (from before the hand-over, or
    killed): once it is gone, the new master sends READY=1 and MAINPID=."""
    notify = CredNotifyListener(os.path.join(workdir, "notify.sock"))
    pidfile = os.path.join(workdir, "gw.pid")
    # the new master boots slowly enough for the old one to be killed first
    s = gatewayd(workers=1, pidfile=pidfile, start=False, app_args={"sleep_init": "1.5"})
    s.logf = open(s.log_path, "ab")
    import subprocess
    s.proc = subprocess.Popen([GATEWAYD, "-c", s.conf], stdout=s.logf, stderr=subprocess.STDOUT, cwd=workdir,
                              start_new_session=True, env=dict(os.environ, NOTIFY_SOCKET=notify.path))
    new = None
    try:
        s.wait_ready()
        old = s.pid
        s.signal(signal.SIGUSR2)
        s.wait_log("SIGUSR2: started new master")
        s.proc.kill()
        s.proc.wait()
        wait_until(lambda: os.path.exists(pidfile) and open(pidfile).read().strip().isdigit()
                   and int(open(pidfile).read()) != old, timeout=20, what="the new master's pidfile")
        new = int(open(pidfile).read())
        wait_until(lambda: notify.first(lambda p, f: p == new and "READY=1" in f and f"MAINPID={new}" in f) is not None,
                   timeout=10, what="READY=1 and MAINPID= from the new master")
        assert notify.first(lambda p, f: p == old and f"MAINPID={new}" in f) is None, (old, new, notify.messages)
        s.wait_log("gone without handing over")
        assert get(s.port)[0] == 200
    finally:
        if new:
            os.kill(new, signal.SIGTERM)
            wait_until(lambda: not os.path.exists(pidfile), timeout=15, what="the new master to stop")
        notify.close()


def test_the_new_master_keeps_the_watchdog_fed(gatewayd, workdir):
    """systemd sets WATCHDOG_PID to the main process: the new master of an
    upgrade must see its own pid there, or sd_watchdog_enabled says no and
    systemd kills the service WatchdogSec after the hand-over."""
    notify = CredNotifyListener(os.path.join(workdir, "notify.sock"))
    pidfile = os.path.join(workdir, "gw.pid")
    s = gatewayd(workers=1, pidfile=pidfile, start=False)
    s.logf = open(s.log_path, "ab")
    import subprocess
    # as systemd does it: WATCHDOG_PID is the pid of the process it starts
    s.proc = subprocess.Popen(["/bin/sh", "-c", f'WATCHDOG_PID=$$ exec "{GATEWAYD}" -c "{s.conf}"'],
                              stdout=s.logf, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True,
                              env=dict(os.environ, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="1000000"))
    try:
        s.wait_ready()
        old = s.pid
        wait_until(lambda: notify.first(lambda p, f: p == old and "WATCHDOG=1" in f) is not None, what="the old master's ping")
        s.signal(signal.SIGUSR2)
        assert s.wait_exit(timeout=20) == 0
        new = int(open(pidfile).read())
        wait_until(lambda: notify.first(lambda p, f: p == new and "WATCHDOG=1" in f) is not None, timeout=5,
                   what="a ping from the new master")
    finally:
        try:
            os.kill(int(open(pidfile).read()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        wait_until(lambda: not os.path.exists(pidfile), timeout=15, what="the new master to stop")
        notify.close()
