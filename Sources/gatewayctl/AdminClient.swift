#if canImport(Glibc)
import Glibc
#endif
import ServerCore

/// One HTTP/1.1 request to gatewayd's admin listener, over a unix socket
/// or TCP, with a deadline; the response read to the end (the server closes).
struct AdminClient {
    enum Target: Equatable {
        case unix(String)
        case tcp(host: String, port: UInt16)
    }

    struct Unreachable: Error, CustomStringConvertible { let description: String }

    struct Response {
        let status: Int
        let body: String
    }

    let target: Target

    static func parse(_ text: String) throws -> Target {
        if text.hasPrefix("unix:") { return .unix(String(text.dropFirst(5))) }
        if text.hasPrefix("/") { return .unix(text) }
        guard case let .tcp(host, port) = try ListenAddress.parse(text) else {
            throw Unreachable(description: "\(text): expected unix:PATH or HOST:PORT")
        }
        return .tcp(host: host == "0.0.0.0" ? "127.0.0.1" : host, port: port)
    }

    func request(_ method: String, _ path: String, timeoutSeconds: Int = 10) throws -> Response {
        let fd = try connect()
        defer { Glibc.close(fd) }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let head = "\(method) \(path) HTTP/1.1\r\nHost: gatewayd\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        let sent = head.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        guard sent == head.utf8.count else { throw Unreachable(description: "cannot send to \(target): \(String(cString: strerror(errno)))") }
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw Unreachable(description: "no answer from \(target): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            data += buf[0..<n]
        }
        return try Self.parseResponse(data)
    }

    static func parseResponse(_ data: [UInt8]) throws -> Response {
        let text = String(decoding: data, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { throw Unreachable(description: "truncated answer") }
        let statusLine = text[..<end.lowerBound].split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw Unreachable(description: "not an HTTP answer") }
        return Response(status: status, body: String(text[end.upperBound...]))
    }

    func connect() throws -> Int32 {
        switch target {
        case let .unix(path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw Unreachable(description: "socket(): \(String(cString: strerror(errno)))") }
            do {
                try Sys.connectUnix(fd, path)
            } catch {
                Glibc.close(fd)
                throw Unreachable(description: "cannot reach gatewayd at unix:\(path): \(error)")
            }
            return fd
        case let .tcp(host, port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else {
                throw Unreachable(description: "cannot resolve \(host)")
            }
            defer { freeaddrinfo(result) }
            let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0, Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
                let reason = String(cString: strerror(errno))
                if fd >= 0 { Glibc.close(fd) }
                throw Unreachable(description: "cannot reach gatewayd at \(host):\(port): \(reason)")
            }
            return fd
        }
    }
}

extension AdminClient.Target: CustomStringConvertible {
    var description: String {
        switch self {
        case let .unix(p): return "unix:\(p)"
        case let .tcp(h, p): return "\(h):\(p)"
        }
    }
}
