#if canImport(Glibc)
import Glibc
#endif
import AppLoader
import CSupport
import Logging
import ServerCore

/// The worker side of a fork: set up signals, drop privileges, load the
/// app, report to the master, serve until told to stop. Never returns.
public struct WorkerProcess {
    public let slot: Int
    public let generation: UInt32
    public let config: Config
    public let listeners: [Listener]
    public let channel: HealthChannel
    /// One scoreboard slot per app thread (config.threads); the first also
    /// holds the worker-wide fields (pid, heartbeat, draining, dumps, queue).
    public let threadSlots: [UnsafeMutablePointer<gw_score_slot>]
    /// The worker-wide slot.
    public var scoreboard: UnsafeMutablePointer<gw_score_slot>? { threadSlots.first }
    public let privileges: Privileges?
    public let errorLog: LogFile
    public let accessLog: LogFile
    /// The master's pid: when it dies, this worker closes its listeners at
    /// once and exits within `timeout` (it is no longer supervised).
    public let master: pid_t
    /// Spawned in a crash flood the master is folding: the app's info and
    /// debug lines during boot are left out, as the master leaves out its
    /// own `booted` line then (its crash summary stands for them).
    public var quietBoot = false

    public func run() -> Never {
        let pid = Sys.getpid()
        let identity = WorkerIdentity(id: slot, generation: generation, pid: pid)
        var logger = Logger(label: "gatewayd.worker") { _ in
            ErrorLogHandler(label: "worker", file: errorLog, level: ErrorLogHandler.level(config.logLevel))
        }
        logger[metadataKey: "gen"] = "\(generation)"
        gw_reset_signals()
        let signals: SignalQueue
        do {
            signals = try SignalQueue(catching: [Signals.term, Signals.quit, Signals.int, Signals.usr1, gw_timeout_signal()],
                                      ignoring: [Signals.pipe, Signals.hup, Signals.ttin, Signals.ttou, Signals.usr2, Signals.winch])
            try privileges?.drop()
            if privileges == nil && Sys.effectiveUID() != 0 { try MasterCapabilities.workerOfUnprivilegedMaster() }
            // after the drop: a change of credentials clears PR_SET_PDEATHSIG
            try Sys.watchMaster(master, alarmSeconds: UInt32(max(config.timeout > 0 ? config.timeout : config.gracefulTimeout, 1)))
            // Never block on the master (a stopped master must not stop us):
            // a message that finds the channel full is dropped.
            try Sys.setNonBlocking(channel.fd)
        } catch {
            fail(logger, "worker setup failed: \(error)", code: WorkerExit.bootFailed)
        }
        scoreboard?.pointee.pid = pid
        scoreboard?.pointee.state = Int32(GW_SCORE_BOOTING)
        let processLog = { (level: Int32, message: String) in logger.log(level: RequestLoop.level(level), "\(message)") }
        GatewayAPI.processLog = !quietBoot ? processLog : { level, message in
            if RequestLoop.level(level) > .info { processLog(level, message) }
        }
        do {
            for (name, value) in config.env { try Sys.setenv(name, value) }
            captureOutput()
        } catch {
            fail(logger, "worker setup failed: \(error)", code: WorkerExit.bootFailed)
        }
        // Confined from here on (sandbox, docs/sandbox.md): after the drop,
        // before the app's code runs.
        let sandbox = WorkerSandbox(config: config, workingDirectory: ConfigLoader.workingDirectory())
        do {
            if let note = try sandbox.enter() { logger.warning("\(note)") }
        } catch {
            fail(logger, "worker setup failed: \(error)", code: WorkerExit.bootFailed)
        }
        let app: AppHandle
        do {
            let descriptor = try AppLoader.load(path: config.app)
            app = try AppLoader.initialize(descriptor, path: config.app, args: config.appArgs, identity: identity,
                                           threads: config.threads)
        } catch {
            fail(logger, "\(error)", code: WorkerExit.appLoadFailed)
        }
        // After the app's init: its optional gateway_dump_stack is found now,
        // and its own handlers (Python's) are in place before ours.
        if gw_stack_install(config.app, errorLog.fd, errorLog.mode, scoreboard) != 0 {
            logger.warning("stack dumps are off in this worker: memfd_create() or sigaction() failed: \(String(cString: strerror(errno)))")
        }
        gw_stack_set_field("gen", "\(generation)")
        threadSlots.map { Optional($0) }.withUnsafeBufferPointer { gw_stack_set_threads($0.baseAddress, Int32($0.count)) }
        do {
            try sandbox.seal()
        } catch {
            fail(logger, "worker setup failed: \(error)", code: WorkerExit.bootFailed)
        }
        let loop: RequestLoop
        do {
            let access = accessLog.isEnabled
                ? AccessLogWriter(format: AccessLogFormat(config.accessLogFormat), file: accessLog, identity: identity) : nil
            loop = try RequestLoop(settings: .init(config), limits: HTTPLimits(config), listeners: listeners, app: app,
                                   identity: identity, bodyTimeout: config.bodyTimeout,
                                   trustedProxies: config.forwardedAllowIPs,
                                   secureSchemeHeaders: config.secureSchemeHeaders, accessLog: access, logger: logger,
                                   scoreboard: threadSlots.first)
        } catch {
            fail(logger, "worker setup failed: \(error)", code: WorkerExit.bootFailed)
        }
        if let interrupt = AppLoader.optionalSymbol(path: config.app, "gateway_interrupt") {
            AppInterrupt.function = unsafeBitCast(interrupt, to: AppInterrupt.Function.self)
        }
        loop.threadSlots = threadSlots
        loop.maxRequests = maxRequests(pid: pid)
        loop.maxQueueWait = config.maxQueueWait
        GatewayAPI.processLog = processLog
        var booted = HealthMessage(kind: .booted)
        booted.pid = pid
        booted.abiVersion = app.descriptor.pointee.abi_version
        booted.text = app.name
        channel.send(booted)
        scoreboard?.pointee.heartbeat_ns = Sys.monotonicNanos()
        scoreboard?.pointee.state = Int32(GW_SCORE_IDLE)
        var announced = false
        let announce = { (reason: HealthMessage.ExitReason) in
            guard !announced else { return }
            announced = true
            var m = HealthMessage(kind: .exiting)
            m.pid = pid
            m.exitReason = reason
            channel.send(m)
        }
        // threads > 1: after a timeout the loop interrupts the thread or
        // retires; a retirement is announced so the master replaces it now.
        var threadTimedOut = false
        let announceRetirement = {
            if threadTimedOut && loop.stopReason != nil { announce(.threadTimeout) }
        }
        do {
            try loop.watch(channel.fd) {
                if case .eof = channel.receive() {
                    logger.info("master is gone: finishing and exiting")
                    Sys.epollDelete(loop.epoll, channel.fd)
                    loop.requestStop(.masterGone)
                }
            }
            try loop.watch(signals.readFD) {
                for s in signals.drain() {
                    switch s {
                    case Signals.term, Signals.quit: loop.requestStop(.shutdown)
                    case Signals.int: loop.requestStop(.fast)
                    case Signals.usr1: reopen(logger)
                    case gw_timeout_signal():
                        threadTimedOut = true
                        loop.handleThreadTimeouts()
                        announceRetirement()
                    default: break
                    }
                }
            }
        } catch {
            fail(logger, "worker setup failed: \(error)", code: WorkerExit.bootFailed)
        }
        let memoryLimitKB = UInt64(config.maxWorkerMemory) * 1024
        loop.onTick = { loop in
            let usage = MemoryUsage.read() ?? MemoryUsage()
            var m = HealthMessage(kind: .heartbeat)
            m.pid = pid
            m.requests = UInt64(loop.requestsServed)
            m.bytesIn = UInt64(loop.bytesIn)
            m.bytesOut = UInt64(loop.bytesOut)
            m.ussKB = usage.ussKB
            m.pssKB = usage.pssKB
            channel.send(m)
            announceRetirement()
            if let slot = scoreboard { gw_score_heartbeat(slot, Sys.monotonicNanos()) }
            LogRateLimiter.shared.flush()
            if memoryLimitKB > 0 && usage.ussKB > memoryLimitKB && loop.stopReason == nil {
                logger.warning("worker uses \(usage.ussKB / 1024) MB (USS), above max_worker_memory (\(config.maxWorkerMemory) MB): recycling")
                announce(.memoryLimit)
                loop.requestStop(.memoryLimit)
            }
        }
        loop.onRequestDone = { loop in
            // Memory is checked once a second (onTick): reading smaps_rollup
            // costs tens of microseconds, too much for every request.
            if loop.maxRequests > 0 && loop.requestsServed >= loop.maxRequests && !announced {
                logger.info("served \(loop.requestsServed) requests (max_requests): recycling")
                announce(.maxRequests)
            }
        }
        let reason: RequestLoop.StopReason
        do {
            reason = try loop.run()
        } catch {
            logger.error("worker loop failed: \(error)")
            reason = .fast
        }
        if reason == .shutdown || reason == .masterGone { announce(reason == .shutdown ? .shutdown : .masterGone) }
        // The app's shutdown only with no call of it in progress on another
        // thread (a fast stop, or graceful_timeout passed with one stuck).
        if loop.quiescent {
            AppLoader.shutdown(app)
        } else {
            logger.warning("exiting with app calls in progress: the app's shutdown is not called")
        }
        // A timeout's stack dump runs on the stuck app thread; the fast stop
        // the master sent right after it is handled here, on another: the
        // dump is written before the process ends (the master kills at its grace).
        gw_stack_wait_requested(500)
        LogRateLimiter.shared.flush(now: .max)
        Sys.exit(WorkerExit.ok)
    }

