/// The master's decisions as a pure state machine: events in (a worker
/// spawned, booted, exited, a clock tick, a signal), actions out (spawn,
/// signal, log, halt, exit). No processes, no clock of its own: the Arbiter
/// executes the actions and the tests drive it with a fake clock.
public struct Supervisor {
    public struct Settings: Equatable {
        public var workers: Int
        /// Seconds a request may run (0: no limit).
        public var timeout: Int
        public var bootTimeout: Int
        public var gracefulTimeout: Int
        /// KiB; 0: none. Enforced with SIGKILL.
        public var memoryHardKB: UInt64 = 0
        public var backoffBase: UInt64 = 100_000_000
        public var backoffCap: UInt64 = 10_000_000_000
        /// A worker that dies within this long of booting counts as a boot crash.
        public var crashWindow: UInt64 = 5_000_000_000
        /// Between the grace signal and SIGKILL of a worker that timed out.
        public var killGrace: UInt64 = 1_000_000_000
        /// Added to killGrace: the time a stack dump may take (StackDumps.grace).
        public var dumpGrace: UInt64 = StackDumps.grace

        public init(workers: Int, timeout: Int, bootTimeout: Int, gracefulTimeout: Int) {
            self.workers = workers
            self.timeout = timeout
            self.bootTimeout = bootTimeout
            self.gracefulTimeout = gracefulTimeout
        }
    }

    public enum WorkerState: Equatable {
        case booting
        case ready
        /// Asked to leave, or announced it: why, and when SIGKILL is due if
        /// it is still there (nil: SIGKILL sent). Its exit is expected: no
        /// backoff, no crash log.
        case leaving(Leave, killAt: UInt64?)
        /// Killed without being asked to leave (it did not boot in time):
        /// its exit is judged like any other.
        case killed
    }

    /// Why the master asked a worker to leave (or the worker said it would).
    public enum Leave: Equatable {
        /// It announced its own exit (max_requests, max_worker_memory, a signal).
        case recycle(HealthMessage.ExitReason)
        /// Its slot was removed (SIGTTOU, /scale, demand).
        case scaleDown
        /// A new generation took over, or a reload's worker was stopped.
        case reload
        /// Its request ran past `timeout`.
        case timeout
        /// Above max_worker_memory_hard.
        case memory
        /// No heartbeat for too long.
        case silence
    }

    public struct Worker: Equatable {
        public let pid: Int32
        public let slot: Int
        public let generation: UInt32
        public var state: WorkerState
        public let spawnedAt: UInt64
        /// Set by the booted message; nil until then (0 is a time on a test clock).
        public var bootedAt: UInt64?
        public var lastHeartbeat: UInt64
        public var requests: UInt64 = 0
        public var ussKB: UInt64 = 0
        public var pssKB: UInt64 = 0
        public var appName = ""
    }

    /// What the Arbiter learns from the scoreboard about a busy worker.
    public struct Busy: Equatable {
        public var since: UInt64
        public var request: String
        public init(since: UInt64, request: String) { self.since = since; self.request = request }
    }

    public enum Phase: Equatable { case starting, running, stopping(deadline: UInt64, fast: Bool), halted }

    public enum Action: Equatable {
        case spawn(slot: Int, generation: UInt32)
        case signal(pid: Int32, signal: Int32)
        /// Take a dup of the client connection of a timed-out worker and
        /// answer it 504 at once (nothing is left to do when it dies).
        case captureClient(pid: Int32)
        /// Signal the worker for a dump of its stack to the error log.
        case dumpStack(pid: Int32)
        /// threads > 1: answer 504 to the client of one app thread's request
        /// `serial` (as captureClient, on that thread's slot).
        case captureThreadClient(pid: Int32, thread: Int, serial: UInt64)
        /// threads > 1: dump the stack of that app thread (tgkill to its tid).
        case dumpThreadStack(pid: Int32, thread: Int)
        /// threads > 1: tell the worker its thread's request `serial` timed
        /// out (timeout_serial, then gw_timeout_signal).
        case interruptThread(pid: Int32, thread: Int, serial: UInt64)
        case log(level: LogLevel, message: String)
        case ready
        case closeListeners
        case halt(code: Int32, reason: String)
        case exit(code: Int32)
        /// A reload's generation took over: the old one is retiring.
        case promoted(generation: UInt32)
        /// A reload failed; the serving generation is untouched.
        case reloadAbandoned(generation: UInt32, reason: String)
    }

