/// Reload (SIGHUP): a new generation boots beside the serving one and takes
/// over only once it booted; if it cannot boot, it is stopped and the
/// serving generation carries on as if nothing happened.
extension Supervisor {
    /// Starts a new generation with `newSettings` (the re-read config).
    public mutating func beginReload(settings newSettings: Settings, rolling: Bool, now: UInt64) -> [Action] {
        guard case .running = phase else {
            return [.log(level: .warning, message: "reload ignored: the server is not running (\(phase))")]
        }
        var actions: [Action] = []
        if reload != nil {
            actions += abandonReload(reason: "superseded by a newer reload", now: now)
        }
        let g = nextGeneration
        nextGeneration += 1
        var r = Reload(generation: g, settings: newSettings, rolling: rolling, startedAt: now, lastProgress: now)
        actions.append(.log(level: .info, message: "reload: booting generation \(g) (\(newSettings.workers) workers, \(rolling ? "rolling" : "all at once")) beside generation \(generation)"))
        if rolling {
            r.nextSlot = 1
            actions.append(.spawn(slot: 0, generation: g))
        } else {
            actions += (0..<newSettings.workers).map { .spawn(slot: $0, generation: g) }
        }
        reload = r
        return actions
    }

    mutating func reloadBooted(_ w: Worker, now: UInt64) -> [Action] {
        guard var r = reload else { return [] }
        r.lastProgress = now
        reload = r
        if !r.rolling {
            let ready = workers.values.filter { $0.generation == r.generation && $0.state == .ready }.count
            return ready >= r.settings.workers ? promote(now: now) : []
        }
        var actions: [Action] = []
        if let old = live(slot: w.slot) {
            actions += retire(old.pid, now: now)
        }
        r.switched.insert(w.slot)
        if r.nextSlot < r.settings.workers {
            actions.append(.spawn(slot: r.nextSlot, generation: r.generation))
            r.nextSlot += 1
            reload = r
            return actions
        }
        reload = r
        return actions + promote(now: now)
    }

    mutating func retire(_ pid: Int32, now: UInt64) -> [Action] {
        guard var w = workers[pid], !w.isLeaving else { return [] }
        w.state = leaving(.reload, now: now)
        workers[pid] = w
        return [.signal(pid: pid, signal: Signals.term)]
    }

    /// The new generation serves; every older worker finishes and leaves.
    mutating func promote(now: UInt64) -> [Action] {
        guard let r = reload else { return [] }
        reload = nil
        var actions: [Action] = []
        for w in workers.values.sorted(by: { $0.pid < $1.pid }) where w.generation != r.generation {
            actions += retire(w.pid, now: now)
        }
        let old = generation
        generation = r.generation
        settings = r.settings
        slots = slots.compactMapValues { $0.cleared }
        let ms = (now &- r.startedAt) / 1_000_000
        actions.append(.log(level: .info, message: "reload: generation \(r.generation) serving (\(r.settings.workers) workers, booted in \(ms) ms); generation \(old) retiring"))
        actions.append(.promoted(generation: r.generation))
        return actions
    }

    /// Stops the new generation; the serving one keeps serving.
    mutating func abandonReload(reason: String, now: UInt64) -> [Action] {
        guard let r = reload else { return [] }
        reload = nil
        var actions: [Action] = [
            .log(level: .error, message: "reload to generation \(r.generation) abandoned: \(reason); generation \(generation) keeps serving"),
        ]
        for w in workers.values.sorted(by: { $0.pid < $1.pid }) where w.generation == r.generation && !w.isLeaving {
            if w.state == .booting {
                workers[w.pid]!.state = .leaving(.reload, killAt: nil)
                actions.append(.signal(pid: w.pid, signal: Signals.kill))
            } else {
                actions += retire(w.pid, now: now)
            }
        }
        // Rolling: slots already handed to the new generation get the old one back.
        for slot in r.switched.sorted() where slot < settings.workers && live(slot: slot) == nil {
            slots[slot, default: Slot()].respawn = .due(at: now)
            actions.append(.spawn(slot: slot, generation: generation))
        }
        actions.append(.reloadAbandoned(generation: r.generation, reason: reason))
        return actions
    }
}
