import CSupport
import ServerCore

/// The admin listener's side of the master: it answers from what the
/// master already has (the Supervisor, the scoreboard, its counters) and
/// turns control verbs into the same calls the signals make.
extension Arbiter {
    func serveAdmin() {
        guard let a = admin else { return }
        a.service(now: Self.now) { request, connection in handle(admin: request, fromUnix: connection.isUnix) }
    }

    func handle(admin r: AdminRequest, fromUnix: Bool) -> AdminReply {
        let read = ["/metrics", "/status", "/livez", "/readyz"]
        let control = ["/reload", "/scale", "/stop", "/reopen-logs", "/dump"]
        if read.contains(r.path) {
            guard r.method == "GET" || r.method == "HEAD" else { return .text(405, "\(r.path) answers GET") }
            return answer(read: r)
        }
        guard control.contains(r.path) else { return .text(404, "no such admin resource: \(r.path)") }
        guard r.method == "POST" else { return .text(405, "\(r.path) answers POST") }
        // The unix socket's file mode is the access control; TCP has none.
        guard fromUnix else { return .text(403, "control verbs are served on unix admin sockets only") }
        return answer(control: r)
    }

    func answer(read r: AdminRequest) -> AdminReply {
        switch r.path {
        case "/livez":
            return .text(200, "ok")
        case "/readyz":
            return isReady ? .text(200, "ready") : .text(503, "not ready: \(phaseName)")
        case "/metrics":
            let om = MetricsExposition.wantsOpenMetrics(accept: r.accept)
            return .respond(status: 200, contentType: om ? MetricsExposition.openMetricsType : MetricsExposition.textType,
                            body: MetricsExposition.render(snapshot(), openMetrics: om))
        default:
            return .json(200, statusJSON().text)
        }
    }

    func answer(control r: AdminRequest) -> AdminReply {
        switch r.path {
        case "/reload":
            guard case .running = supervisor.phase else { return .outcome(409, "refused", reason: "not running (\(phaseName))") }
            logger.info("admin: reload requested")
            if let failure = reload() { return .outcome(500, "abandoned", reason: failure) }
            return .awaitReload
        case "/scale":
            guard let text = r.query["workers"], let n = Int(text), n >= 1, n <= 1024 else {
                return .outcome(400, "refused", reason: "scale needs ?workers=N (1 to 1024)")
            }
            // one scoreboard slot per app thread
            guard n * config.threads <= scoreboardSize else {
                return .outcome(400, "refused", reason: "\(n) workers x threads \(config.threads) is above the scoreboard's \(scoreboardSize) slots")
            }
            guard case .running = supervisor.phase else { return .outcome(409, "refused", reason: "not running (\(phaseName))") }
            guard supervisor.reload == nil else { return .outcome(409, "refused", reason: "a reload is in progress") }
            logger.info("admin: scale to \(n) workers")
            scaleBase(to: n, now: Self.now)
            return .outcome(200, "done", [("workers", .int(Int64(supervisor.settings.workers))), ("base", .int(Int64(baseWorkers)))])
        case "/stop":
            let fast = r.query["fast"] != nil
            if fast {
                logger.info("admin: fast shutdown")
                stop(graceful: false)
            } else {
                stopGracefully("admin: stop")
            }
            return .outcome(200, "stopping", [("fast", .bool(fast))])
        case "/dump":
            return answerDump(r)
        default:
            if let failure = reopenLogs() { return .outcome(500, "failed", reason: failure) }
            return .outcome(200, "done")
        }
    }

    var isReady: Bool {
        guard case .running = supervisor.phase, !drain.isDraining else { return false }
        return !pool.handedOff
    }

    var phaseName: String {
        switch supervisor.phase {
        case .starting: return "starting"
        case .running: return drain.isDraining ? "draining" : "running"
        case .stopping: return "stopping"
        case .halted: return "halted"
        }
    }

    // MARK: counters

    /// Folds what the live workers counted since the last look.
    func foldScores() {
        for (pid, r) in records {
            let now = counters(r)
            metrics.totals.add(now, since: r.folded)
            records[pid]?.folded = now
        }
    }

    /// Counts a worker's exit by reason (before the Supervisor forgets it).
    func noteDeparture(_ pid: Int32, _ status: ExitStatus) {
        guard let w = supervisor.workers[pid] else { return }
        if case .stopping = supervisor.phase { return }
        if supervisor.phase == .halted { return }
        metrics.restarts[Self.restartReason(w.leave, announced: records[pid]?.announced ?? .none).rawValue, default: 0] += 1
    }