    /// A reload in progress: the new generation boots beside the serving one.
    public struct Reload: Equatable {
        public let generation: UInt32
        public let settings: Settings
        public let rolling: Bool
        public let startedAt: UInt64
        /// Start, or the last worker of it that booted: boot_timeout counts from here.
        public var lastProgress: UInt64
        /// Rolling: slots whose new worker booted and whose old one was retired.
        public var switched: Set<Int> = []
        public var nextSlot = 0
    }

    public enum LogLevel: Equatable { case info, warning, error }

    public internal(set) var settings: Settings
    public internal(set) var phase = Phase.starting
    public internal(set) var workers: [Int32: Worker] = [:]
    public internal(set) var generation: UInt32 = 1
    public internal(set) var reload: Reload?
    var nextGeneration: UInt32 = 2
    /// One record per slot of the serving generation: its respawn and the
    /// failures in a row that set its backoff. Cleared as one.
    public internal(set) var slots: [Int: Slot] = [:]
    /// Workers that died while serving a request, since start (the metric of
    /// poisonous requests: each kills one worker and is never retried).
    public internal(set) var requestCrashes: UInt64 = 0
    /// The request crashes of the current second, logged as one line.
    var requestCrashLog = FoldedLog()
    /// Timeouts of app threads (threads > 1; Supervisor+ThreadTimeouts).
    public internal(set) var threadTimeouts = ThreadTimeouts()

    public init(settings: Settings) {
        self.settings = settings
    }

    // MARK: queries

    public func live(slot: Int) -> Worker? {
        workers.values.first { $0.slot == slot && $0.generation == generation && !$0.isLeaving }
    }

    /// A spawn for `slot` is due or issued.
    func isRespawning(_ slot: Int) -> Bool { (slots[slot]?.respawn ?? .none) != .none }

    public var liveCount: Int { workers.values.filter { !$0.isLeaving }.count }

    public var sortedWorkers: [Worker] { workers.values.sorted { ($0.slot, $0.pid) < ($1.slot, $1.pid) } }

    // MARK: events

    public mutating func start(now: UInt64) -> [Action] {
        phase = .starting
        return (0..<settings.workers).map { .spawn(slot: $0, generation: generation) }
    }

    public mutating func spawned(slot: Int, generation: UInt32, pid: Int32, now: UInt64) {
        slots[slot]?.respawn = .none
        workers[pid] = Worker(pid: pid, slot: slot, generation: generation, state: .booting, spawnedAt: now, lastHeartbeat: now)
    }

    /// Whether a `.spawn` for `generation` is still wanted: an action list
    /// being executed may hold spawns of a reload abandoned half way through it.
    public func wantsSpawn(generation g: UInt32) -> Bool {
        switch phase {
        case .starting, .running: return g == generation || g == reload?.generation
        default: return false
        }
    }

    /// The spawn itself failed (socketpair, fork: no process exists). During
    /// a reload for the new generation, the reload is abandoned at once; for
    /// the serving generation the slot is retried with the backoff.
    public mutating func spawnFailed(slot: Int, generation g: UInt32, reason: String, now: UInt64) -> [Action] {
        let message = "cannot spawn worker \(slot) of generation \(g): \(reason)"
        if let r = reload, r.generation == g {
            return abandonReload(reason: message, now: now)
        }
        guard g == generation, phase == .running || phase == .starting else { return [] }
        return scheduleRespawn(slot: slot, now: now, cause: .spawnFailed, log: message)
    }

