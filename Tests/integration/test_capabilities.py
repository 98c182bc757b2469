"""The root master's capabilities (docs/sandbox.md, "The master"): once its
sockets are bound it keeps only what supervising the workers needs, in its
bounding, permitted and effective sets, and what it kept still does its
jobs: a reload, a 504 for a timed-out worker (pidfd_getfd, CAP_SYS_PTRACE),
SIGUSR1's log reopen (CAP_CHOWN, CAP_DAC_OVERRIDE), SIGTTIN (CAP_SETUID,
CAP_SETGID). Outside systemd a root master starts with every capability."""
import os
import signal

import pytest

from conftest import Client, get, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the master holds capabilities only as root")

# CHOWN 0, DAC_OVERRIDE 1, KILL 5, SETGID 6, SETUID 7, NET_BIND_SERVICE 10, SYS_PTRACE 19
KEPT = sum(1 << c for c in (0, 1, 5, 6, 7, 10, 19))


def caps(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Cap"):
                k, v = line.split(":")
                out[k] = int(v.strip(), 16)
    return out


def test_the_master_keeps_only_what_it_needs_and_each_still_works(gatewayd, workdir):
    log = os.path.join(workdir, "error.log")
    s = gatewayd(workers=2, timeout=2, error_log=log, start=False)
    s.start(wait=False)
    wait_until(lambda: os.path.exists(log) and "workers ready" in open(log).read(), timeout=20, what="workers ready")
    c = caps(s.pid)
    assert c["CapBnd"] == KEPT, hex(c["CapBnd"])
    assert c["CapPrm"] == KEPT, hex(c["CapPrm"])
    assert c["CapEff"] == KEPT, hex(c["CapEff"])
    assert c["CapInh"] == 0 and c["CapAmb"] == 0, c
    assert "capabilities: the master dropped" in open(log).read()
    # the workers, dropped to nobody, hold none
    for w in s.wait_workers(2):
        assert caps(w)["CapEff"] == 0

    # a timed-out request: the master takes the worker's socket to answer
    with Client(s.port, timeout=20) as cl:
        r = cl.request(path="/sleep?seconds=10")
    assert r.status == 504
    s.wait_workers(2)

    # SIGUSR1: the master reopens a log file it then gives the workers
    os.rename(log, log + ".1")
    s.signal(signal.SIGUSR1)
    wait_until(lambda: os.path.exists(log) and "log files reopened" in open(log).read(), what="the reopen")
    assert "reopening logs failed" not in open(log).read()
    assert os.stat(log).st_uid == caps_user_uid(s.wait_workers(2)[0])

    # SIGTTIN: one more worker, dropped to its user
    s.signal(signal.SIGTTIN)
    s.wait_workers(3)

    # SIGHUP: a new generation of workers
    before = set(s.wait_workers(3))
    s.signal(signal.SIGHUP)
    wait_until(lambda: len(set(s.workers()) - before) >= 2 and not (set(s.workers()) & before), timeout=20,
               what="the new generation")
    assert get(s.port)[0] == 200
    assert caps(s.pid)["CapBnd"] == KEPT
    text = open(log).read() + open(log + ".1").read()
    for bad in ("reload failed", "reopening logs failed", "workers may not reopen", "capset"):
        assert bad not in text, text


def caps_user_uid(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])


def test_a_binary_upgrades_new_master_starts_with_what_the_old_one_kept(gatewayd, workdir):
    """The bounding set survives exec: the new master of a SIGUSR2 holds the
    seven from the start, has nothing to drop, and its workers still switch
    to their user."""
    pidfile = os.path.join(workdir, "gw.pid")
    s = gatewayd(workers=1, pidfile=pidfile)
    old = s.pid
    s.signal(signal.SIGUSR2)
    assert s.wait_exit(timeout=20) == 0
    new = int(open(pidfile).read())
    try:
        c = caps(new)
        assert (c["CapBnd"], c["CapPrm"], c["CapEff"]) == (KEPT, KEPT, KEPT), c
        assert s.log().count("capabilities: the master dropped") == 1, s.log()
        assert get(s.port)[0] == 200
        workers = [int(p) for p in open(f"/proc/{new}/task/{new}/children").read().split()]
        assert workers and all(caps_user_uid(w) != 0 for w in workers), workers
        assert old != new
    finally:
        os.kill(new, signal.SIGTERM)
        wait_until(lambda: not os.path.exists(pidfile), timeout=15, what="the new master to stop")
