#if canImport(Glibc)
import Glibc
#endif
import CGateway
import CSupport
import Logging

/// A worker's event loop: epoll over the listeners (EPOLLEXCLUSIVE, so one
/// worker wakes per connection), its open connections (edge-triggered) and
/// its control descriptors; and its app threads. A request goes to the app
/// once it is complete (head, and body held or spooled); meanwhile the loop
/// keeps every other connection moving. How the threads share the work:
/// RequestLoop+Threads.swift.
public final class RequestLoop {
    public struct Settings {
        public var keepaliveTimeout: Int
        public var headerTimeout: Int
        public var gracefulTimeout: Int
        public var workerConnections: Int
        public var lingeringTime: Int
        public var lingeringTimeout: Int
        public var scriptName: String
        public var bodyTimeout: Int
        /// body_buffer_size, response_buffer_size (RequestLoop+Held.swift).
        public var bodyBufferSize: Int
        public var responseBufferSize: Int
        /// limit_request_head: the most an HTTP head may take of a connection's buffer.
        public var headLimit = 32768
        public var initialBuffer = 8192
        /// What FastCGI's GET_VALUES answers: workers (max_workers when
        /// demand scaling is on) times worker_connections.
        public var fastcgiCapacity: FastCGIRecord.Capacity
        /// App threads (the `threads` key).
        public var threads = 1
        /// body_temp_path (empty: $TMPDIR, else /tmp) and body_spool_max_size.
        public var bodyTempPath = ""
        public var bodySpoolMaxSize = 1 << 30

        public init(_ c: Config) {
            keepaliveTimeout = c.keepaliveTimeout
            headerTimeout = c.headerTimeout
            gracefulTimeout = c.gracefulTimeout
            workerConnections = c.workerConnections
            lingeringTime = c.lingeringTime
            lingeringTimeout = c.lingeringTimeout
            scriptName = c.scriptName
            bodyTimeout = c.bodyTimeout
            bodyBufferSize = c.bodyBufferSize
            responseBufferSize = c.responseBufferSize
            fastcgiCapacity = .init(workers: max(c.workers, c.maxWorkers), connectionsPerWorker: c.workerConnections)
            headLimit = c.limitRequestHead
            threads = c.threads
            bodyTempPath = c.bodyTempPath
            bodySpoolMaxSize = c.bodySpoolMaxSize
        }
    }

    public enum StopReason: Equatable {
        case shutdown, masterGone, maxRequests, memoryLimit, fast
        /// A request of one of its app threads timed out and the thread
        /// did not come back (threads > 1): retired gracefully.
        case timedOut
    }

    static let listenerTag: UInt64 = 1 << 40
    static let controlTag: UInt64 = 2 << 40
    static let wakeTag: UInt64 = 4 << 40

    let settings: Settings
    let limits: HTTPLimits
    let listeners: [Listener]
    let app: AppHandle
    /// The context and access-log writer of the thread holding `lock`: the
    /// loop's code (parsing, refusals, held responses) uses them.
    /// (Unowned: `threads` keeps them; switching them costs no reference counting.)
    unowned(unsafe) var context: RequestContext
    unowned(unsafe) var accessLog: AccessLogWriter?
    /// The thread holding `lock`.
    unowned(unsafe) var current: LoopThread
    let logger: Logger
    /// What the worker's threads share is touched with this held.
    let lock = LoopLock()
    /// threads + 1: at most `appThreads` of them run the app at once, so one
    /// is always free for the loop (RequestLoop+Threads.swift).
    var threads: [LoopThread] = []
    let appThreads: Int
    /// Complete requests waiting for an app thread, oldest first.
    var ready = ReadyQueue()
    /// Free app slots (indices into `threadSlots`).
    var freeAppSlots: SlotStack
    var appBusy = 0
    /// Wakes one thread waiting in epoll (edge-triggered eventfd): a request
    /// is ready and an app slot is free.
    let wakeFD: Int32
    /// The stop is complete: each thread leaves at its next wake-up.
    var exiting = false
    var lastTick: UInt64 = 0
    /// Listener events seen with every app slot busy since one freed.
    var saturatedEvents = 0
    /// The app reads bodies as they arrive (GATEWAY_APP_STREAM_BODY).
    let appStreamsBody: Bool
    /// More than `watchers` threads: the spare ones park (park()).
    let parksSpareThreads: Bool
    /// Threads in epoll_wait (or woken from it and not yet back at the lock).
    var watching = 0
    /// Threads asleep in `parking`, or on their way to it.
    var parkedThreads = 0
    let parking = ParkingSpot()
    /// One scoreboard slot per app thread; the first is the worker's own
    /// (heartbeat, draining, connection counts). Set by WorkerProcess.
    public var threadSlots: [UnsafeMutablePointer<gw_score_slot>] = [] {
        didSet {
            for i in 0..<appThreads {
                slotScores[i] = i < threadSlots.count ? threadSlots[i] : (i == 0 ? workerSlot : nil)
            }
        }
    }
    /// `threadSlots` by app slot, as a plain table (read once per request).
    let slotScores: UnsafeMutablePointer<UnsafeMutablePointer<gw_score_slot>?>