    public mutating func booted(pid: Int32, appName: String, now: UInt64) -> [Action] {
        guard var w = workers[pid] else { return [] }
        if w.state == .booting { w.state = .ready }
        w.bootedAt = now
        w.lastHeartbeat = now
        w.appName = appName
        workers[pid] = w
        slots[w.slot]?.spawnFailures = 0
        var actions: [Action] = []
        // during a flood of request crashes, the replacements' boots are part of its summary
        if !(requestCrashLog.isFolding(now: now) && w.generation == generation) {
            actions.append(.log(level: .info, message: "worker \(pid) (slot \(w.slot), generation \(w.generation)) booted \(appName)"))
        }
        if let r = reload, w.generation == r.generation {
            return actions + reloadBooted(w, now: now)
        }
        if phase == .starting && bootedCount == settings.workers {
            phase = .running
            actions.append(.log(level: .info, message: "\(settings.workers) workers ready"))
            actions.append(.ready)
        }
        return actions
    }

    var bootedCount: Int {
        workers.values.filter { $0.generation == generation && $0.state == .ready }.count
    }

    public mutating func bootFailed(pid: Int32, reason: String, now: UInt64) -> [Action] {
        guard let w = workers[pid] else { return [] }
        if let r = reload, w.generation == r.generation {
            return abandonReload(reason: "worker \(pid) failed to boot: \(reason)", now: now)
        }
        if phase == .starting {
            return halt(code: WorkerExit.appLoadFailed, reason: reason)
        }
        return [.log(level: .error, message: "worker \(pid) (slot \(w.slot)) failed to boot: \(reason)")]
    }

    public mutating func heartbeat(pid: Int32, requests: UInt64, ussKB: UInt64, pssKB: UInt64, now: UInt64) -> [Action] {
        guard var w = workers[pid] else { return [] }
        w.lastHeartbeat = now
        w.requests = requests
        w.ussKB = ussKB
        w.pssKB = pssKB
        workers[pid] = w
        if settings.memoryHardKB > 0 && ussKB > settings.memoryHardKB && !w.isKilled {
            w.state = .leaving(w.leave ?? .memory, killAt: nil)
            workers[pid] = w
            return [
                .log(level: .warning, message: "worker \(pid) uses \(ussKB / 1024) MB (USS), above max_worker_memory_hard (\(settings.memoryHardKB / 1024) MB): killed"),
                .signal(pid: pid, signal: Signals.kill),
            ] + replace(w, now: now)
        }
        return []
    }

    /// The worker announced that it is leaving on its own (max_requests,
    /// memory): its replacement starts now, before it is gone.
    public mutating func exiting(pid: Int32, reason: HealthMessage.ExitReason, now: UInt64) -> [Action] {
        guard var w = workers[pid], !w.isLeaving else { return [] }
        w.state = leaving(.recycle(reason), now: now)
        workers[pid] = w
        var actions: [Action] = [.log(level: .info, message: "worker \(pid) (slot \(w.slot)) is \(reason == .shutdown || reason == .masterGone ? "stopping" : "recycling"): \(reason)")]
        actions += replace(w, now: now)
        return actions
    }

    /// Spawns a replacement for `w`'s slot unless one exists or is pending.
    mutating func replace(_ w: Worker, now: UInt64) -> [Action] {
        guard case .running = phase, w.generation == generation, w.slot < settings.workers,
              live(slot: w.slot) == nil, !isRespawning(w.slot) else { return [] }
        if let r = reload, r.rolling, r.switched.contains(w.slot) { return [] }
        slots[w.slot, default: Slot()].respawn = .due(at: now)
        return [.spawn(slot: w.slot, generation: generation)]
    }

