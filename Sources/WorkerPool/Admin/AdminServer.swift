#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServerCore

/// The admin listener, served by the master in its own loop. Never blocks
/// it: every socket is non-blocking, a connection reads at most one small
/// request and writes one small response, and each has a deadline (a reload
/// waiter a longer one). Nobody can starve the probes: each listener has
/// its own budget of `maxConnections` (operators on the unix socket are not
/// queued behind TCP clients), a head must arrive within `headTimeout`, and
/// a full listener evicts its oldest idle connection to take a new one.
final class AdminServer {
    final class Connection {
        let fd: Int32
        /// The listening socket it came from: its budget.
        let listener: Int32
        /// Control verbs are accepted on unix sockets only (the file mode is the access control).
        let isUnix: Bool
        let acceptedAt: UInt64
        var input: [UInt8] = []
        var output: [UInt8] = []
        var written = 0
        var deadline: UInt64
        var waitingForReload = false
        /// The worker whose stack dump this connection waits for.
        var waitingForDump: Int32?
        var headOnly = false
        /// The request was read: it is answered, not idle.
        var taken = false
        init(fd: Int32, listener: Int32, isUnix: Bool, now: UInt64) {
            self.fd = fd
            self.listener = listener
            self.isUnix = isUnix
            acceptedAt = now
            deadline = now + AdminServer.headTimeout
        }

        /// Nothing asked yet: what a full listener may evict.
        var isIdle: Bool { !taken && output.isEmpty }
    }

    /// Per listener.
    static let maxConnections = 16
    /// From accept to a complete request: every admin client sends its
    /// request at once; a trickle is cut here, not extended byte by byte.
    static let headTimeout: UInt64 = 1_000_000_000
    static let requestTimeout: UInt64 = 5_000_000_000
    private(set) var listeners: [Listener] = []
    /// Addresses still held by the old master of a binary upgrade: bound
    /// once it lets go of them (it closes them when it starts stopping).
    private(set) var pending: [ListenAddress] = []
    var lastRetry: UInt64 = 0
    let backlog = 16
    let socketMode: Int
    /// admin_allow: empty, every TCP client.
    let allow: [IPNetwork]
    private(set) var connections: [Int32: Connection] = [:]
    var reloadTimeout: UInt64 = 120_000_000_000
    let logger: Logger

    /// `upgrading`: this master was started by another one's SIGUSR2, whose
    /// admin listener may still hold the addresses for a moment.
    init(config: Config, logger: Logger, upgrading: Bool) throws {
        self.logger = logger
        socketMode = config.adminSocketMode
        allow = config.adminAllow.compactMap(IPNetwork.init)
        do {
            for text in config.adminBind {
                let address = try ListenAddress.parse(text)
                do {
                    listeners.append(try Listener.bind(address, backlog: backlog, unixMode: socketMode))
                    logger.info("admin listener on \(address)")
                } catch where upgrading {
                    logger.info("admin listener on \(address): waiting for the old master to release it (\(error))")
                    pending.append(address)
                }
            }
        } catch {
            for l in listeners { l.close() }
            throw error
        }
    }

    /// Binds the addresses the old master held, once a second until done.
    func retryPending(now: UInt64) {
        guard !pending.isEmpty, now &- lastRetry >= 1_000_000_000 else { return }
        lastRetry = now
        pending.removeAll { address in
            guard let l = try? Listener.bind(address, backlog: backlog, unixMode: socketMode) else { return false }
            listeners.append(l)
            logger.info("admin listener on \(address)")
            return true
        }
    }

    /// After a binary upgrade handed over, when this master starts
    /// stopping: let the new master bind the addresses (a unix socket's
    /// file is left for it to replace).
    func releaseListeners() {
        for l in listeners { Sys.close(l.fd) }
        listeners = []
    }

    /// The descriptors the master's poll() waits on for the admin listener.
    func pollDescriptors() -> [pollfd] {
        var fds: [pollfd] = []
        for l in listeners where canTake(on: l.fd) { fds.append(pollfd(fd: l.fd, events: Int16(POLLIN), revents: 0)) }
        // A reload waiter is not polled: a peer that hung up would wake
        // the loop at once until the reload settles.
        for c in connections.values where !c.waitingForReload && c.waitingForDump == nil {
            fds.append(pollfd(fd: c.fd, events: Int16(c.output.isEmpty ? POLLIN : POLLOUT), revents: 0))
        }
        return fds
    }

    /// Accepts, reads, answers and expires; `handle` decides each request.
    func service(now: UInt64, handle: (AdminRequest, Connection) -> AdminReply) {
        retryPending(now: now)
        accept(now: now, handle: handle)
        for c in Array(connections.values) where connections[c.fd] != nil {
            if !c.output.isEmpty {
                flush(c)
            } else if !c.waitingForReload && c.waitingForDump == nil {
                read(c, handle: handle)
            }
            if connections[c.fd] != nil && now > c.deadline {
                if c.waitingForReload {
                    respond(c, .outcome(500, "unknown", reason: "the reload did not settle in time"))
                } else {
                    drop(c)
                }
            }
        }
    }

    /// Accepts at most a budget's worth per listener and pass; reads each
    /// new connection at once, so a probe that sent its request is answered
    /// before anything can evict it.
    func accept(now: UInt64, handle: (AdminRequest, Connection) -> AdminReply) {
        for l in listeners {
            for _ in 0..<Self.maxConnections {
                guard canTake(on: l.fd) else { break }
                var storage = sockaddr_storage()
                var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
                guard let fd = (try? Sys.accept(l.fd, &storage, &len)) ?? nil else { break }
                if !l.isUnix && !allows(&storage, len) {
                    refuse(fd, &storage, len)
                    continue
                }
                if let oldest = oldestIdle(on: l.fd), count(on: l.fd) >= Self.maxConnections { drop(oldest) }
                let c = Connection(fd: fd, listener: l.fd, isUnix: l.isUnix, now: now)
                connections[fd] = c
                read(c, handle: handle)
            }
        }
    }