    /// The worker's slot (the first).
    let workerSlot: UnsafeMutablePointer<gw_score_slot>?
    public let epoll: Int32
    var connections: [Connection?] = []
    /// Closed connections kept for reuse (their buffers), so a new connection costs no malloc.
    var spare: [Connection] = []
    var connectionCount = 0
    var accepting = Accepting.off
    public private(set) var stopReason: StopReason?
    var stopDeadline: UInt64 = 0
    public private(set) var requestsServed = 0
    /// Called about once a second (heartbeats, memory checks).
    public var onTick: ((RequestLoop) -> Void)?
    /// Called after each request when max_requests is set (the worker
    /// announces its recycling); not called otherwise, to spare the hot path.
    public var onRequestDone: ((RequestLoop) -> Void)?
    /// Descriptors other than listeners the loop watches, with their handlers.
    var controls: [(fd: Int32, handler: () -> Void)] = []
    /// Stop after this many requests (0: never); the last response says Connection: close.
    public var maxRequests = 0
    /// max_queue_wait in seconds (0: off): see RequestContext+Shed.swift.
    public var maxQueueWait = 0.0
    public var bytesIn = 0
    public var bytesOut = 0

    public init(settings: Settings, limits: HTTPLimits, listeners: [Listener], app: AppHandle,
                identity: WorkerIdentity, bodyTimeout: Int, trustedProxies: [String],
                secureSchemeHeaders: [(name: String, value: String)] = Config.defaultSecureSchemeHeaders,
                accessLog: AccessLogWriter?, logger: Logger,
                scoreboard: UnsafeMutablePointer<gw_score_slot>?) throws {
        self.settings = settings
        self.limits = limits
        self.listeners = listeners
        self.app = app
        self.logger = logger
        appThreads = max(1, settings.threads)
        freeAppSlots = SlotStack(capacity: appThreads)
        slotScores = .allocate(capacity: max(appThreads, 1))
        slotScores.initialize(repeating: nil, count: max(appThreads, 1))
        appStreamsBody = app.descriptor.pointee.flags & GATEWAY_APP_STREAM_BODY != 0
        parksSpareThreads = appThreads + 1 > Self.watchers
        workerSlot = scoreboard
        slotScores[0] = scoreboard
        epoll = try Sys.epollCreate()
        wakeFD = try Sys.eventFD()
        try Sys.epollAdd(epoll, wakeFD, events: UInt32(EPOLLIN.rawValue) | UInt32(EPOLLET.rawValue), data: Self.wakeTag)
        for i in 0...appThreads {
            let ctx = RequestContext(identity: identity, limits: limits, bodyTimeout: bodyTimeout,
                                     trustedProxies: trustedProxies, secureSchemeHeaders: secureSchemeHeaders,
                                     scriptName: settings.scriptName, fastcgiCapacity: settings.fastcgiCapacity, appData: app.appData)
            ctx.output.deferLimit = settings.responseBufferSize
            ctx.multithread = appThreads > 1
            Self.attachLogs(ctx, logger)
            threads.append(LoopThread(index: i, context: ctx, accessLog: i == 0 ? accessLog : accessLog?.copy()))
        }
        current = threads[0]
        context = threads[0].context
        self.accessLog = threads[0].accessLog
        context.scoreboard = scoreboard
    }

