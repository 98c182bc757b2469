import Testing
@testable import WorkerPool

// The master's supervision decisions, driven with a fake clock (plain
// nanoseconds) and fake pids: no fork, no signal, no sleep.

typealias Action = Supervisor.Action
/// Swift Testing has an ExitStatus of its own.
typealias ExitStatus = WorkerPool.ExitStatus

let sec: UInt64 = 1_000_000_000
let msec: UInt64 = 1_000_000

/// Stands in for the Arbiter: executes `.spawn` actions by assigning the
/// next fake pid (as the Arbiter calls `spawned` while executing them),
/// holds the clock, and plays the workers' part (booted, heartbeats).
struct Sim {
    var sup: Supervisor
    var now: UInt64 = 1_000 * sec
    var nextPid: Int32 = 1000
    /// The fake kernel: the next spawns of these slots fail as a refused
    /// socketpair or fork does (the Arbiter reports spawnFailed), one entry
    /// per failure, in order.
    var failSpawns: [Int] = []
    /// The next spawns of these slots vanish without a word, as one the
    /// Arbiter drops when its scoreboard is full (neither spawned nor failed).
    var dropSpawns: [Int] = []
    static let spawnError = "socketpair() failed: Too many open files (errno 24)"

    init(workers: Int = 2, timeout: Int = 30, bootTimeout: Int = 30, graceful: Int = 30,
         configure: (inout Supervisor.Settings) -> Void = { _ in }) {
        var s = Supervisor.Settings(workers: workers, timeout: timeout, bootTimeout: bootTimeout, gracefulTimeout: graceful)
        configure(&s)
        sup = Supervisor(settings: s)
    }

    @discardableResult
    mutating func run(_ actions: [Action]) -> [Action] {
        var all = actions
        for a in actions {
            guard case let .spawn(slot, generation) = a else { continue }
            if let i = dropSpawns.firstIndex(of: slot) {
                dropSpawns.remove(at: i)
            } else if let i = failSpawns.firstIndex(of: slot) {
                failSpawns.remove(at: i)
                all += run(sup.spawnFailed(slot: slot, generation: generation, reason: Self.spawnError, now: now))
            } else {
                sup.spawned(slot: slot, generation: generation, pid: nextPid, now: now)
                nextPid += 1
            }
        }
        return all
    }

    @discardableResult
    mutating func start() -> [Action] { run(sup.start(now: now)) }

    /// Boots every booting worker; returns the actions.
    @discardableResult
    mutating func bootAll() -> [Action] {
        var actions: [Action] = []
        for w in sup.sortedWorkers where w.state == .booting {
            actions += run(sup.booted(pid: w.pid, appName: "testapp", now: now))
        }
        return actions
    }

    /// start + every worker booted: the running phase.
    mutating func running() {
        start()
        bootAll()
        precondition(sup.phase == .running)
    }

    func pid(_ slot: Int) -> Int32 {
        guard let w = sup.live(slot: slot) else {
            Issue.record("no live worker in slot \(slot)")
            return -1
        }
        return w.pid
    }

    /// Advances the clock and ticks. Every ready worker not in `silent`
    /// sends its heartbeat first, as live workers do every second.
    @discardableResult
    mutating func advance(_ ns: UInt64, busy: [Int32: Supervisor.Busy] = [:], silent: Set<Int32> = []) -> [Action] {
        now += ns
        var actions: [Action] = []
        for w in sup.sortedWorkers where !silent.contains(w.pid) && busy[w.pid] == nil && w.state == .ready {
            actions += run(sup.heartbeat(pid: w.pid, requests: w.requests, ussKB: 1024, pssKB: 512, now: now))
        }
        return actions + run(sup.tick(now: now, busy: busy))
    }

    @discardableResult
    mutating func exit(_ pid: Int32, _ status: ExitStatus, request: String? = nil) -> [Action] {
        run(sup.exited(pid: pid, status: status, now: now, request: request))
    }
}

extension Array where Element == Supervisor.Action {
    var spawns: [Int] {
        compactMap { a -> Int? in
            if case let .spawn(slot, _) = a { return slot }
            return nil
        }
    }

    func signalled(_ sig: Int32) -> [Int32] {
        compactMap { a -> Int32? in
            if case let .signal(pid, s) = a, s == sig { return pid }
            return nil
        }
    }

    var signals: [Int32] {
        compactMap { a -> Int32? in
            if case let .signal(_, s) = a { return s }
            return nil
        }
    }

    var messages: [String] {
        compactMap { a -> String? in
            if case let .log(_, m) = a { return m }
            return nil
        }
    }

    var errors: [String] {
        compactMap { a -> String? in
            if case let .log(.error, m) = a { return m }
            return nil
        }
    }

    var text: String { messages.joined(separator: "\n") }

    var halt: (code: Int32, reason: String)? {
        for a in self { if case let .halt(code, reason) = a { return (code, reason) } }
        return nil
    }

    var exits: [Int32] {
        compactMap { a -> Int32? in
            if case let .exit(code) = a { return code }
            return nil
        }
    }
}

let abrtCore = ExitStatus(code: nil, signal: Signals.abrt, coreDumped: true)
let killed = ExitStatus(code: nil, signal: Signals.kill)
let clean = ExitStatus(code: 0)