    func allows(_ storage: UnsafePointer<sockaddr_storage>, _ len: socklen_t) -> Bool {
        guard !allow.isEmpty else { return true }
        guard let peer = IPAddress(storage, length: len) else { return false }
        return allow.contains { $0.contains(peer) }
    }

    /// nginx's `deny`: a 403 at once, nothing read; logged at most once a
    /// second per address (the rate limiter folds a flood).
    func refuse(_ fd: Int32, _ storage: UnsafePointer<sockaddr_storage>, _ len: socklen_t) {
        let bytes = AdminReply.bytes(status: 403, contentType: "text/plain; charset=utf-8", body: "not in admin_allow\n")
        _ = bytes.withUnsafeBytes { try? Sys.send(fd, $0.baseAddress!, $0.count) }
        Sys.shutdownWrite(fd)
        Sys.close(fd)
        let peer = PeerAddress.format(storage, len)?.host ?? "?"
        logger.warning("admin: connection from \(peer) refused: not in admin_allow")
    }

    func count(on listener: Int32) -> Int { connections.values.reduce(0) { $0 + ($1.listener == listener ? 1 : 0) } }

    func oldestIdle(on listener: Int32) -> Connection? {
        connections.values.filter { $0.listener == listener && $0.isIdle }.min { $0.acceptedAt < $1.acceptedAt }
    }

    /// Room in the listener's budget, or an idle connection to make room.
    func canTake(on listener: Int32) -> Bool {
        count(on: listener) < Self.maxConnections || oldestIdle(on: listener) != nil
    }

    /// A client that half-closed after its request (`printf ... | socat -`)
    /// still gets the response (RFC 9112 9.6): EOF drops only an
    /// incomplete request.
    func read(_ c: Connection, handle: (AdminRequest, Connection) -> AdminReply) {
        var buf = [UInt8](repeating: 0, count: 4096)
        var ended = false
        while true {
            let n: Int?
            do {
                n = try buf.withUnsafeMutableBytes { try Sys.read(c.fd, $0.baseAddress!, $0.count) }
            } catch {
                drop(c)
                return
            }
            guard let n else { break }
            if n == 0 {
                ended = true
                break
            }
            c.input += buf[0..<n]
            if c.input.count > AdminRequest.maxHead + AdminRequest.maxBody { break }
        }
        switch AdminRequest.parse(c.input) {
        case .incomplete:
            if ended { drop(c) }
        case let .invalid(status, reason):
            c.taken = true
            respond(c, .text(status, reason))
        case let .request(request, bodyLength):
            guard let headEnd = AdminRequest.headEnd(c.input), c.input.count >= headEnd + bodyLength else {
                if ended { drop(c) }
                return
            }
            c.taken = true
            c.headOnly = request.method == "HEAD"
            let reply = handle(request, c)
            if reply == .awaitReload {
                c.waitingForReload = true
                c.deadline = Sys.monotonicNanos() + reloadTimeout
            } else if case let .awaitDump(pid) = reply {
                c.waitingForDump = pid
                c.deadline = Sys.monotonicNanos() + Self.requestTimeout
            } else {
                respond(c, reply)
            }
        }
    }

    /// Queues the response and writes what the socket takes now.
    func respond(_ c: Connection, _ reply: AdminReply) {
        guard case let .respond(status, type, body) = reply else { return }
        c.waitingForReload = false
        c.waitingForDump = nil
        c.output = AdminReply.bytes(status: status, contentType: type, body: body, head: c.headOnly)
        c.written = 0
        c.deadline = Sys.monotonicNanos() + Self.requestTimeout
        flush(c)
    }

    /// Answers every connection waiting for a reload's outcome.
    func answerReloadWaiters(_ reply: AdminReply) {
        for c in connections.values where c.waitingForReload { respond(c, reply) }
    }

    /// Answers every connection waiting for the stack dump of `pid`.
    func answerDumpWaiters(pid: Int32, _ reply: AdminReply) {
        for c in connections.values where c.waitingForDump == pid { respond(c, reply) }
    }

    func flush(_ c: Connection) {
        while c.written < c.output.count {
            let n: Int?
            do {
                n = try c.output.withUnsafeBytes { try Sys.send(c.fd, $0.baseAddress! + c.written, $0.count - c.written) }
            } catch {
                drop(c)
                return
            }
            guard let n else { return }
            c.written += n
        }
        Sys.shutdownWrite(c.fd)
        drop(c)
    }

    func drop(_ c: Connection) {
        Sys.close(c.fd)
        connections[c.fd] = nil
    }

    /// At exit: a last try to deliver what is queued, then close all
    /// (unix socket files removed unless `handedOff` to a new master).
    func closeAll(handedOff: Bool) {
        for c in Array(connections.values) {
            if !c.output.isEmpty { flush(c) }
            if connections[c.fd] != nil { drop(c) }
        }
        for l in listeners {
            if handedOff { Sys.close(l.fd) } else { l.close() }
        }
        listeners = []
    }

    /// For a forked worker: none of these are its own.
    func closeInChild() {
        for c in connections.values { Sys.close(c.fd) }
        for l in listeners { Sys.close(l.fd) }
    }
}