    /// The error-log label of a request (its line) and of a refusal (who sent it).
    static func attachLogs(_ context: RequestContext, _ log: Logger) {
        context.errorLog = { [unowned context] level, message in
            var text = message
            if context.connection != nil && context.head.methodLength > 0 {
                let b = context.connection.buffer
                let m = String(decoding: UnsafeBufferPointer(start: b + context.head.method, count: context.head.methodLength), as: UTF8.self)
                let t = String(decoding: UnsafeBufferPointer(start: b + context.head.target, count: min(context.head.targetLength, 200)), as: UTF8.self)
                text += " (\(m) \(t))"
            } else if let line = context.rejectedLine {
                // A refused request: who sent it, and its line as received.
                let client = context.connection.peerAddress?.host ?? "unix"
                text += " (client \(client): \(String(decoding: line.prefix(200), as: UTF8.self)))"
            }
            log.log(level: RequestLoop.level(level), "\(text)")
        }
        // A response the server made (a 408, a 413 after the head parsed):
        // who sent the request, and its line as received (docs/http.md).
        context.response.logRefusal = { [unowned context] level, message in
            guard context.connection != nil, context.head.methodLength > 0 else { return context.errorLog(level, message) }
            let client = context.connection.peerAddress?.host ?? "unix"
            let line = context.connection.firstLine(from: context.head.method, limit: 200)
            log.log(level: RequestLoop.level(level), "\(message) (client \(client): \(String(decoding: line, as: UTF8.self)))")
        }
    }

    public static func level(_ l: Int32) -> Logger.Level {
        switch l {
        case GATEWAY_LOG_DEBUG: return .debug
        case GATEWAY_LOG_INFO: return .info
        case GATEWAY_LOG_WARNING: return .warning
        default: return .error
        }
    }

    /// Watches `fd` for readability (or EOF) and calls `handler`.
    public func watch(_ fd: Int32, handler: @escaping () -> Void) throws {
        try Sys.epollAdd(epoll, fd, events: UInt32(EPOLLIN.rawValue), data: Self.controlTag | UInt64(controls.count))
        controls.append((fd, handler))
    }

    /// Whether the listeners are in the epoll set, and if not, why.
    enum Accepting: Equatable {
        case off
        case on
        /// worker_connections reached: back on when a connection closes.
        case full
        /// accept() found no descriptor (EMFILE, ENFILE): back on when a
        /// connection closes or at `retryAt`, as nginx does. A level-triggered
        /// listener left armed would wake this worker in a busy loop.
        case exhausted(retryAt: UInt64)
        /// Every app slot is busy: new connections wait in the listen queue
        /// for another worker (EPOLLEXCLUSIVE wakes one that listens) or
        /// for a slot here (Puma's rule); taken back when a slot frees, and
        /// one per listener after each request meanwhile (`acceptOnCompletion`,
        /// the request dated from its arrival in the queue), so kept-alive
        /// clients cannot starve new ones.
        case saturated
        /// Stopping: this worker's listening descriptors are closed, for good.
        case closed
    }

    /// How long accepting pauses after EMFILE/ENFILE when no connection closes.
    static let exhaustedRetry: UInt64 = 100_000_000

    func startListening() throws {
        guard accepting != .on, accepting != .closed else { return }
        if accepting == .off { Sys.registerListeners(epoll: epoll, fds: listeners.map(\.fd)) }
        guard !Sys.listenersClosed else { return }
        if Sys.masterGone {
            closeListeners()  // it died while we booted: serve nobody new
            return
        }
        for (i, l) in listeners.enumerated() {
            let events = UInt32(EPOLLIN.rawValue) | UInt32(EPOLLEXCLUSIVE.rawValue)
            try Sys.epollAdd(epoll, l.fd, events: events, data: Self.listenerTag | UInt64(i))
        }
        accepting = .on
    }

    /// Takes the listeners out of the epoll set; `reason` says when they come back.
    func stopListening(_ reason: Accepting) {
        if accepting == .on && !Sys.listenersClosed {
            for l in listeners { Sys.epollDelete(epoll, l.fd) }
        }
        if accepting != .closed { accepting = reason }
    }

    /// After a connection closed or the retry time passed.
    func resumeAccepting() {
        guard stopReason == nil, connectionCount < settings.workerConnections else { return }
        switch accepting {
        case .full, .exhausted: try? startListening()
        default: break
        }
    }