    /// The metric's reason, from why the worker was asked to leave (nil:
    /// it was not) and what it announced (the announcement counts even when
    /// it was already leaving for another reason, except a timeout).
    static func restartReason(_ leave: Supervisor.Leave?, announced: HealthMessage.ExitReason) -> RestartReason {
        if leave == .timeout || announced == .threadTimeout { return .timeout }
        switch announced {
        case .maxRequests: return .maxRequests
        case .memoryLimit: return .memory
        case .none, .shutdown, .masterGone, .threadTimeout: break
        }
        guard let leave else { return .crash }
        switch leave {
        case .timeout: return .timeout
        case .reload: return .reload
        case .scaleDown: return .scale
        // The metric has no reason of their own for a silent worker's kill or
        // an announced shutdown: counted as before, with the memory kills.
        case .memory, .silence, .recycle: return .memory
        }
    }

    func workerState(_ w: Supervisor.Worker) -> String {
        switch w.state {
        case .booting: return "booting"
        case .leaving, .killed: return "stopping"
        case .ready:
            // busy: at least one of its app threads serves a request
            guard let r = records[w.pid] else { return "idle" }
            return busySlots(r).isEmpty ? "idle" : "busy"
        }
    }

    func listenQueues() -> [MetricsSnapshot.Queue] {
        pool.all.map { l in
            var length: UInt32 = 0, max: UInt32 = 0
            _ = gw_listen_queue(l.fd, l.isUnix ? 1 : 0, &length, &max)
            return MetricsSnapshot.Queue(listener: "\(l.address)", length: length, max: max, proto: l.proto)
        }
    }

    func snapshot() -> MetricsSnapshot {
        foldScores()
        var m = metrics
        m.generation = supervisor.generation
        m.queues = listenQueues()
        m.queueHighWater = pressure.highWater
        m.maxChildrenReached = pressure.maxChildrenReached
        m.connections = connectionStates()
        for w in supervisor.sortedWorkers {
            m.workers[workerState(w), default: 0] += 1
            if let u = memory(of: w) { m.memory.append(.init(pid: w.pid, ussBytes: u.ussKB * 1024, pssBytes: u.pssKB * 1024)) }
        }
        let threads = threadCounts()
        m.inFlight = threads.busy
        m.threadsBusy = threads.busy
        m.threadsTotal = threads.total
        m.queuedRequests = queuedRequests()
        m.workersTarget = supervisor.settings.workers
        m.workersMax = maxWorkers
        m.draining = drain.isDraining
        return m
    }

    /// From the worker's heartbeat; before its first one (a new worker)
    /// read by the master now; nil when unknown (a live process always has
    /// private pages, so 0 means not measured).
    func memory(of w: Supervisor.Worker) -> MemoryUsage? {
        if w.ussKB > 0 { return MemoryUsage(ussKB: w.ussKB, pssKB: w.pssKB) }
        guard let read = MemoryUsage.read(pid: w.pid), read.ussKB > 0 else { return nil }
        return read
    }

    /// Once a pass: the queues' high-water marks, max children reached,
    /// and a rate-limited warning when a listen queue is full. All busy:
    /// every app thread of every serving worker.
    func watchPressure() {
        let serving = supervisor.workers.values.filter { $0.generation == supervisor.generation && !$0.isLeaving }
        let allBusy = !serving.isEmpty && serving.allSatisfy { w in
            records[w.pid].map { busySlots($0).count == $0.threads } ?? false
        }
        for line in pressure.observe(listenQueues(), allBusy: allBusy, atCeiling: supervisor.settings.workers >= maxWorkers, now: Self.now) {
            logger.warning("\(line)")
        }
    }

    /// The live workers' connections by state; a request in the app (one
    /// per busy app thread) is writing.
    func connectionStates() -> [String: UInt64] {
        var c: [String: UInt64] = ["reading": 0, "writing": 0, "waiting": 0]
        for r in records.values {
            let s = scoreboard[r.score]
            c["reading"]! += UInt64(s.conn_reading)
            c["writing"]! += UInt64(s.conn_writing) + UInt64(busySlots(r).count)
            c["waiting"]! += UInt64(s.conn_waiting)
        }
        return c
    }

    // MARK: /status

