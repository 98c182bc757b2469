#if canImport(Glibc)
import Glibc
#endif
import CSupport
import ServerCore

/// What a binary upgrade (SIGUSR2) tells systemd, in an order that works
/// with NotifyAccess=main, where systemd hears only its MAINPID: the new
/// master, ready, sends TERM to the old one; the old master sends
/// `MAINPID=<new master>` and then the hand-over signal; only then does the
/// new master send `READY=1` (now that it is the main process). An old
/// master from before this hand-over never sends it: the new master sends
/// `READY=1` with its `MAINPID=` once the old master is gone, which
/// NotifyAccess=all accepts.
struct HandOver {
    /// The new master: ready, it sent TERM to the old one.
    var awaiting = false
    /// The new master: the old one told systemd it is MAINPID.
    var received = false
    /// The new master: its old master was seen gone, before a pass read its
    /// signals (so a hand-over sent before it left has been read since).
    var oldGone = false
    /// The old master: it told systemd about the new one.
    var sent = false
}

extension Arbiter {
    /// The new master, once its workers are ready: the pidfile, then TERM.
    func takeOver(from old: pid_t) {
        do {
            try pidfile?.write(pid: pid)
        } catch {
            logger.error("binary upgrade: cannot take over the pidfile: \(error)")
        }
        logger.info("binary upgrade: new master ready; stopping the old master \(old)")
        handOver.awaiting = true
        Sys.kill(old, Signals.term)
        if handOver.received { announceReady() }
    }

    /// The new master: the hand-over signal from the old one.
    func handOverReceived() {
        handOver.received = true
        if handOver.awaiting { announceReady() }
    }

    /// The new master, each pass while it waits, before the signals are
    /// read: an old master gone without the hand-over (one from before it,
    /// or killed) leaves this one to say it. Gone is acted on a pass after it
    /// is seen: the hand-over signal it sent before leaving is read between.
    func awaitHandOver() {
        guard handOver.awaiting, let old = upgradeFrom else { return }
        guard handOver.oldGone else {
            handOver.oldGone = getppid() != old
            return
        }
        logger.warning("binary upgrade: the old master \(old) is gone without handing over; reporting MAINPID=\(pid) ourselves (needs NotifyAccess=all)")
        announceReady()
    }

    func announceReady() {
        handOver.awaiting = false
        SystemdNotifier.notify("READY=1\nSTATUS=\(statusLine())\nMAINPID=\(pid)")
    }

    /// The old master, stopping after SIGUSR2: systemd's main process is
    /// the new master from now on, and the new master may say it is ready.
    func handOverToNewMaster() {
        guard let child = upgradeChild, !handOver.sent else { return }
        handOver.sent = true
        SystemdNotifier.notify("MAINPID=\(child)\nSTATUS=binary upgrade: new master \(child) takes over")
        Sys.kill(child, gw_handover_signal())
        logger.info("binary upgrade: MAINPID=\(child) sent to systemd; handed over to the new master")
    }
}
