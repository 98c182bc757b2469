#if canImport(Glibc)
import Glibc
#endif
import CSupport
import SystemPackage

/// A listening socket the master opened (or inherited) before forking.
public struct Listener: Sendable {
    public let fd: Int32
    public let address: ListenAddress
    /// The port for SERVER_PORT when the Host header has none ("" for unix).
    public let port: String
    public let isUnix: Bool
    /// A unix socket we created and must unlink at exit.
    public let ownsPath: Bool
    /// TCP_DEFER_ACCEPT is set: accepted connections have data waiting.
    public var defersAccept = false
    /// What its connections speak (the bind entry's prefix).
    public var proto = ListenProtocol.http

    /// The listener as a bind entry says it ("fastcgi:unix:/run/x.sock";
    /// HTTP has no prefix), for the error log.
    public var label: String { "\(proto.bindPrefix)\(address)" }

    public init(fd: Int32, address: ListenAddress, port: String, isUnix: Bool, ownsPath: Bool) {
        self.fd = fd
        self.address = address
        self.port = port
        self.isUnix = isUnix
        self.ownsPath = ownsPath
    }

    /// Binds and listens on `address`.
    public static func bind(_ address: ListenAddress, backlog: Int, unixMode: Int) throws -> Listener {
        switch address {
        case let .tcp(host, port):
            return try bindTCP(address, host: host, port: port, backlog: backlog)
        case let .unix(path):
            return try bindUnix(address, path: path, backlog: backlog, mode: unixMode)
        case .inherited:
            throw ListenError.noInheritedSocket(address: "\(address)")
        }
    }

    static func bindTCP(_ address: ListenAddress, host: String, port: UInt16, backlog: Int) throws -> Listener {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let info = result else {
            let reason = String(cString: gai_strerror(rc))
            throw ListenError.cannotResolve(address: "\(address)", reason: reason)
        }
        defer { freeaddrinfo(result) }
        let fd = try Sys.streamSocket(family: info.pointee.ai_family, "\(address)")
        do {
            try Sys.setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR")
            if info.pointee.ai_family == AF_INET6 {
                try Sys.setIntOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, "IPV6_V6ONLY")
            }
            try Sys.setIntOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1, "TCP_NODELAY")
            // accept() returns once the request's first bytes arrived (1 s at most for silent clients).
            try Sys.setIntOption(fd, Int32(IPPROTO_TCP), TCP_DEFER_ACCEPT, 1, "TCP_DEFER_ACCEPT")
            _ = try Sys.check("bind", "to \(address)") { Glibc.bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) }
            _ = try Sys.check("listen", "on \(address)") { listen(fd, Int32(backlog)) }
            try Sys.setNonBlocking(fd)
        } catch {
            Sys.close(fd)
            throw error
        }
        var l = Listener(fd: fd, address: address, port: String(port), isUnix: false, ownsPath: false)
        l.defersAccept = true
        return l
    }

    static func bindUnix(_ address: ListenAddress, path: String, backlog: Int, mode: Int) throws -> Listener {
        let fd = try Sys.streamSocket(family: AF_UNIX, "\(address)")
        do {
            // A stale socket file from a dead server blocks bind(); a live one
            // is refused: connect() tells them apart.
            if isStaleUnixSocket(path) { Sys.unlink(path) }
            _ = try Sys.check("bind", "to \(address)") { gw_bind_unix(fd, path) }
            try Sys.chmod(path, mode_t(mode))
            _ = try Sys.check("listen", "on \(address)") { listen(fd, Int32(backlog)) }
            try Sys.setNonBlocking(fd)
        } catch {
            Sys.close(fd)
            throw error
        }
        return Listener(fd: fd, address: address, port: "", isUnix: true, ownsPath: true)
    }

    static func isStaleUnixSocket(_ path: String) -> Bool {
        guard Sys.isSocketFile(path), let probe = try? Sys.streamSocket(family: AF_UNIX, path) else { return false }
        defer { Sys.close(probe) }
        do {
            try Sys.connectUnix(probe, path)
            return false
        } catch let e as SystemError {
            return e.errno == .connectionRefused
        } catch {
            return false
        }
    }

    /// Describes an inherited descriptor (socket activation).
    public static func inherited(fd: Int32, name: String) -> Listener {
        let local = Sys.localAddress(fd)
        let ok = local != nil
        var storage = local?.storage ?? sockaddr_storage()
        let len = local?.length ?? 0
        let formatted = ok ? PeerAddress.format(&storage, len) : nil
        let isUnix = ok && Int32(storage.ss_family) == AF_UNIX
        try? Sys.setNonBlocking(fd)
        try? Sys.setCloseOnExec(fd, true)
        let address: ListenAddress
        var path = [CChar](repeating: 0, count: 110)
        if let (host, port) = formatted {
            address = .tcp(host: host, port: UInt16(port))
        } else if isUnix, gw_unix_path(&storage, len, &path, 110) == 0 {
            address = .unix(path: String(cString: path))
        } else {
            address = .inherited(name: name)
        }
        return Listener(fd: fd, address: address, port: formatted.map { String($0.port) } ?? "", isUnix: isUnix, ownsPath: false)
    }

    public func close() {
        Sys.close(fd)
        if ownsPath, case let .unix(path) = address { Sys.unlink(path) }
    }
}
