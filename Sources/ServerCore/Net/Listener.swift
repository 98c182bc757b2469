#if canImport(Glibc)
import Glibc
#endif
import CSupport

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
            throw SystemError("bind", "\(address): no such inherited socket (LISTEN_FDNAMES)", errno: .noSuchFileOrDirectory)
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
            throw SystemError("getaddrinfo", "\(address): \(reason)", errno: .invalidArgument)
        }
        defer { freeaddrinfo(result) }
        let fd = try Sys.check("socket", "\(address)") {
            socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
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
        let fd = try Sys.check("socket", "\(address)") {
            socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do {
            // A stale socket file from a dead server blocks bind(); a live one
            // is refused: connect() tells them apart.
            if isStaleUnixSocket(path) { unlink(path) }
            _ = try Sys.check("bind", "to \(address)") { gw_bind_unix(fd, path) }
            _ = try Sys.check("chmod", path) { chmod(path, mode_t(mode)) }
            _ = try Sys.check("listen", "on \(address)") { listen(fd, Int32(backlog)) }
            try Sys.setNonBlocking(fd)
        } catch {
            Sys.close(fd)
            throw error
        }
        return Listener(fd: fd, address: address, port: "", isUnix: true, ownsPath: true)
    }

    static func isStaleUnixSocket(_ path: String) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK else { return false }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return false }
        defer { Sys.close(probe) }
        var a = sockaddr_un()
        a.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &a.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
        }
        let rc = withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return rc != 0 && errno == ECONNREFUSED
    }

    /// Describes an inherited descriptor (socket activation).
    public static func inherited(fd: Int32, name: String) -> Listener {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        } == 0
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
        if ownsPath, case let .unix(path) = address { unlink(path) }
    }
}
