import CSupport
import ServerCore

/// Workers that follow demand (DemandScaler.swift): the master's
/// observations in, the Supervisor's resize out; and the scale verbs, which
/// set the floor demand works above.
extension Arbiter {
    static func demandScaler(_ c: Config, base: Int) -> DemandScaler? {
        guard c.maxWorkers > 0 else { return nil }
        return DemandScaler(settings: .init(base: base, max: c.maxWorkers, idleTimeoutSeconds: c.idleWorkerTimeout))
    }

    /// The floor: `workers`, or what TTIN/TTOU and POST /scale set.
    var baseWorkers: Int { demand?.settings.base ?? supervisor.settings.workers }

    /// The ceiling: max_workers (or the base, when scale set it higher).
    var maxWorkers: Int { demand?.settings.max ?? supervisor.settings.workers }

    /// Each loop pass: note which workers served since the last, then let
    /// the scaler decide.
    func followDemand() {
        let now = Self.now
        noteActivity(now: now)
        guard var scaler = demand, supervisor.canFollowDemand, !drain.isDraining else { return }
        let decision = scaler.decide(demandObservation(), now: now)
        demand = scaler
        switch decision {
        case .hold:
            return
        case .grow(let reason):
            metrics.demandScaling["up", default: 0] += 1
            execute(supervisor.grow(reason: reason, now: now))
        case .shrink(let reason):
            metrics.demandScaling["down", default: 0] += 1
            execute(supervisor.shrink(reason: reason, now: now))
        }
    }

    /// A worker is active when one of its app threads is busy or their
    /// request serials moved (it served requests between two looks).
    func noteActivity(now: UInt64) {
        for (pid, r) in records {
            let serial = r.scores.reduce(UInt64(0)) { $0 &+ scoreboard[$1].request_serial }
            if !busySlots(r).isEmpty || serial != r.lastSerial {
                records[pid]?.lastSerial = serial
                records[pid]?.activeAt = now
            }
        }
    }

    func demandObservation() -> DemandScaler.Observation {
        let serving = supervisor.workers.values.filter { $0.generation == supervisor.generation && !$0.isLeaving }
        let workers = serving.map { w -> DemandScaler.Worker in
            let r = records[w.pid]
            return .init(slot: w.slot, booting: w.state == .booting, threads: r?.threads ?? 1,
                         busyThreads: r.map { busySlots($0).count } ?? 0, idleSince: r?.activeAt ?? w.spawnedAt)
        }
        let queued = listenQueues().reduce(0) { $0 + Int($1.length) }
        let waiting = serving.reduce(0) { n, w in n + (records[w.pid].map { Int(scoreboard[$0.score].queued) } ?? 0) }
        return .init(target: supervisor.settings.workers, workers: workers, queued: queued, waiting: waiting)
    }

    /// TTIN/TTOU (base ± 1) and POST /scale (base = n). Without max_workers
    /// the count is the base; with it, DemandScaler.setBase decides.
    func scaleBase(to requested: Int, now: UInt64) {
        guard case .running = supervisor.phase else { return }
        guard supervisor.reload == nil else {
            execute(supervisor.scale(by: 0, now: now))  // logs that scaling waits for the reload
            return
        }
        guard var scaler = demand else {
            // TTOU at one worker: the Supervisor says it keeps one
            let delta = requested - supervisor.settings.workers
            if delta != 0 { execute(supervisor.scale(by: delta, now: now)) }
            return
        }
        let current = supervisor.settings.workers
        let target = scaler.setBase(requested, maxWorkers: config.maxWorkers, current: current)
        demand = scaler
        if target != current {
            execute(supervisor.scale(by: target - current, now: now))
        } else {
            logger.info("scale: base \(scaler.settings.base) workers (max_workers \(scaler.settings.max)); \(current) running")
        }
    }
}
