#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServerCore

/// The admin listener, served by the master in its own loop. Never blocks
/// it: every socket is non-blocking, a connection reads at most one small
/// request and writes one small response, at most `maxConnections` are
/// open, and each has a deadline (a reload waiter a longer one).
final class AdminServer {
    final class Connection {
        let fd: Int32
        /// Control verbs are accepted on unix sockets only (the file mode is the access control).
        let isUnix: Bool
        var input: [UInt8] = []
        var output: [UInt8] = []
        var written = 0
        var deadline: UInt64
        var waitingForReload = false
        var headOnly = false
        init(fd: Int32, isUnix: Bool, deadline: UInt64) {
            self.fd = fd
            self.isUnix = isUnix
            self.deadline = deadline
        }
    }

    static let maxConnections = 16
    static let requestTimeout: UInt64 = 5_000_000_000
    let listeners: [Listener]
    private(set) var connections: [Int32: Connection] = [:]
    var reloadTimeout: UInt64 = 120_000_000_000
    let logger: Logger

    init(config: Config, logger: Logger) throws {
        self.logger = logger
        var opened: [Listener] = []
        do {
            for text in config.adminBind {
                let address = try ListenAddress.parse(text)
                opened.append(try Listener.bind(address, backlog: 16, unixMode: config.adminSocketMode))
                logger.info("admin listener on \(address)")
            }
        } catch {
            for l in opened { l.close() }
            throw error
        }
        listeners = opened
    }

    /// The descriptors the master's poll() waits on for the admin listener.
    func pollDescriptors() -> [pollfd] {
        var fds: [pollfd] = []
        if connections.count < Self.maxConnections {
            for l in listeners { fds.append(pollfd(fd: l.fd, events: Int16(POLLIN), revents: 0)) }
        }
        for c in connections.values {
            let events = c.output.isEmpty ? (c.waitingForReload ? 0 : POLLIN) : POLLOUT
            fds.append(pollfd(fd: c.fd, events: Int16(events), revents: 0))
        }
        return fds
    }

    /// Accepts, reads, answers and expires; `handle` decides each request.
    func service(now: UInt64, handle: (AdminRequest, Connection) -> AdminReply) {
        accept(now: now)
        for c in Array(connections.values) {
            if !c.output.isEmpty {
                flush(c)
            } else if !c.waitingForReload {
                read(c, handle: handle)
            }
            if connections[c.fd] != nil && now > c.deadline {
                if c.waitingForReload {
                    respond(c, .json(500, "{\"result\":\"unknown\",\"reason\":\"the reload did not settle in time\"}"))
                } else {
                    drop(c)
                }
            }
        }
    }

    func accept(now: UInt64) {
        for l in listeners {
            while connections.count < Self.maxConnections {
                var storage = sockaddr_storage()
                var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
                guard let fd = (try? Sys.accept(l.fd, &storage, &len)) ?? nil else { break }
                connections[fd] = Connection(fd: fd, isUnix: l.isUnix, deadline: now + Self.requestTimeout)
            }
        }
    }

    func read(_ c: Connection, handle: (AdminRequest, Connection) -> AdminReply) {
        var buf = [UInt8](repeating: 0, count: 4096)
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
                drop(c)
                return
            }
            c.input += buf[0..<n]
            if c.input.count > AdminRequest.maxHead + AdminRequest.maxBody { break }
        }
        switch AdminRequest.parse(c.input) {
        case .incomplete:
            return
        case let .invalid(reason):
            respond(c, .text(400, reason))
        case let .request(request, bodyLength):
            guard let headEnd = AdminRequest.headEnd(c.input), c.input.count >= headEnd + bodyLength else { return }
            c.headOnly = request.method == "HEAD"
            let reply = handle(request, c)
            if reply == .awaitReload {
                c.waitingForReload = true
                c.deadline = Sys.monotonicNanos() + reloadTimeout
            } else {
                respond(c, reply)
            }
        }
    }

    /// Queues the response and writes what the socket takes now.
    func respond(_ c: Connection, _ reply: AdminReply) {
        guard case let .respond(status, type, body) = reply else { return }
        c.waitingForReload = false
        c.output = AdminReply.bytes(status: status, contentType: type, body: body, head: c.headOnly)
        c.written = 0
        c.deadline = Sys.monotonicNanos() + Self.requestTimeout
        flush(c)
    }

    /// Answers every connection waiting for a reload's outcome.
    func answerReloadWaiters(_ reply: AdminReply) {
        for c in connections.values where c.waitingForReload { respond(c, reply) }
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

    /// At exit: a last try to deliver what is queued, then close all.
    func closeAll() {
        for c in Array(connections.values) {
            if !c.output.isEmpty { flush(c) }
            if connections[c.fd] != nil { drop(c) }
        }
        for l in listeners { l.close() }
    }

    /// For a forked worker: none of these are its own.
    func closeInChild() {
        for c in connections.values { Sys.close(c.fd) }
        for l in listeners { Sys.close(l.fd) }
    }
}