    /// max_requests with this worker's own jitter draw.
    func maxRequests(pid: Int32) -> Int {
        guard config.maxRequests > 0 else { return 0 }
        guard config.maxRequestsJitter > 0 else { return config.maxRequests }
        var rng = SystemRandomNumberGenerator()
        return config.maxRequests + Int.random(in: 0...config.maxRequestsJitter, using: &rng)
    }

    /// capture_output: the app's stdout and stderr (print, a logging
    /// handler's default stream) go where the error log goes, as raw lines.
    func captureOutput() {
        guard config.captureOutput, errorLog.fd >= 0 else { return }
        // An access log on stdout/stderr keeps the real one: it is the
        // server's output, not the app's.
        if accessLog.fd == 1 || accessLog.fd == 2, let saved = try? Sys.dup(accessLog.fd) {
            accessLog.useDescriptor(saved)
        }
        for fd: Int32 in [1, 2] where fd != errorLog.fd { try? Sys.dup2(errorLog.fd, fd) }
    }

    func reopen(_ logger: Logger) {
        do {
            try errorLog.reopen()
            try accessLog.reopen()
            gw_stack_set_log(errorLog.fd, errorLog.mode)
            captureOutput()
        } catch {
            logger.error("reopening logs failed: \(error)")
        }
    }

    func fail(_ logger: Logger, _ message: String, code: Int32) -> Never {
        logger.error("\(message)")
        var m = HealthMessage(kind: .bootFailed)
        m.pid = Sys.getpid()
        m.text = message
        channel.send(m)
        Sys.exit(code)
    }
}
