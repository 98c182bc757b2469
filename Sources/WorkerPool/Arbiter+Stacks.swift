import CSupport
import ServerCore

/// Stack dumps of workers: the master signals the worker's main thread
/// (gw_stack_signal), or, for a timeout of a worker with app threads, the
/// stuck app thread (its tid in its slot; the dump names its index); the worker writes its stack to the error log and to
/// its scratch file (CSupport/stackdump.c), and the master, on a later
/// pass of its loop, answers `POST /dump` with the text, or notes a dump
/// that did not come (a timeout's). It never waits for a worker.
extension Arbiter {
    /// Signals `pid` for a dump unless one is under way. False when the
    /// worker cannot dump (no slot, handler not installed, signal failed).
    /// `thread`: the app thread to dump (threads > 1), nil: the main thread.
    @discardableResult
    func requestDump(_ pid: Int32, purpose: StackDumps.Purpose, thread: Int? = nil) -> Bool {
        guard let i = records[pid]?.score, scoreboard[i].dump_fd > 0 else { return false }
        let slot = scoreboard + i
        // the app thread's kernel tid; unknown yet (0): the main thread
        let tid = thread.flatMap { threadSlot(pid, $0)?.pointee.tid }.flatMap { $0 > 0 ? $0 : nil } ?? pid
        guard dumps.begin(pid: pid, purpose: purpose, serial: slot.pointee.dump_serial, now: Self.now) else { return true }
        // Read by the handler: the level of its lines.
        // With the flag the worker clears once the dump is written (a worker told to stop waits for it).
        let reason = (purpose == .timeout ? Int32(GW_DUMP_TIMEOUT) : Int32(GW_DUMP_ON_DEMAND)) | Int32(GW_DUMP_REQUESTED)
        slot.pointee.dump_reason = reason
        if !Sys.signalThread(pid, tid, gw_stack_signal()) {
            dumps.cancel(pid: pid)
            return false
        }
        return true
    }

    /// Each pass of the loop: the dumps that are over, acted on.
    func settleDumps() {
        guard !dumps.isEmpty else { return }
        var serials: [Int32: UInt64] = [:]
        for (pid, r) in records { serials[pid] = scoreboard[r.score].dump_serial }
        for outcome in dumps.settle(now: Self.now, serials: serials) {
            if case let .lateBy(ns) = outcome.result {
                logger.warning("worker \(outcome.pid) did not dump its stack within \(ns / 1_000_000) ms")
            }
            if outcome.purposes.contains(.admin) {
                admin?.answerDumpWaiters(pid: outcome.pid, dumpReply(outcome))
            }
        }
    }

    /// The answer to `POST /dump`: the stack as text (it is in the error log too).
    func dumpReply(_ o: StackDumps.Outcome) -> AdminReply {
        switch o.result {
        case .gone:
            return .text(410, "worker \(o.pid) exited before its stack was dumped")
        case .lateBy:
            return .text(504, "worker \(o.pid) did not dump its stack within \(StackDumps.grace / 1_000_000) ms (signals blocked, or stuck in the dynamic loader)")
        case .complete:
            guard let i = records[o.pid]?.score else { return .text(410, "worker \(o.pid) exited") }
            do {
                let fd = try Sys.takeDescriptor(scoreboard[i].dump_fd, of: o.pid)
                defer { Sys.close(fd) }
                return .text(200, String(decoding: Sys.readFromStart(fd, limit: 1 << 20), as: UTF8.self))
            } catch {
                return .text(200, "the stack of worker \(o.pid) is in the error log (\(error))")
            }
        }
    }

    /// `POST /dump?worker=PID`.
    func answerDump(_ r: AdminRequest) -> AdminReply {
        guard let text = r.query["worker"], let pid = Int32(text), pid > 0 else {
            return .outcome(400, "refused", reason: "dump needs ?worker=PID")
        }
        guard records[pid] != nil, supervisor.workers[pid] != nil else {
            return .outcome(404, "refused", reason: "no worker \(pid)")
        }
        let doing = busyRequest(pid).map { "busy on \($0)" } ?? "idle"
        logger.info("admin: stack dump of worker \(pid) (\(doing))")
        // A busy worker: the first busy app thread's stack (what it is doing); idle: the main thread's.
        let busyThread = records[pid].flatMap { busySlots($0).first?.thread }
        guard requestDump(pid, purpose: .admin, thread: busyThread) else {
            return .outcome(409, "refused", reason: "worker \(pid) cannot dump its stack (not booted, or stack dumps are off in it)")
        }
        return .awaitDump(pid: pid)
    }
}
