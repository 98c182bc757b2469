/// How a worker's death is judged, and when its slot is filled again
/// (the table "Crashes, backoff and reload abandonment" in
/// docs/architecture.md; one test per row in FaultRulesTests).
extension Supervisor {
    /// Why a worker left, from its state, its exit status and the scoreboard.
    enum Departure: Equatable {
        /// The master asked it to go, or it announced it (recycling).
        case expected(clean: Bool)
        /// Exit code 0 after booting without an announcement (it was lost).
        case cleanUnannounced
        /// Died while the scoreboard showed it serving `request`: the
        /// request's fault, not the boot's.
        case requestCrash(request: String)
        /// Died idle before booting or within crash_window of booting.
        case bootCrash
        /// Died idle after a stable run.
        case crash
    }

    /// What a failure of a slot is counted as for the backoff.
    enum FailureCause { case bootCrash, spawnFailed }

    func departure(of w: Worker, status: ExitStatus, request: String?, now: UInt64) -> Departure {
        if w.leave != nil { return .expected(clean: status.isClean) }
        guard let bootedAt = w.bootedAt else { return .bootCrash }
        if status.isClean { return .cleanUnannounced }
        if let request { return .requestCrash(request: request) }
        if now &- bootedAt < settings.crashWindow { return .bootCrash }
        return .crash
    }

    /// A child was reaped. `status` describes how it ended; `request` is the
    /// request it was serving when it died, if any (from the scoreboard).
    public mutating func exited(pid: Int32, status: ExitStatus, now: UInt64, request: String? = nil) -> [Action] {
        guard let w = workers.removeValue(forKey: pid) else { return [] }
        threadTimeouts.forget(pid: pid)
        slots[w.slot, default: Slot()].lastExit = Slot.Exit(status: status, leave: w.leave)
        var actions: [Action] = []
        if case .stopping = phase {
            if workers.isEmpty { actions.append(.exit(code: 0)) }
            return actions
        }
        if phase == .halted { return actions }
        if let r = reload, w.generation == r.generation, w.leave == nil {
            return actions + abandonReload(reason: "worker \(pid) of the new generation \(status) before it was promoted", now: now)
        }
        if let r = reload, r.rolling, w.generation == generation, r.switched.contains(w.slot) {
            return actions
        }
        if phase == .starting && w.leave == nil {
            if status.code == WorkerExit.appLoadFailed || status.code == WorkerExit.bootFailed || w.state == .booting {
                return actions + halt(code: WorkerExit.appLoadFailed, reason: "worker \(pid) failed to boot: \(status)")
            }
        }
        if phase == .starting && status.code == WorkerExit.appLoadFailed {
            return actions
        }
        let departure = departure(of: w, status: status, request: request, now: now)
        var cause: FailureCause?
        switch departure {
        case .expected(let clean):
            // killed by us (timeout, memory) is no crash of the app's boot either
            if clean { slots[w.slot, default: Slot()].bootCrashes = 0 }
        case .cleanUnannounced:
            actions.append(.log(level: .info, message: "worker \(pid) (slot \(w.slot)) exited with code 0 without announcing it"))
        case .requestCrash(let request):
            // A poisonous request kills one worker and is not retried (the
            // client sees its connection closed); the slot is refilled at
            // once, so a flood of them costs a fork each, never a backoff.
            requestCrashes += 1
            slots[w.slot, default: Slot()].bootCrashes = 0
            let line = "worker \(pid) (slot \(w.slot)) \(status) while serving \(request)"
            actions += requestCrashSummary(now: now)
            if requestCrashLog.admit(line, now: now) {
                actions.append(.log(level: .error, message: "\(line): request crash (\(requestCrashes) since start), not retried; respawning at once"))
            }
        case .bootCrash:
            actions.append(.log(level: .error, message: "worker \(pid) (slot \(w.slot)) \(status)"))
            cause = .bootCrash
        case .crash:
            actions.append(.log(level: .error, message: "worker \(pid) (slot \(w.slot)) \(status)"))
        }
        if w.generation != generation || w.slot >= settings.workers { return actions }
        if live(slot: w.slot) != nil || isRespawning(w.slot) { return actions }
        return actions + scheduleRespawn(slot: w.slot, now: now, cause: cause, log: nil)
    }

    /// Fills `slot` again: at once, or after the backoff when `cause` is a
    /// failure of the slot (boot crash, failed spawn) repeated in a row.
    mutating func scheduleRespawn(slot: Int, now: UInt64, cause: FailureCause?, log: String?) -> [Action] {
        var actions: [Action] = []
        if let log { actions.append(.log(level: .error, message: log)) }
        guard let cause else {
            slots[slot, default: Slot()].bootCrashes = 0
            slots[slot]!.respawn = .due(at: now)
            return actions + [.spawn(slot: slot, generation: generation)]
        }
        let count: Int
        let text: String
        switch cause {
        case .bootCrash:
            count = (slots[slot]?.bootCrashes ?? 0) + 1
            slots[slot, default: Slot()].bootCrashes = count
            text = "worker slot \(slot) crashed \(count) time\(count == 1 ? "" : "s") in a row right after boot: next spawn in"
        case .spawnFailed:
            count = (slots[slot]?.spawnFailures ?? 0) + 1
            slots[slot, default: Slot()].spawnFailures = count
            text = "worker slot \(slot): spawn failed \(count) time\(count == 1 ? "" : "s") in a row: next try in"
        }
        let delay = backoff(count)
        slots[slot]!.respawn = .due(at: now + delay)
        actions.append(.log(level: .warning, message: "\(text) \(Self.seconds(delay))"))
        if delay == 0 { actions.append(.spawn(slot: slot, generation: generation)) }
        return actions
    }

    /// A worker spawned now replaces a crash the log is folding: its boot
    /// lines are folded too (the master's own `booted` line is, in `booted`).
    public func foldsBootLines(generation: UInt32, now: UInt64) -> Bool {
        generation == self.generation && requestCrashLog.isFolding(now: now)
    }

    /// The line for the request crashes folded in a second that is over.
    mutating func requestCrashSummary(now: UInt64) -> [Action] {
        guard let (count, last) = requestCrashLog.due(now: now) else { return [] }
        return [.log(level: .error, message: "\(count) more request crash\(count == 1 ? "" : "es") in the last second, each respawned at once; the last: \(last)")]
    }

    /// 0 for the first crash, then base * 2^(n-2), capped.
    public func backoff(_ count: Int) -> UInt64 {
        guard count > 1 else { return 0 }
        let shift = UInt64(min(count - 2, 30))
        return min(settings.backoffBase << shift, settings.backoffCap)
    }

    static func seconds(_ ns: UInt64) -> String {
        let ms = ns / 1_000_000
        return "\(ms / 1000).\(String(ms % 1000 + 1000).dropFirst())s"
    }
}