    /// Periodic checks: due spawns, boot timeouts, request timeouts, silence,
    /// graceful deadline. `busy`: workers with one app thread serving a
    /// request; `threads`: the busy app threads of workers with several
    /// (their heartbeats come from the event loop, busy or not).
    public mutating func tick(now: UInt64, busy: [Int32: Busy], threads: [Int32: [ThreadTimeouts.Busy]] = [:]) -> [Action] {
        var actions: [Action] = []
        if case let .stopping(deadline, fast) = phase {
            if now >= deadline {
                let window = fast ? "2s after the fast stop" : "after graceful_timeout (\(settings.gracefulTimeout)s)"
                for w in workers.values.sorted(by: { $0.pid < $1.pid }) where !w.isKilled {
                    actions.append(.log(level: .warning, message: "worker \(w.pid) still running \(window): killed"))
                    actions.append(.signal(pid: w.pid, signal: Signals.kill))
                    workers[w.pid]!.markKilled()
                }
            }
            return actions
        }
        if phase == .halted { return [] }
        actions += requestCrashSummary(now: now)
        for (slot, record) in slots.sorted(by: { $0.key < $1.key }) {
            guard case let .due(at) = record.respawn, at <= now else { continue }
            if live(slot: slot) == nil && (phase == .running || phase == .starting) {
                slots[slot]!.respawn = .issued
                actions.append(.spawn(slot: slot, generation: generation))
            }
        }
        if let r = reload, now &- r.lastProgress > UInt64(r.settings.bootTimeout) * 1_000_000_000,
           !workers.values.contains(where: { $0.generation == r.generation && $0.state == .booting }) {
            // No worker of it is booting (its spawns failed): the reload itself times out.
            return actions + abandonReload(reason: "generation \(r.generation) not ready within boot_timeout (\(r.settings.bootTimeout)s)", now: now)
        }
        let timeout = UInt64(settings.timeout) * 1_000_000_000
        let bootTimeout = UInt64(settings.bootTimeout) * 1_000_000_000
        for w in workers.values.sorted(by: { $0.pid < $1.pid }) {
            switch w.state {
            case let .leaving(.timeout, killAt?) where now >= killAt:
                actions.append(.signal(pid: w.pid, signal: Signals.kill))
                workers[w.pid]!.markKilled()
            case let .leaving(_, killAt?) where now >= killAt:
                actions.append(.log(level: .warning, message: "worker \(w.pid) (generation \(w.generation)) still running graceful_timeout (\(settings.gracefulTimeout)s) after it was told to stop: killed"))
                actions.append(.signal(pid: w.pid, signal: Signals.kill))
                workers[w.pid]!.markKilled()
            case .booting where now &- w.spawnedAt > bootTimeout:
                if let r = reload, w.generation == r.generation {
                    return actions + abandonReload(reason: "worker \(w.pid) did not boot within boot_timeout (\(settings.bootTimeout)s)", now: now)
                }
                if phase == .starting {
                    return actions + halt(code: WorkerExit.appLoadFailed, reason: "worker \(w.pid) did not boot within boot_timeout (\(settings.bootTimeout)s)")
                }
                actions.append(.log(level: .error, message: "worker \(w.pid) did not boot within boot_timeout (\(settings.bootTimeout)s): killed"))
                actions.append(.signal(pid: w.pid, signal: Signals.kill))
                workers[w.pid]!.state = .killed
            case .ready, .leaving(_, .some):
                // a timed-out worker waits for its SIGKILL; timeout 0
                // disables request timeouts, not the silence check
                if w.leave == .timeout { continue }
                if let b = busy[w.pid] {
                    // `since` may be a hair after `now` (the worker wrote it after the master read its clock).
                    guard timeout > 0, now > b.since, now - b.since > timeout else { continue }
                    let secs = (now &- b.since) / 1_000_000_000
                    actions.append(.log(level: .error, message: "worker \(w.pid) timed out after \(secs)s on \(b.request)"))
                    actions.append(.captureClient(pid: w.pid))
                    // Where it is stuck goes to the log: the dump signal goes
                    // first, so its handler runs before the app can resume
                    // (both are delivered before the interrupted call returns).
                    // Then a fast stop (INT) at once, not after the dump: it ends
                    // the app's blocking call, and unlike a graceful one it
                    // takes no connection waiting in the queue (those are the
                    // replacement's to serve); a worker left running until
                    // the dump is over would take them. KILL waits for both.
                    actions.append(.dumpStack(pid: w.pid))
                    actions.append(.signal(pid: w.pid, signal: Signals.int))
                    workers[w.pid]!.state = .leaving(.timeout, killAt: now + settings.dumpGrace + settings.killGrace)
                    actions += replace(workers[w.pid]!, now: now)
                } else if now &- w.lastHeartbeat > max(timeout, 10_000_000_000) {
                    actions.append(.log(level: .error, message: "worker \(w.pid) sent no heartbeat for \((now &- w.lastHeartbeat) / 1_000_000_000)s: killed"))
                    actions.append(.signal(pid: w.pid, signal: Signals.kill))
                    workers[w.pid]!.state = .leaving(w.leave ?? .silence, killAt: nil)
                    actions += replace(workers[w.pid]!, now: now)
                }
            default:
                break
            }
        }
        return actions + tickThreads(now: now, busy: threads)
    }

