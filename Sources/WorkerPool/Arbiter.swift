#if canImport(Glibc)
import Glibc
#endif
import CSupport
import Logging
import ServerCore

/// The master process: binds the listeners, forks the workers and keeps
/// them healthy. Single-threaded; it never loads the app. One loop: wait,
/// read signals (one switch), read health messages, reap, tick the
/// Supervisor, execute its actions.
public final class Arbiter {
    /// The configuration the master started with: generation 1's.
    let startConfig: Config
    /// The serving generation's configuration, read from its record (no
    /// copy to keep in step with reloads).
    var config: Config { generations[supervisor.generation]?.config ?? startConfig }
    let configPath: String
    let overrides: (inout Config) -> Void
    var logger: Logger
    let errorLog: LogFile
    let accessLog: LogFile
    var supervisor: Supervisor
    let pool = ListenerPool()
    /// The config and listeners of each generation with workers (or booting ones).
    var generations: [UInt32: GenerationRecord] = [:]
    /// Binary upgrade: the new master we started (SIGUSR2), and the path to exec.
    var upgradeChild: pid_t?
    let executable: String
    /// Set when this master was started by another one's SIGUSR2.
    let upgradeFrom: pid_t?
    /// The hand-over to systemd of a binary upgrade (Arbiter+HandOver).
    var handOver = HandOver()
    var signals: SignalQueue!
    /// One record per worker process, by pid.
    var records: [Int32: WorkerRecord] = [:]
    var scoreboard: UnsafeMutablePointer<gw_score_slot>!
    /// One slot per app thread of every worker (threads of each): the
    /// config check keeps max(workers, max_workers) x threads within it.
    let scoreboardSize = Config.scoreboardSlots
    var freeScores = ScoreAllocator(capacity: Config.scoreboardSlots)
    /// The admin listener (admin_bind), nil when off.
    var admin: AdminServer?
    /// The master's metrics: totals folded from the scoreboard, and its own counts.
    var metrics = MetricsSnapshot()
    /// Stack dumps under way (Arbiter+Stacks).
    var dumps = StackDumps()
    /// max listen queue, max children reached, the queue-full warning.
    var pressure = PoolPressure()
    let startedAt = Sys.monotonicNanos()
    /// The serving generation's workers' user, read from its record.
    var privileges: Privileges? { generations[supervisor.generation]?.privileges }
    /// reload = true: the app's files, watched (development).
    var codeWatcher: CodeWatcher?
    var pidfile: Pidfile?
    var exitCode: Int32?
    var lastStatus = ""
    var lastWatchdog: UInt64 = 0
    var lastExtend: UInt64 = 0
    var watchdogInterval: UInt64 = 0
    /// max_workers > 0: the decisions of workers that follow demand.
    var demand: DemandScaler?
    /// drain_delay: between SIGTERM and the graceful stop.
    var drain: Drain
    let pid = Sys.getpid()

    public init(config: Config, configPath: String, overrides: @escaping (inout Config) -> Void,
                errorLog: LogFile, accessLog: LogFile) {
        startConfig = config
        self.configPath = configPath
        self.overrides = overrides
        self.errorLog = errorLog
        self.accessLog = accessLog
        logger = Logger(label: "gatewayd.master") { _ in
            ErrorLogHandler(label: "master", file: errorLog, level: ErrorLogHandler.level(config.logLevel))
        }
        supervisor = Supervisor(settings: Self.settings(config))
        demand = Self.demandScaler(config, base: config.workers)
        drain = Drain(seconds: config.drainDelay)
        executable = BinaryUpgrade.executablePath()
        upgradeFrom = BinaryUpgrade.upgradedFrom()
    }

    static func settings(_ c: Config) -> Supervisor.Settings {
        var s = Supervisor.Settings(workers: c.workers, timeout: c.timeout, bootTimeout: c.bootTimeout,
                                    gracefulTimeout: c.gracefulTimeout)
        s.memoryHardKB = UInt64(c.maxWorkerMemoryHard) * 1024
        return s
    }

    static var now: UInt64 { Sys.monotonicNanos() }

    // MARK: run