    /// Closes this worker's listening descriptors: once every process has,
    /// the kernel refuses new connections (with socket activation, systemd
    /// keeps the socket and queues them for the next master).
    func closeListeners() {
        stopListening(.closed)
        Sys.closeListeners()
    }

    /// Accepts what is already in the listen queues (up to worker_connections)
    /// so that it is served rather than reset when the last holder closes.
    func drainAcceptQueues() {
        guard !Sys.listenersClosed else { return }
        for i in listeners.indices {
            while connectionCount < settings.workerConnections && acceptOne(listener: i, readNow: false) != nil {}
        }
    }

    /// Asks the loop to stop: no new connections; idle ones are closed; the
    /// requests in hand and those already received are finished (with
    /// Connection: close), then run() returns. Called with `lock` held (a
    /// control handler, a tick, after a request).
    public func requestStop(_ reason: StopReason) {
        if stopReason == nil || reason == .fast {
            stopReason = reason
        }
        if reason == .fast { return }
        if stopDeadline == 0 {
            stopDeadline = Sys.monotonicNanos() + UInt64(max(settings.gracefulTimeout, 1)) * 1_000_000_000
        }
        // A graceful stop serves what is queued at this moment, then closes
        // the listeners. A recycling worker just closes them (the others keep
        // accepting), as does one whose master is gone (nobody supervises it).
        if reason == .shutdown { drainAcceptQueues() }
        closeListeners()
        // Idle keep-alive connections are not closed at once: a client may
        // have a request on the wire. Each gets its next request answered
        // with Connection: close, or is closed after a short idle grace.
    }

    /// How long a stopping worker keeps an idle keep-alive connection open.
    static let stopIdleGrace: UInt64 = 300_000_000

    /// Serves until stopped, on this thread and `threads` more
    /// (RequestLoop+Threads.swift); returns on this thread once the stop is
    /// complete.
    public func run() throws -> StopReason {
        lock.lock()
        defer { lock.unlock() }
        try startListening()
        publishThreads()
        lastTick = Sys.monotonicNanos()
        CKey.initializeAll()
        for t in threads.dropFirst() {
            try Sys.spawnThread(name: "gatewayd-\(t.index)") { [self] in
                lock.lock()
                threadMain(t)
                lock.unlock()
            }
        }
        threadMain(threads[0])
        return stopReason ?? .fast
    }

    /// Whether the stop is complete, as run() leaves it: no app call in
    /// progress on another thread (the app's shutdown may run).
    public var quiescent: Bool {
        lock.lock()
        defer { lock.unlock() }
        return appBusy == 0
    }

    /// How long a thread may wait in epoll now.
    func nextWait() -> Int32 {
        var waitMs: Int32 = stopReason == nil ? 1000 : 50
        if case let .exhausted(retryAt) = accepting {
            let now = Sys.monotonicNanos()
            if now >= retryAt { resumeAccepting() } else { waitMs = min(waitMs, Int32((retryAt - now) / 1_000_000) + 1) }
        }
        return waitMs
    }

    /// After a thread's wake-up: the periodic work, and whether the stop is complete.
    func housekeeping() {
        if let reason = stopReason {
            if reason == .fast || connectionCount == 0 || Sys.monotonicNanos() >= stopDeadline {
                closeAll()
                exiting = true
                parking.unpark(Int32.max)
                // Every other thread out of epoll now: the eventfd, made
                // level-triggered and never read again, is ready for each
                // (an edge would wake one, and the rest would sleep their wait out).
                Sys.signalEventFD(wakeFD)
                try? Sys.epollModify(epoll, wakeFD, events: UInt32(EPOLLIN.rawValue), data: Self.wakeTag)
                return
            }
        }
        let now = current.wokeAt
        if now &- lastTick >= 1_000_000_000 && now > lastTick {
            lastTick = now
            acceptMissed()
            // A fresh clock: what acceptMissed() accepted is younger than
            // `now`, and the sweep would take it for idle since forever.
            tick(Sys.monotonicNanos())
        } else if stopReason != nil {
            sweep(now)
        }
    }

    func tick(_ now: UInt64) {
        sweep(now)
        publishConnectionStates()
        onTick?(self)
    }