    func statusJSON() -> JSON {
        let now = Self.now
        foldScores()
        let queues = listenQueues()
        let states = connectionStates()
        var reload = JSON.null
        if let r = supervisor.reload {
            reload = .object([("generation", .int(Int64(r.generation))), ("rolling", .bool(r.rolling)),
                              ("seconds", .double(Self.seconds(now &- r.startedAt)))])
        }
        let workers = supervisor.sortedWorkers.map { w -> JSON in
            let record = records[w.pid]
            // the first busy thread's request (threads = 1: the worker's)
            let request = record.flatMap { busySlots($0).first }.map { requestJSON(scoreboard[$0.score], now: now) } ?? .null
            let served = record.map { counters($0).requests } ?? w.requests
            let memory = memory(of: w)
            let threads: [(String, JSON)] = threadFields(record, now: now)
            return .object([
                ("pid", .int(Int64(w.pid))), ("slot", .int(Int64(w.slot))), ("generation", .int(Int64(w.generation))),
                ("state", .string(workerState(w))), ("requests", .int(Int64(served))), ("request", request),
            ] + threads + [
                ("uss_bytes", memory.map { .int(Int64($0.ussKB * 1024)) } ?? .null),
                ("pss_bytes", memory.map { .int(Int64($0.pssKB * 1024)) } ?? .null),
                ("age_seconds", .double(Self.seconds(now &- w.spawnedAt))),
                ("last_exit", supervisor.slots[w.slot]?.lastExit.map { .string($0.description) } ?? .null),
            ])
        }
        let threadCount = threadCounts()
        let listeners: [JSON] = queues.map { q in
            .object([("address", .string(q.listener)), ("protocol", .string(q.proto.description)),
                     ("queue_length", .int(Int64(q.length))), ("queue_max", .int(Int64(q.max))),
                     ("queue_max_reached", .int(Int64(pressure.highWater[q.listener] ?? q.length)))])
        }
        return .object([
            ("pid", .int(Int64(pid))), ("version", .string(GatewaydVersion.string)),
            ("uptime_seconds", .double(Self.seconds(now &- startedAt))), ("start_time", .double(metrics.startTime)),
            ("phase", .string(phaseName)), ("ready", .bool(isReady)),
            ("generation", .int(Int64(supervisor.generation))), ("reload", reload),
            ("workers_wanted", .int(Int64(supervisor.settings.workers))),
            ("workers_base", .int(Int64(baseWorkers))), ("workers_max", .int(Int64(maxWorkers))),
            ("draining", .bool(drain.isDraining)),
            ("requests_total", .int(Int64(metrics.totals.requests))),
            ("threads", .int(Int64(config.threads))), ("threads_busy", .int(Int64(threadCount.busy))),
            ("threads_total", .int(Int64(threadCount.total))), ("queued", .int(Int64(queuedRequests()))),
            ("max_children_reached", .int(Int64(pressure.maxChildrenReached))),
            ("connections", .object(["reading", "writing", "waiting"].map { ($0, .int(Int64(states[$0] ?? 0))) })),
            ("listeners", .array(listeners)),
            ("workers", .array(workers)),
        ])
    }

    /// A busy slot's request: method, path, seconds running.
    func requestJSON(_ s: gw_score_slot, now: UInt64) -> JSON {
        let text = requestText(s)
        let space = text.firstIndex(of: " ") ?? text.endIndex
        return .object([("method", .string(String(text[..<space]))),
                        ("path", .string(String(text[space...].dropFirst()))),
                        ("seconds", .double(Self.seconds(now &- s.busy_since_ns)))])
    }

    /// A worker's threads, busy_threads, queued and app_threads.
    func threadFields(_ record: WorkerRecord?, now: UInt64) -> [(String, JSON)] {
        guard let r = record else { return [("threads", .int(1)), ("busy_threads", .int(0)), ("queued", .int(0)), ("app_threads", .array([]))] }
        let busy = Int64(busySlots(r).count)
        return [("threads", .int(Int64(r.threads))), ("busy_threads", .int(busy)),
                ("queued", .int(Int64(scoreboard[r.score].queued))), ("app_threads", .array(threadsJSON(r, now: now)))]
    }

    /// Each app thread of a worker: index, state, its request and since when.
    func threadsJSON(_ r: WorkerRecord, now: UInt64) -> [JSON] {
        r.scores.enumerated().map { index, i in
            let s = scoreboard[i]
            let busy = s.state == Int32(GW_SCORE_BUSY)
            return .object([
                ("index", .int(Int64(index))),
                ("state", .string(busy ? "busy" : s.state == Int32(GW_SCORE_BOOTING) ? "booting" : "idle")),
                ("request", busy ? requestJSON(s, now: now) : .null),
                ("since", busy ? .double(Self.seconds(now &- s.busy_since_ns)) : .null),
            ])
        }
    }

    static func seconds(_ ns: UInt64) -> Double { (Double(ns) / 1e6).rounded() / 1e3 }
}