    // MARK: signals

    public mutating func stop(graceful: Bool, now: UInt64) -> [Action] {
        if case let .stopping(deadline, fast) = phase {
            // a second TERM/INT turns a graceful stop fast
            if fast { return [] }
            phase = .stopping(deadline: min(deadline, now + 2_000_000_000), fast: true)
            return [.log(level: .info, message: "fast shutdown")] + workers.keys.sorted().map { .signal(pid: $0, signal: Signals.int) }
        }
        let window = graceful ? UInt64(settings.gracefulTimeout) * 1_000_000_000 : 2_000_000_000
        phase = .stopping(deadline: now + window, fast: !graceful)
        for slot in slots.keys { slots[slot]!.respawn = .none }
        reload = nil
        var actions: [Action] = [
            .log(level: .info, message: graceful ? "graceful shutdown: finishing in-flight requests (graceful_timeout \(settings.gracefulTimeout)s)" : "fast shutdown"),
            .closeListeners,
        ]
        // Their exits are not judged from here on: the phase says they are expected.
        for pid in workers.keys.sorted() {
            actions.append(.signal(pid: pid, signal: graceful ? Signals.term : Signals.int))
        }
        if workers.isEmpty { actions.append(.exit(code: 0)) }
        return actions
    }

    /// SIGTTIN (+1) / SIGTTOU (-1).
    public mutating func scale(by delta: Int, now: UInt64) -> [Action] {
        guard case .running = phase else { return [] }
        if reload != nil { return [.log(level: .warning, message: "scaling ignored while a reload is in progress")] }
        let target = max(1, settings.workers + delta)
        if target == settings.workers {
            return [.log(level: .info, message: "SIGTTOU ignored: at least one worker is kept")]
        }
        return resize(to: target, now: now, message: "scaling workers from \(settings.workers) to \(target)")
    }

    /// Sets the worker count: new slots spawn at once; slots above `target`
    /// retire gracefully (graceful_timeout, then SIGKILL).
    mutating func resize(to target: Int, now: UInt64, message: String) -> [Action] {
        var actions: [Action] = [.log(level: .info, message: message)]
        if target > settings.workers {
            for slot in settings.workers..<target {
                slots[slot, default: Slot()].respawn = .due(at: now)
                actions.append(.spawn(slot: slot, generation: generation))
            }
        } else {
            for slot in target..<settings.workers {
                slots[slot] = slots[slot]?.cleared
                if let w = live(slot: slot) {
                    workers[w.pid]!.state = leaving(.scaleDown, now: now)
                    actions.append(.signal(pid: w.pid, signal: Signals.term))
                }
            }
        }
        settings.workers = target
        return actions
    }

    /// A worker told to stop gets graceful_timeout, like at a graceful stop.
    func leaving(_ why: Leave, now: UInt64) -> WorkerState {
        .leaving(why, killAt: now + UInt64(settings.gracefulTimeout) * 1_000_000_000)
    }

    mutating func halt(code: Int32, reason: String) -> [Action] {
        phase = .halted
        var actions: [Action] = [.closeListeners]
        for pid in workers.keys.sorted() { actions.append(.signal(pid: pid, signal: Signals.kill)) }
        actions.append(.halt(code: code, reason: reason))
        return actions
    }
}

extension Supervisor.Worker {
    public var isLeaving: Bool {
        switch state {
        case .leaving, .killed: return true
        case .booting, .ready: return false
        }
    }

    /// Why it was asked to leave; nil when it was not (its exit is not expected).
    public var leave: Supervisor.Leave? {
        if case let .leaving(why, _) = state { return why }
        return nil
    }

    /// SIGKILL was sent.
    public var isKilled: Bool {
        switch state {
        case .killed, .leaving(_, killAt: nil): return true
        default: return false
        }
    }

    /// SIGKILL sent: a worker asked to leave keeps its reason.
    mutating func markKilled() {
        if case let .leaving(why, _) = state { state = .leaving(why, killAt: nil) } else { state = .killed }
    }
}
