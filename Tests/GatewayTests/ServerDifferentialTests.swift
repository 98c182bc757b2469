#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import GatewayTesting

private let differentialRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path
private let differentialBuilt = FileManager.default.isExecutableFile(atPath: differentialRoot + "/build/bin/gatewayd")
    && FileManager.default.fileExists(atPath: differentialRoot + "/build/apps/testapp.so")

/// One table of app behaviours, answered twice: by GatewayTesting (the app
/// in process, the server's encoder writing into a buffer) and by the real
/// gatewayd serving the same app over a socket. Both must give the client
/// the same status line, header fields, body and framing: an app's tests
/// pass exactly where production answers the same.
///
/// The app is Examples/testapp (its /respond route sends the status,
/// headers and body the query names); `make all` builds it and the daemon,
/// and `make test` runs this after `make all`. Without them (a bare `swift
/// test`) the suite is skipped.
@Suite(.enabled(if: differentialBuilt, "needs build/bin/gatewayd and build/apps/testapp.so: run make all"))
struct ServerDifferentialTests {
    static let daemon = differentialRoot + "/build/bin/gatewayd"
    static let app = differentialRoot + "/build/apps/testapp.so"

    /// A request: method, target; every one is sent with Connection: close.
    struct Row: CustomStringConvertible, Sendable {
        let method: String
        let target: String
        init(_ method: String = "GET", _ target: String) { self.method = method; self.target = target }
        var description: String { "\(method) \(target)" }
    }

    static func respond(_ query: String, method: String = "GET") -> Row { Row(method, "/respond?" + query) }

    static let rows: [Row] = [
        respond("status=200&body=bare"),                                  // a bare status gets its phrase
        respond("status=404&body=x"),
        respond("status=299%20Custom&body=x"),                            // an unknown code keeps its reason
        respond("status=200%20ok&body=x"),                                // the app's reason as given
        respond("status=100%20Continue&body=x"),                          // 1xx: not the app's to send
        respond("status=101%20Switching%20Protocols&body=x"),
        respond("status=103%20Early%20Hints&body=x"),
        respond("status=99%20Odd&body=x"),
        respond("status=600%20Big&body=x"),
        respond("status=20x%20Bad&body=x"),
        respond("status=204%20No%20Content&body=x"),                      // bodyless statuses
        respond("status=205%20Reset%20Content&body=x"),
        respond("status=304%20Not%20Modified&body=x"),
        respond("status=304%20Not%20Modified&h1=Content-Length:5&body=x"),
        respond("h1=X-A:b%0D%0AX-Injected:1&body=x"),                     // header injection
        respond("h1=X-A:b%0AX-Injected:1&body=x"),
        respond("h1=Bad%20Name:1&body=x"),
        respond("h1=X-Nul:a%01b&body=x"),
        respond("h1=Content-Length:1&h2=Content-Length:2&body=x"),        // two Content-Lengths
        respond("h1=Content-Length:1&h2=Content-Length:1&body=x"),
        respond("h1=Content-Length:-1&body=x"),
        respond("h1=Content-Length:1&body=xyz"),                          // past the length
        respond("h1=Content-Length:5&body=xy"),                           // short of it
        respond("h1=Content-Length:3&body=xyz&mode=write"),
        respond("h1=Content-Length:4&body=xyz&mode=write"),
        respond("body=abc&mode=write"),                                   // chunked
        respond("mode=none"),                                             // a head and nothing else
        respond("h1=Content-Length:3&mode=none"),
        respond("h1=Connection:close&body=x"),                            // hop-by-hop
        respond("h1=Transfer-Encoding:chunked&body=x"),
        respond("h1=Keep-Alive:timeout=5&body=x"),
        respond("h1=Connection:close&retry=1&body=x"),                    // a refused start stays refused
        respond("h1=Server:myapp/2&body=x"),                              // the app's Server and Date win
        respond("h1=Set-Cookie:a=1&h2=Set-Cookie:b=2&body=x"),            // repeated fields kept
        respond("body=hello", method: "HEAD"),
        respond("h1=Content-Length:5&body=hello", method: "HEAD"),
        respond("body=abc&mode=write", method: "HEAD"),
        Row("GET", "/error"),                                             // app errors
        Row("GET", "/error-after"),
        Row("GET", "/hop"),
        Row("GET", "/replace"),
        Row("GET", "/bad-header"),
        Row("GET", "/stream"),
        Row("GET", "/"),
    ]

    /// What a client gets, compared: the status line, the fields (Date
    /// aside, unless the app set it: the two servers answer at different
    /// moments), the body, the framing.
    struct Seen: Equatable, CustomStringConvertible {
        let status: String
        let headers: [String]
        let body: [UInt8]
        let framing: TestResponse.Framing

        init(of r: TestResponse) {
            status = r.status.line
            headers = r.headers.filter { $0.name.lowercased() != "date" }.map { "\($0.name): \($0.value)" }
            body = r.body
            framing = r.framing
        }

        var description: String { "\(status) \(headers) \(String(decoding: body, as: UTF8.self).debugDescription) \(framing)" }
    }

    @Test func gatewayTestingAnswersAsTheServer() throws {
        let server = try RealServer(daemon: Self.daemon, app: Self.app)
        defer { server.stop() }
        let inMemory = try TestServer(library: Self.app)
        for row in Self.rows {
            let expected = Seen(of: WireResponse.parse(try server.exchange(row.method, row.target), isHead: row.method == "HEAD",
                                                   aborted: false).testResponse(callResult: 0, logs: []))
            let got = Seen(of: inMemory.execute(TestRequest(row.method, row.target, headers: ["Host": "t", "Connection": "close"], body: [[UInt8]]())))
            #expect(got == expected, "\(row)")
        }
    }
}

/// The real daemon with one worker, on a free loopback port, for the suite.
final class RealServer {
    let process = Process()
    let port: UInt16
    let log: String

    init(daemon: String, app: String) throws {
        port = Self.freePort()
        log = NSTemporaryDirectory() + "gatewayd-differential-\(getpid()).log"
        process.executableURL = URL(fileURLWithPath: daemon)
        process.arguments = ["-b", "127.0.0.1:\(port)", "-w", "1", "--error-logfile", log, app]
        try process.run()
        for _ in 0..<200 {
            if let fd = Self.connect(port) { close(fd); return }
            usleep(50_000)
        }
        stop()
        throw NativeAppError(message: "gatewayd did not listen on \(port) within 10 s (log: \(log))")
    }

    /// SIGINT (a fast stop); SIGKILL if it is still there 5 s later.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGINT)
        for _ in 0..<100 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Sends one request with Connection: close and reads until the server closes.
    func exchange(_ method: String, _ target: String) throws -> [UInt8] {
        guard let fd = Self.connect(port) else { throw NativeAppError(message: "connect to \(port) failed") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("\(method) \(target) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return bytes
    }

    static func connect(_ port: UInt16) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if ok == 0 { return fd }
        close(fd)
        return nil
    }

    static func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Int32 in
                _ = bind(fd, p, length)
                return getsockname(fd, p, &length)
            }
        }
        return UInt16(bigEndian: addr.sin_port)
    }
}
