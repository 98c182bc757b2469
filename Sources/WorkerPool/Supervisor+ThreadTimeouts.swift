/// Timeouts of workers with app threads (threads > 1): ThreadTimeouts
/// decides, this turns its events into actions and worker states. A
/// worker with one thread keeps the tick's rule (stopped at once).
extension Supervisor {
    /// Time a worker with a timed-out request has to leave: graceful_timeout
    /// (it finishes its other requests), the dump's grace and a second.
    var threadTimeoutGrace: UInt64 {
        UInt64(settings.gracefulTimeout) * 1_000_000_000 + settings.dumpGrace + settings.killGrace
    }

    mutating func tickThreads(now: UInt64, busy: [Int32: [ThreadTimeouts.Busy]]) -> [Action] {
        // a killed worker's requests are over for the master
        let watched = busy.filter { workers[$0.key].map { !$0.isKilled } ?? false }
        var actions: [Action] = []
        let timeout = UInt64(settings.timeout) * 1_000_000_000
        for event in threadTimeouts.observe(now: now, busy: watched, timeout: timeout, grace: threadTimeoutGrace) {
            switch event {
            case let .expired(pid, thread, serial, seconds, request):
                actions.append(.log(level: .error, message: "worker \(pid) timed out after \(seconds)s on \(request) (app thread \(thread))"))
                // The 504 first, then the stack of that thread, then the
                // worker is told (it interrupts the thread or retires);
                // its other threads' requests go on.
                actions.append(.captureThreadClient(pid: pid, thread: thread, serial: serial))
                actions.append(.dumpThreadStack(pid: pid, thread: thread))
                actions.append(.interruptThread(pid: pid, thread: thread, serial: serial))
            case let .overdue(pid, thread):
                guard var w = workers[pid], !w.isKilled else { continue }
                actions.append(.log(level: .warning, message: "worker \(pid) still on the timed-out request of app thread \(thread) \(Self.seconds(threadTimeoutGrace)) later (graceful_timeout \(settings.gracefulTimeout)s): killed"))
                actions.append(.signal(pid: pid, signal: Signals.kill))
                w.state = .leaving(w.leave ?? .timeout, killAt: nil)
                workers[pid] = w
                actions += replace(w, now: now)
            }
        }
        return actions
    }
}