    /// Runs until the daemon stops; returns the process exit code.
    public func run() -> Int32 {
        do {
            try setUp()
        } catch {
            logger.error("cannot start: \(error)")
            tearDown()
            return 1
        }
        execute(supervisor.start(now: Self.now))
        while exitCode == nil {
            // a dump under way is looked at every 10 ms, not 100
            waitForEvents(timeoutMs: dumps.isEmpty ? 100 : 10)
            awaitHandOver()
            for s in signals.drain().compactMap(MasterSignal.init(number:)) { handle(signal: s) }
            readChannels()
            serveAdmin()
            settleDumps()
            reloadChangedCode()
            reapWorkers()
            followDemand()
            watchPressure()
            finishDrain()
            let busy = busyWorkers()
            execute(supervisor.tick(now: Self.now, busy: busy, threads: busyThreads()))
            LogRateLimiter.shared.flush()
            reportStatus()
        }
        tearDown()
        return exitCode ?? 1
    }

    func setUp() throws {
        signals = try SignalQueue(catching: MasterSignal.allCases.map { $0.number })
        let privileges = try Privileges.resolve(user: config.user, group: config.group, allowRoot: config.allowRoot)
        if let p = privileges {
            logger.info("workers run the app as user \(p.user) (uid \(p.uid), gid \(p.gid))")
            chownLogs(to: p)
        }
        for line in WorkerSandbox.startLines(config) {
            if line.warning { logger.warning("\(line.text)") } else { logger.info("\(line.text)") }
        }
        if let problem = AccessCheck.problem(config, privileges, workingDirectory: ConfigLoader.absolute(".")) {
            throw Privileges.Error(description: problem)
        }
        if !config.pidfile.isEmpty {
            let p = Pidfile(path: config.pidfile)
            // The new master of an upgrade takes the file only once it is
            // ready: until then (and if it fails) it names the old master.
            if upgradeFrom == nil { try p.create(pid: pid) } else { try p.check(pid: pid, replacing: upgradeFrom) }
            pidfile = p
        }
        let listeners = try pool.openInitial(config: config, logger: logger)
        generations[1] = GenerationRecord(config: config, listeners: listeners, privileges: privileges)
        scoreboard = try Sys.createScoreboard(slots: scoreboardSize)
        if !config.adminBind.isEmpty { admin = try AdminServer(config: config, logger: logger, upgrading: upgradeFrom != nil) }
        metrics.startTime = Double(Sys.wallClockSeconds())
        metrics.version = GatewaydVersion.string
        if let usec = SystemdNotifier.watchdogMicros() { watchdogInterval = usec * 500 }
        if config.reload { watchCode() }
        // every socket of this generation is bound: what is left to do needs
        // only the capabilities MasterCapabilities keeps
        MasterCapabilities.dropUnneeded(logger: logger)
        MasterCapabilities.shieldFromWorkers(logger: logger)
        logger.info("gatewayd \(GatewaydVersion.string) master \(pid): \(config.workers) workers, app \(config.app)")
    }

    /// A reload's error_log, access_log and log_level: the master's from
    /// now on, and the new generation's workers' (they inherit the files).
    func applyLogSettings(_ new: Config) {
        do {
            try errorLog.retarget(new.errorLog)
            try accessLog.retarget(new.accessLog)
            chownLogs(to: privileges)
        } catch {
            logger.error("reload: cannot open the new log files: \(error); keeping \(errorLog.path) and \(accessLog.path)")
        }
        logger.logLevel = ErrorLogHandler.level(new.logLevel)
        errorLog.format = new.logFormat
        accessLog.format = new.logFormat
    }

    /// reload = true: a reload whenever the app's files change.
    func watchCode() {
        do {
            let watcher = try CodeWatcher(config: config, workingDirectory: ConfigLoader.absolute("."))
            codeWatcher = watcher
            logger.warning("reload = true (--reload) watches \(watcher.watchedFolders) folders and reloads on every change: for development, not production")
        } catch {
            logger.error("reload = true: cannot watch the app's files: \(error)")
        }
    }

    func reloadChangedCode() {
        guard let watcher = codeWatcher else { return }
        watcher.readEvents(now: Self.now)
        guard let path = watcher.due(now: Self.now) else { return }
        logger.info("\(path) changed: reloading")
        reload()
    }

    func tearDown() {
        LogRateLimiter.shared.flush(now: .max)
        pool.closeAll()
        admin?.closeAll(handedOff: pool.handedOff)
        pidfile?.remove(ifOwnedBy: pid)
    }

    func waitForEvents(timeoutMs: Int32) {
        var fds = [pollfd(fd: signals.readFD, events: Int16(POLLIN), revents: 0)]
        for ch in records.values.compactMap(\.channel) { fds.append(pollfd(fd: ch.fd, events: Int16(POLLIN), revents: 0)) }
        if let w = codeWatcher { fds.append(pollfd(fd: w.fd, events: Int16(POLLIN), revents: 0)) }
        if let a = admin { fds += a.pollDescriptors() }
        _ = Sys.poll(&fds, timeoutMs: timeoutMs)
    }