    /// The counts /metrics shows per state (nginx's stub_status).
    func publishConnectionStates() {
        guard let slot = workerSlot else { return }
        var reading: UInt32 = 0, writing: UInt32 = 0, waiting: UInt32 = 0
        for case let c? in connections {
            switch c.phase {
            case .open: if c.headSince != 0 || c.buffered > 0 { reading += 1 } else { waiting += 1 }
            case .bufferingBody: reading += 1
            case .sendingResponse, .lingering, .queued, .inApp: writing += 1
            case .closed: break
            }
        }
        slot.pointee.conn_reading = reading
        slot.pointee.conn_writing = writing
        slot.pointee.conn_waiting = waiting
    }

    /// Closes connections idle past keepalive_timeout and heads slower than
    /// header_timeout; times out held bodies and responses (ConnectionSweep).
    func sweep(_ now: UInt64) {
        let ns: UInt64 = 1_000_000_000
        let rules = ConnectionSweep(keepalive: UInt64(settings.keepaliveTimeout) * ns, header: UInt64(settings.headerTimeout) * ns,
                                    body: UInt64(settings.bodyTimeout) * ns, lingeringTime: UInt64(settings.lingeringTime) * ns,
                                    lingeringTimeout: UInt64(settings.lingeringTimeout) * ns, stopping: stopReason != nil,
                                    stopIdleGrace: Self.stopIdleGrace)
        for case let c? in connections where !c.closed {
            switch rules.verdict(phase: c.phase, idle: c.isIdle, requests: c.requests, lastActive: c.lastActive,
                                 headSince: c.headSince, now: now) {
            case .keep: break
            case .close: close(c)
            case .headTimeout:
                logger.info("closing connection: request head not received within header_timeout (\(settings.headerTimeout)s)")
                close(c)
            case .bodyTimeout: timeOutHeldBody(c)
            case .readerStopped: abandonHeldResponse(c)
            }
        }
    }

    // MARK: connections

    /// A listener is readable. One connection per wakeup, as nginx without
    /// multi_accept: while this worker serves it, the next connection wakes
    /// another (EPOLLEXCLUSIVE), so a burst spreads over the workers.
    func accept(listener index: Int) {
        if Sys.listenersClosed {
            // closed by the master's death signal while the app was running
            accepting = .closed
            return
        }
        guard accepting == .on, stopReason == nil else { return }
        if freeAppSlots.isEmpty {
            // A sibling thread's wake-up for a connection another thread
            // already took (a level-triggered listener wakes a second
            // waiter) is not saturation: a second event in a row is.
            saturatedEvents += 1
            if saturatedEvents >= 2 { stopListening(.saturated) }
            return
        }
        if connectionCount >= settings.workerConnections {
            // Logged once per second at most (LogRateLimiter): new clients wait
            // in the listen queue (backlog) until this or another worker has room.
            logger.warning("worker_connections (\(settings.workerConnections)) reached: not accepting until a connection closes")
            stopListening(.full)
            return
        }
        acceptOne(listener: index, readNow: true)
    }

    /// EPOLLEXCLUSIVE wakes one waiter per new connection, and a worker
    /// stopped inside epoll_wait (SIGSTOP, a debugger) still counts as one:
    /// the connection would wait in the queue until some later wakeup came
    /// here. Trying the listeners once a second bounds that wait to a second
    /// (and the request is dated from its arrival: `dateFromListenQueue`).
    func acceptMissed() {
        guard accepting == .on, stopReason == nil, !Sys.listenersClosed else { return }
        for i in listeners.indices where connectionCount < settings.workerConnections {
            if let c = acceptOne(listener: i, readNow: true) { dateFromListenQueue(c) }
        }
    }