    // MARK: signals

    func handle(signal: MasterSignal) {
        let now = Self.now
        switch signal {
        case .chld:
            break // reaped after every pass
        case .term:
            stopGracefully("SIGTERM")
        case .quit:
            // the graceful stop without drain_delay
            logger.info("SIGQUIT: graceful shutdown")
            stop(graceful: true)
        case .int:
            logger.info("SIGINT: fast shutdown")
            stop(graceful: false)
        case .ttin:
            scaleBase(to: baseWorkers + 1, now: now)
        case .ttou:
            scaleBase(to: baseWorkers - 1, now: now)
        case .usr1:
            reopenLogs()
        case .hup:
            reload()
        case .usr2:
            upgrade()
        case .winch:
            break
        case .handOver:
            handOverReceived()
        }
    }

    func stop(graceful: Bool) {
        if pool.handedOff { handOverToNewMaster() } else { SystemdNotifier.notify("STOPPING=1") }
        admin?.answerReloadWaiters(.outcome(503, "abandoned", reason: "the server is stopping"))
        if pool.handedOff { admin?.releaseListeners() }  // the new master binds them
        execute(supervisor.stop(graceful: graceful, now: Self.now))
    }

    @discardableResult
    func reopenLogs() -> String? {
        var failure: String?
        do {
            try errorLog.reopen()
            try accessLog.reopen()
            chownLogs(to: privileges)
            logger.info("SIGUSR1: log files reopened")
        } catch {
            logger.error("SIGUSR1: reopening logs failed: \(error)")
            failure = "\(error)"
        }
        for pid in supervisor.workers.keys { Sys.kill(pid, Signals.usr1) }
        return failure
    }

    /// Workers reopen the logs as their own user: give them the files.
    func chownLogs(to p: Privileges?) {
        guard let p else { return }
        for f in [errorLog, accessLog] where f.fd > 2 {
            do {
                try Sys.fchown(f.fd, uid: p.uid, gid: p.gid)
            } catch {
                logger.warning("workers may not reopen the logs: \(error)")
            }
        }
    }

    /// SIGHUP: re-read the config, open new listeners, boot a new generation
    /// beside the serving one (the Supervisor promotes or abandons it).
    /// nil when the new generation is booting; the reason when it could not start.
    @discardableResult
    func reload() -> String? {
        let serving = supervisor.generation
        logger.info("reloading \(configPath.isEmpty ? "the command line's configuration" : configPath)")
        SystemdNotifier.notify("RELOADING=1\nMONOTONIC_USEC=\(SystemdNotifier.monotonicMicros())")
        var new: Config
        let listeners: [Listener]
        let privileges: Privileges?
        do {
            new = configPath.isEmpty ? try ConfigLoader.defaults(overrides: overrides)
                : try ConfigLoader.load(path: configPath, overrides: overrides)
            new.app = ConfigLoader.absolute(new.app)
            privileges = try Privileges.resolve(user: new.user, group: new.group, allowRoot: new.allowRoot)
            listeners = try pool.resolve(config: new, logger: logger)
        } catch {
            logger.error("reload failed: \(error); generation \(serving) keeps serving")
            SystemdNotifier.notify("READY=1\nSTATUS=reload failed: \(error)")
            metrics.reloads["abandoned", default: 0] += 1
            return "reload failed: \(error); generation \(serving) keeps serving"
        }
        applyLogSettings(new)
        let g = supervisor.nextGeneration
        generations[g] = GenerationRecord(config: new, listeners: listeners, privileges: privileges)
        execute(supervisor.beginReload(settings: Self.settings(new), rolling: new.reloadStrategy == .rolling, now: Self.now))
        return nil
    }

    /// After a reload settled: forget other generations' configs, close
    /// listeners no generation with workers uses.
    func settleGenerations(keep: UInt32) {
        let live = Set(supervisor.workers.values.map { $0.generation })
        for g in generations.keys where g != keep && !(g == supervisor.generation) && !(supervisor.reload?.generation == g) {
            if g < keep || !live.contains(g) { generations[g] = nil }
        }
        let serving = generations[supervisor.generation]
        var keepListeners = serving?.listeners ?? []
        if let r = supervisor.reload, let next = generations[r.generation] { keepListeners += next.listeners }
        pool.retain(keepListeners, logger: logger)
    }

    /// SIGUSR2: exec a new master on the same listening sockets.
    func upgrade() {
        guard upgradeChild == nil else {
            logger.warning("SIGUSR2: an upgrade is already in progress (new master \(upgradeChild!))")
            return
        }
        guard case .running = supervisor.phase else {
            logger.warning("SIGUSR2 ignored: not running")
            return
        }
        let listeners = generations[supervisor.generation]?.listeners ?? []
        do {
            let child = try BinaryUpgrade.spawn(executable: executable, listeners: listeners, names: pool.inheritedNames, from: pid)
            upgradeChild = child
            pool.handedOff = true
            logger.info("SIGUSR2: started new master \(child) from \(executable); this master stops when it is ready")
        } catch {
            logger.error("SIGUSR2: binary upgrade failed: \(error); this master keeps serving")
        }
    }

    /// After a failed upgrade: the pidfile names this master again (a new
    /// master of an older gatewayd may have taken it early).
    func restorePidfile() {
        guard let p = pidfile, !p.names(pid) else { return }
        do {
            try p.write(pid: pid)
            logger.info("pidfile \(p.path) names this master \(pid) again")
        } catch {
            logger.error("cannot restore the pidfile: \(error)")
        }
    }

    // MARK: health channels

    func readChannels() {
        let now = Self.now
        for (pid, record) in records {
            guard let ch = record.channel else { continue }
            while true {
                switch ch.receive() {
                case .none:
                    break
                case .eof:
                    Sys.close(ch.fd)
                    records[pid]?.channel = nil
                case .message(let m):
                    execute(handle(message: m, from: pid, now: now))
                    continue
                }
                break
            }
        }
    }

    func handle(message m: HealthMessage, from pid: Int32, now: UInt64) -> [Supervisor.Action] {
        switch m.kind {
        case .booted:
            return supervisor.booted(pid: pid, appName: m.text, now: now)
        case .bootFailed:
            return supervisor.bootFailed(pid: pid, reason: m.text, now: now)
        case .heartbeat:
            return supervisor.heartbeat(pid: pid, requests: m.requests, ussKB: m.ussKB, pssKB: m.pssKB, now: now)
        case .exiting:
            records[pid]?.announced = m.exitReason
            return supervisor.exiting(pid: pid, reason: m.exitReason, now: now)
        }
    }

    // MARK: children

    func reapWorkers() {
        while let (pid, status) = Sys.reapChild() {
            if pid == upgradeChild {
                upgradeChild = nil
                pool.handedOff = false
                logger.error("binary upgrade failed: the new master \(pid) \(ExitStatus(waitStatus: status)); this master keeps serving")
                restorePidfile()
                continue
            }
            // Messages it sent just before exiting (booted, exiting) come first.
            if let ch = records[pid]?.channel {
                while case .message(let m) = ch.receive() { execute(handle(message: m, from: pid, now: Self.now)) }
            }
            let request = busyRequest(pid)
            let exit = ExitStatus(waitStatus: status)
            noteDeparture(pid, exit)
            execute(supervisor.exited(pid: pid, status: exit, now: Self.now, request: request))
            forget(pid)
        }
    }

    /// The worker is gone: fold its last counts, free its slots and channel.
    func forget(_ pid: Int32) {
        guard let record = records.removeValue(forKey: pid) else { return }
        metrics.totals.add(counters(record), since: record.folded)
        if let ch = record.channel { Sys.close(ch.fd) }
        for i in record.scores { scoreboard[i] = gw_score_slot() }
        freeScores.release(record.scores)
    }

    /// The request(s) a worker was serving, from its scoreboard slots.
    func busyRequest(_ pid: Int32) -> String? {
        guard let r = records[pid] else { return nil }
        let requests = busySlots(r).map { requestText(scoreboard[$0.score]) }
        return requests.isEmpty ? nil : requests.joined(separator: ", ")
    }

    func requestText(_ s: gw_score_slot) -> String {
        let method = withUnsafeBytes(of: s.method) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        let path = withUnsafeBytes(of: s.path) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        return "\(method) \(path)"
    }

    /// Busy workers with one app thread, from the scoreboard: since when,
    /// and on what request (those with several: busyThreads).
    func busyWorkers() -> [Int32: Supervisor.Busy] {
        var busy: [Int32: Supervisor.Busy] = [:]
        for (pid, r) in records where r.threads == 1 && scoreboard[r.score].state == Int32(GW_SCORE_BUSY) {
            let s = scoreboard[r.score]
            busy[pid] = Supervisor.Busy(since: s.busy_since_ns, request: requestText(s))
        }
        return busy
    }

    func spawn(slot: Int, generation: UInt32) {
        // a reload abandoned while its own spawn actions were being executed
        guard supervisor.wantsSpawn(generation: generation) else { return }
        // each generation its own count (a reload may change `threads`)
        let threads = generations[generation]?.config.threads ?? config.threads
        guard let scores = freeScores.take(threads) else {
            logger.error("cannot spawn worker \(slot): scoreboard full (\(freeScores.available) of \(scoreboardSize) slots free, \(threads) needed)")
            return
        }
        let pair: (Int32, Int32)
        do {
            pair = try Sys.seqpacketPair()
        } catch {
            freeScores.release(scores)
            execute(supervisor.spawnFailed(slot: slot, generation: generation, reason: "\(error)", now: Self.now))
            return
        }
        prepareSlots(scores)
        let child: pid_t
        do {
            child = try Sys.fork()
        } catch {
            Sys.close(pair.0); Sys.close(pair.1)
            freeScores.release(scores)
            execute(supervisor.spawnFailed(slot: slot, generation: generation, reason: "\(error)", now: Self.now))
            return
        }
        if child == 0 {
            Sys.close(pair.0)
            for ch in records.values.compactMap(\.channel) { Sys.close(ch.fd) }
            admin?.closeInChild()
            signals.closeInChild()
            let g = generations[generation]
                ?? GenerationRecord(config: config, listeners: generations[supervisor.generation]?.listeners ?? [], privileges: privileges)
            WorkerProcess(slot: slot, generation: generation, config: g.config, listeners: g.listeners,
                          channel: HealthChannel(fd: pair.1), threadSlots: scores.map { scoreboard + $0 },
                          privileges: g.privileges, errorLog: errorLog, accessLog: accessLog, master: pid,
                          quietBoot: supervisor.foldsBootLines(generation: generation, now: Self.now)).run()
        }
        Sys.close(pair.1)
        try? Sys.setNonBlocking(pair.0)
        records[child] = WorkerRecord(pid: child, channel: HealthChannel(fd: pair.0), scores: scores, spawnedAt: Self.now, activeAt: Self.now)
        supervisor.spawned(slot: slot, generation: generation, pid: child, now: Self.now)
        logger.debug("spawned worker \(child) (slot \(slot), generation \(generation))")
    }

    // MARK: actions

    func execute(_ actions: [Supervisor.Action]) {
        for action in actions {
            switch action {
            case let .spawn(slot, generation):
                spawn(slot: slot, generation: generation)
            case let .signal(pid, sig):
                Sys.kill(pid, sig)
            case let .captureClient(pid):
                metrics.timeouts += 1
                if let r = records[pid] { captureClient(pid, slot: scoreboard + r.score, serial: nil) }
            case let .dumpStack(pid):
                // threads = 1: the app thread is thread 0, whichever OS thread serves it now.
                requestDump(pid, purpose: .timeout, thread: 0)
            case let .captureThreadClient(pid, thread, serial):
                metrics.timeouts += 1
                if let slot = threadSlot(pid, thread) { captureClient(pid, slot: slot, serial: serial) }
            case let .dumpThreadStack(pid, thread):
                requestDump(pid, purpose: .timeout, thread: thread)
            case let .interruptThread(pid, thread, serial):
                interruptThread(pid, thread: thread, serial: serial)
            case let .log(level, message):
                switch level {
                case .info: logger.info("\(message)")
                case .warning: logger.warning("\(message)")
                case .error: logger.error("\(message)")
                }
            case .ready:
                if let old = upgradeFrom {
                    takeOver(from: old)
                } else {
                    SystemdNotifier.notify("READY=1\nSTATUS=\(statusLine())\nMAINPID=\(pid)")
                }
            case .closeListeners:
                pool.closeAll()
            case let .promoted(generation):
                metrics.reloads["promoted", default: 0] += 1
                admin?.answerReloadWaiters(.outcome(200, "promoted", [("generation", .int(Int64(generation)))]))
                settleGenerations(keep: generation)
                // The new generation started at its config's workers: that is
                // the base from now on (max_workers re-read too); demand grows it again.
                demand = Self.demandScaler(config, base: supervisor.settings.workers)
                SystemdNotifier.notify("READY=1\nSTATUS=\(statusLine())")
            case let .reloadAbandoned(generation, reason):
                metrics.reloads["abandoned", default: 0] += 1
                let line = "reload to generation \(generation) abandoned: \(reason); generation \(supervisor.generation) keeps serving"
                admin?.answerReloadWaiters(.outcome(500, "abandoned", reason: line))
                generations[generation] = nil
                settleGenerations(keep: supervisor.generation)
                // The log settings were the new generation's from the start
                // of the reload: back to the serving one's, as everything else.
                applyLogSettings(config)
                SystemdNotifier.notify("READY=1\nSTATUS=reload failed: \(reason)")
            case let .halt(code, reason):
                logger.critical("gatewayd halted: \(reason)")
                SystemdNotifier.notify("STATUS=halted: \(reason)")
                reapBriefly()
                exitCode = code
            case let .exit(code):
                logger.info("master \(pid) exiting")
                exitCode = code
            }
        }
    }

    /// After SIGKILLing every worker on halt: collect them so none lingers.
    func reapBriefly() {
        let deadline = Self.now + 2_000_000_000
        while !supervisor.workers.isEmpty && Self.now < deadline {
            if let (pid, _) = Sys.reapChild() {
                _ = supervisor.exited(pid: pid, status: ExitStatus(code: 0), now: Self.now)
            } else {
                Sys.sleep(micros: 10_000)
            }
        }
    }

    /// A request timed out: take its response from the worker (the
    /// scoreboard claim; the worker then sends nothing more) and answer the
    /// client 504 at once, through a dup of its socket (pidfd_getfd). When the
    /// worker started its response first, its client sees the connection
    /// closed when the worker dies. `slot`: the worker's (threads = 1) or
    /// the timed-out app thread's; `serial`: the request timed out (nil:
    /// the one in the slot now).
    func captureClient(_ pid: Int32, slot: UnsafeMutablePointer<gw_score_slot>, serial: UInt64?) {
        let serial = serial ?? slot.pointee.request_serial
        let connection = slot.pointee.conn_fd
        guard slot.pointee.state == Int32(GW_SCORE_BUSY), connection >= 0 else { return }
        let fd: Int32
        do {
            fd = try Sys.takeDescriptor(connection, of: pid)
        } catch {
            logger.warning("worker \(pid): \(error): its client will see a closed connection")
            return
        }
        defer { Sys.close(fd) }
        guard gw_score_claim_master(slot, serial) != 0 else { return }
        var date = [CChar](repeating: 0, count: 30)
        gw_http_date(&date)
        let isHead = withUnsafeBytes(of: slot.pointee.method) { $0.starts(with: "HEAD\0".utf8) }
        // The 504 in the protocol's own form (its conformance: a status line
        // or Status:, FastCGI records).
        let conformance = ProtocolConformance(rawValue: UInt8(truncatingIfNeeded: slot.pointee.proto)) ?? .http
        let response = conformance.timeoutResponse(isHead: isHead, date: date.prefix(29).map { UInt8(bitPattern: $0) },
                                                   requestId: UInt16(truncatingIfNeeded: slot.pointee.request_id))
        // Best effort and never blocking: nothing of this response was sent,
        // so the socket's buffer has room for these few bytes.
        _ = response.withUnsafeBytes { try? Sys.send(fd, $0.baseAddress!, $0.count) }
        Sys.shutdownWrite(fd)
    }

    // MARK: systemd status

    func statusLine() -> String {
        let busy = records.values.filter { !busySlots($0).isEmpty }.count
        let requests = supervisor.workers.values.reduce(UInt64(0)) { $0 + $1.requests }
        return "\(supervisor.liveCount) workers, \(busy) busy, \(requests) requests, \(supervisor.requestCrashes) request crashes, generation \(supervisor.generation)"
    }

    func reportStatus() {
        let now = Self.now
        // A slow app boot: ask systemd for more start-up time, a few seconds at a time.
        if supervisor.phase == .starting && SystemdNotifier.isNotifying && now &- lastExtend >= 2_000_000_000 {
            lastExtend = now
            SystemdNotifier.notify("EXTEND_TIMEOUT_USEC=5000000\nSTATUS=booting \(config.workers) workers")
        }
        if watchdogInterval > 0 && now &- lastWatchdog >= watchdogInterval {
            lastWatchdog = now
            SystemdNotifier.notify("WATCHDOG=1")
        }
        guard SystemdNotifier.isNotifying, supervisor.phase == .running else { return }
        let status = statusLine()
        if status != lastStatus {
            lastStatus = status
            SystemdNotifier.notify("STATUS=\(status)")
        }
    }
}