    /// Accepts one connection and returns it (closed already if its first
    /// read failed); nil when there was none (or no descriptor).
    /// `readNow`: read its request at once (it has data: TCP_DEFER_ACCEPT).
    @discardableResult
    func acceptOne(listener index: Int, readNow: Bool) -> Connection? {
        let l = listeners[index]
        var addr = sockaddr_storage()
        var len = socklen_t(0)
        let fd: Int32
        do {
            guard let f = try Sys.accept(l.fd, &addr, &len) else { return nil }
            fd = f
        } catch let e as SystemError where [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(e.errno.rawValue) {
            // The connection stays queued; another worker or a later try takes it.
            logger.error("\(e): not accepting for 0.1 s or until a connection closes")
            stopListening(.exhausted(retryAt: Sys.monotonicNanos() + Self.exhaustedRetry))
            return nil
        } catch let e as SystemError {
            logger.error("\(e)")
            return nil
        } catch { return nil }
        let now = Sys.monotonicNanos()
        let c: Connection
        if let reused = spare.popLast() {
            reused.reuse(fd: fd, listener: index, now: now)
            c = reused
        } else {
            c = Connection(fd: fd, listener: index, capacity: settings.initialBuffer, now: now)
        }
        c.peer = addr
        c.peerLength = len
        c.conformance = .conformance(for: l.proto)
        register(c)
        // TCP listeners defer accept until data arrived (TCP_DEFER_ACCEPT):
        // read the request now instead of waiting for another epoll round.
        // A proxy (uwsgi, FastCGI, SCGI) writes its request as soon as it
        // has connected: on a unix socket it is almost always there too.
        if readNow && (l.defersAccept || c.conformance.peerWritesFirst) && !c.closed { readable(c) }
        return c
    }

    func register(_ c: Connection) {
        let fd = Int(c.fd)
        if fd >= connections.count {
            connections.append(contentsOf: repeatElement(nil, count: fd - connections.count + 64))
        }
        connections[fd] = c
        connectionCount += 1
        do {
            try Sys.epollAdd(epoll, c.fd, events: Self.readEvents, data: UInt64(fd))
        } catch {
            logger.error("\(error)")
            close(c)
        }
    }

    func close(_ c: Connection) {
        guard !c.closed else { return }
        if c.phase == .sendingResponse { logHeldResponse(c) }
        if c.phase == .queued { ready.remove(c); publishQueued() }
        c.phase = .closed
        c.spool = nil
        // close(2) takes the fd out of the epoll set: no EPOLL_CTL_DEL needed.
        Sys.close(c.fd)
        connections[Int(c.fd)] = nil
        connectionCount -= 1
        if c.capacity <= max(settings.initialBuffer, Self.pooledCapacity) && spare.count < 64 { spare.append(c) }
        resumeAccepting()
    }

    /// At the end: every connection but those an app thread still holds
    /// (their descriptors are in use; the process exit closes them).
    func closeAll() {
        for case let c? in connections where c.phase != .inApp { close(c) }
        closeListeners()
    }

    /// Ends a connection after a response, as `end` says.
    @inline(__always)
    func finish(_ c: Connection, _ end: ConnectionEnd, unread: Bool) {
        switch end {
        case .keepOpen: return
        case .close: if unread { linger(c) } else { close(c) }
        case .drop, .handOver: close(c)
        }
    }

    /// Lingering close (nginx): the response is out; shut down our side and
    /// read and drop what the client still sends, so that closing with
    /// unread input does not reset the connection under the response.
    func linger(_ c: Connection) {
        guard settings.lingeringTime > 0, stopReason != .fast else { return close(c) }
        Sys.shutdownWrite(c.fd)
        let now = Sys.monotonicNanos()
        c.phase = .lingering(since: now)
        c.lastActive = now
        c.start = 0; c.end = 0
        c.headSince = 0
    }

    /// Input on a lingering connection: dropped; EOF or an error closes it.
    func discard(_ c: Connection) {
        while true {
            do {
                guard let n = try Sys.read(c.fd, c.buffer, c.capacity) else { return }
                if n == 0 { return close(c) }
                c.lastActive = Sys.monotonicNanos()
            } catch {
                return close(c)
            }
        }
    }

    /// Reads what arrived and hands every complete request to the app.
    /// Connections are edge-triggered: read until a read comes back short
    /// (nginx's rule with EPOLLRDHUP), or until a request is complete (the
    /// rest is read after it, `pendingInput`).
    func readable(_ c: Connection) {
        switch c.phase {
        case .open: break
        case .queued, .inApp: c.pendingInput = true; return
        case .lingering: return discard(c)
        case .bufferingBody: return readHeldBody(c)
        case .sendingResponse: return writable(c)
        case .closed: return
        }
        c.pendingInput = false
        while c.phase == .open {
            if c.end == c.capacity {
                c.compact()
                // An unfinished head costs at most limit_request_head (HTTP; the
                // proxied protocols' packets are bounded by their own limits).
                let limit = c.conformance.headLimitApplies ? min(limits.maxHead, settings.headLimit) : limits.maxHead
                if c.end == c.capacity && !c.grow(limit: limit) {
                    reject(c, HTTPError(431, "request head too large"))
                    return
                }
            }
            let room = c.capacity - c.end
            let n: Int
            do {
                guard let r = try Sys.read(c.fd, c.buffer + c.end, room) else { return }
                n = r
            } catch {
                close(c)
                return
            }
            if n == 0 {
                close(c)
                return
            }
            if c.headSince == 0 { c.headSince = Sys.monotonicNanos() }
            c.end += n
            process(c)
            guard n == room else { return }
            // The read filled the buffer: more may be in the socket.
            switch c.phase {
            case .queued, .inApp: c.pendingInput = true; return
            case .bufferingBody: return readHeldBody(c)
            default: break
            }
        }
    }

    /// Decodes what the buffer holds as the connection's protocol says.
    @inline(__always)
    func process(_ c: Connection) {
        switch c.conformance.headDecoding {
        case .httpHead: processHTTP(c)
        case .variables(let packet): processProxied(c, packet)
        case .records: processFastCGI(c)
        }
    }

    func processHTTP(_ c: Connection) {
        guard c.phase == .open else { return }
        switch c.scanner.scan(UnsafePointer(c.buffer), end: c.end, limits: limits) {
        case .needMore:
            if c.scanner.headStart == c.end {
                // only empty lines so far: nothing pending
                c.start = c.end
            }
        case .failed(let e):
            reject(c, e)
        case .complete(let end):
            let headStart = c.scanner.headStart
            if let e = HeadParser.parse(UnsafePointer(c.buffer), start: headStart, end: end, limits: limits, into: &context.head) {
                reject(c, e, keepFields: true)
                return
            }
            c.start = end
            c.requestStart = headStart
            c.requestEnd = end
            context.parsedHead(of: c)
            if context.head.hasBody && !appStreamsBody && holdBody(c, headStart: headStart) { return }
            dispatch(c)
        }
    }

    /// After a response: true when a pipelined request may follow in the
    /// buffer; false when the connection waits (idle), or is no longer open
    /// (closed, lingering, its response still being sent by the loop).
    @inline(__always)
    func nextRequest(_ c: Connection) -> Bool {
        if c.phase != .open { return false }
        c.headSince = 0
        if c.start == c.end {
            // Idle now; when stopping, closed after a short grace unless its
            // next request comes first (the response said keep-alive).
            c.start = 0; c.end = 0
            c.scanner.reset(at: 0)
            return false
        }
        // pipelined: the next head starts here
        c.scanner.reset(at: c.start)
        c.headSince = Sys.monotonicNanos()
        return true
    }

    /// A request refused before the app (400, 413, 431, ...), on every
    /// protocol: the error in the protocol's dialect, then the connection
    /// closes, lingering (the rest of what the peer sent is unknown).
    /// `keepFields`: the parser refused a head whose request line it read;
    /// the fields before the refusal stay for the access log.
    /// `requestId`: the FastCGI request refused; a protocol whose requests
    /// end with a record (FastCGI) and no request to answer (its framing
    /// broke) just closes.
    func reject(_ c: Connection, _ e: HTTPError, keepFields: Bool = false, requestId: UInt16 = 0) {
        let endsWithRecord = c.conformance.requestEnd == .endRequestRecord
        if endsWithRecord {
            guard requestId != 0 else {
                logger.info("\(c.conformance) connection closed: \(e.status) \(e.reason)")
                return close(c)
            }
            c.fastcgi = FastCGISession(requestId: requestId, keepConn: false)
        }
        let line = c.conformance.rejectedLine ?? c.firstLine(from: c.scanner.headStart)
        context.reject(connection: c, listener: listeners[c.listener], line: line, e, keepFields: keepFields)
        if endsWithRecord {
            _ = context.framedOutput.endRequest(appStatus: 0)
            c.fastcgi = FastCGISession()
        }
        accessLog?.write(context, durationNs: 0)
        finish(c, context.response.end, unread: true)
    }

    /// What an app thread's request left for the loop (`afterServe`).
    struct Served {
        var end: ConnectionEnd
        var unread: Bool
        var deferred: Int
        var started: UInt64
        var ended: UInt64
        var bytesIn: Int
        var bytesOut: Int
    }

    /// Calls the app for the request `prepare` readied in `t.context`, and
    /// completes the response. Runs without `lock`: it touches only the
    /// connection (the thread's own while `.inApp`), the thread's context
    /// and its scoreboard slot.
    @inline(__always)
    func serve(_ c: Connection, _ t: LoopThread) -> Served {
        let ctx = t.context
        ctx.begin(connection: c, listeners: listeners)
        let started = Sys.monotonicNanos()
        if let slot = ctx.scoreboard {
            let h = ctx.head
            gw_score_begin(slot, c.fd, UnsafeRawPointer(c.buffer + h.method).assumingMemoryBound(to: CChar.self), h.methodLength,
                           UnsafeRawPointer(c.buffer + h.target).assumingMemoryBound(to: CChar.self), h.targetLength, started)
            // The master answers a timeout in the connection's own protocol.
            slot.pointee.proto = Int32(c.conformance.rawValue)
            slot.pointee.request_id = Int32(c.fastcgi.requestId)
        }
        let result: Int32
        if maxQueueWait > 0 && ctx.shedIfWaited(longerThan: maxQueueWait, inWorkerSince: c.readyAt, now: started) {
            result = GATEWAY_OK
        } else if ctx.mountsAll || ctx.mount.contains(c.buffer + ctx.head.path, ctx.head.pathLength) {
            result = app.descriptor.pointee.call(ctx.request)
        } else {
            ctx.response.sendError(404, reason: "outside script_name (\(settings.scriptName))", end: .keepOpen)
            result = GATEWAY_OK
        }
        let end = ctx.finish(appResult: result)
        let ended = Sys.monotonicNanos()
        // A timeout the master answered is its count (timeouts_total), not a request's.
        let counted = !ctx.response.takenByMaster
        if let slot = ctx.scoreboard {
            if counted { gw_score_end(slot, ended, UInt64(ctx.bytesIn), UInt64(ctx.bytesOut), Int32(ctx.status)) } else { gw_score_release(slot, ended) }
        }
        let deferred = ctx.output.deferred
        if deferred == 0, counted, let log = t.accessLog { log.write(ctx, durationNs: ended &- started) }
        return Served(end: end, unread: !ctx.body.isDone || c.buffered > 0, deferred: deferred, started: started, ended: ended,
                      bytesIn: ctx.bytesIn, bytesOut: ctx.bytesOut)
    }

    /// Back with `lock` held after the app: the counts, then the connection
    /// goes on (held response, keep-alive, the next request, a close).
    @inline(__always)
    func afterServe(_ c: Connection, _ served: Served) {
        noteQueueWait(c, started: served.started)
        // What this thread finds complete from here on became ready now, not at its last wake-up.
        current.wokeAt = served.ended
        c.phase = .open
        c.spool = nil
        c.lastActive = served.ended
        c.requests += 1
        requestsServed += 1
        bytesIn += served.bytesIn
        bytesOut += served.bytesOut
        // A stop that came while the app ran does not close here: the
        // response went out without Connection: close, so the client may
        // send its next request at once. The connection is then one of the
        // stopping worker's kept ones: its next request is answered with
        // Connection: close, or it is closed after a short idle grace.
        let end = served.end
        // Input that came while the app ran is unread too: a close lingers.
        let unread = served.unread || c.pendingInput
        if served.deferred > 0 {
            // The socket is full: the loop finishes the response, then writes the log line and ends it.
            holdResponse(c, end: end, unread: unread, started: served.started)
        }
        if maxRequests > 0 {
            onRequestDone?(self)
            if requestsServed >= maxRequests && stopReason == nil { requestStop(.maxRequests) }
        }
        if served.deferred > 0 { return }
        finish(c, end, unread: unread)
        resume(c)
    }

    /// A connection back from the app (or from a held response): its next
    /// request in the protocol's way, or what came meanwhile.
    @inline(__always)
    func resume(_ c: Connection) {
        switch c.conformance.headDecoding {
        case .httpHead:
            if nextRequest(c) { process(c) }
        case .variables:
            // One request per connection: what follows its body is not ours to read.
            if c.phase == .open { close(c) }
        case .records:
            guard c.phase == .open else { return }
            c.headSince = c.start == c.end ? 0 : Sys.monotonicNanos()
            if stopReason != nil && c.start == c.end { return close(c) }
            processFastCGI(c)
        }
        if c.phase == .open && c.pendingInput { readable(c) }
    }
}
