#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServerCore
import Testing
@testable import WorkerPool

/// The admin listener's connection budget, head deadline and half-close,
/// over real unix sockets and a fake clock (issue 25).
@Suite(.serialized) struct AdminServerTests {
    let ms: UInt64 = 1_000_000

    final class Bench {
        let dir: String
        let server: AdminServer
        var paths: [String]
        init(sockets: Int = 1) throws {
            var template = Array("/tmp/gatewayd-admin-XXXXXX".utf8CString)
            let d = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
            dir = d
            paths = (0..<sockets).map { "\(d)/admin\($0).sock" }
            var config = Config()
            config.adminBind = paths.map { "unix:" + $0 }
            server = try AdminServer(config: config, logger: Logger(label: "test"), upgrading: false)
        }
        deinit {
            server.closeAll(handedOff: false)
            rmdir(dir)
        }

        func connect(_ i: Int = 0) throws -> Int32 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            try Sys.connectUnix(fd, paths[i])
            var tv = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            return fd
        }

        func send(_ fd: Int32, _ text: String) {
            _ = text.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        }

        /// What the server sent until it closed (nil: still open, nothing to read).
        func received(_ fd: Int32) -> String? {
            var data: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 { data += buf[0..<n]; continue }
                if n == 0 { return String(decoding: data, as: UTF8.self) }
                return data.isEmpty ? nil : String(decoding: data, as: UTF8.self)
            }
        }

        func service(now: UInt64) {
            server.service(now: now) { request, _ in .text(200, "ok \(request.path)") }
        }
    }

    @Test func aFullListenerEvictsItsOldestIdleConnection() throws {
        let b = try Bench()
        let t0 = Sys.monotonicNanos()
        var idle: [Int32] = []
        for i in 0..<AdminServer.maxConnections {
            idle.append(try b.connect())
            b.service(now: t0 + UInt64(i) * ms)
        }
        #expect(b.server.connections.count == AdminServer.maxConnections)
        let probe = try b.connect()
        b.send(probe, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        b.service(now: t0 + 20 * ms)
        #expect(b.received(probe)?.hasSuffix("ok /readyz\n") == true)
        #expect(b.received(idle[0]) == "", "the oldest idle connection is closed")
        #expect(b.received(idle[1]) == nil, "the others stay")
        for fd in idle + [probe] { close(fd) }
    }

    @Test func eachListenerHasItsOwnBudget() throws {
        let b = try Bench(sockets: 2)
        let t0 = Sys.monotonicNanos()
        var idle: [Int32] = []
        for i in 0..<AdminServer.maxConnections {
            idle.append(try b.connect(0))
            b.service(now: t0 + UInt64(i) * ms)
        }
        let other = try b.connect(1)
        b.service(now: t0 + 20 * ms)
        #expect(b.server.connections.count == AdminServer.maxConnections + 1)
        #expect(b.received(idle[0]) == nil, "a connection to the other listener evicts nobody here")
        b.send(other, "GET /status HTTP/1.1\r\n\r\n")
        b.service(now: t0 + 21 * ms)
        #expect(b.received(other)?.hasSuffix("ok /status\n") == true)
        for fd in idle + [other] { close(fd) }
    }

    @Test func aHeadThatDoesNotArriveInTimeIsDropped() throws {
        let b = try Bench()
        let t0 = Sys.monotonicNanos()
        let slow = try b.connect()
        b.service(now: t0)
        b.send(slow, "GET /sta")
        b.service(now: t0 + AdminServer.headTimeout / 2)
        #expect(b.received(slow) == nil, "still in time")
        b.send(slow, "tus HTTP/1.1\r\n")
        b.service(now: t0 + AdminServer.headTimeout + ms)
        #expect(b.received(slow) == "", "trickling does not extend the deadline")
        close(slow)
    }

    @Test func aHalfClosedRequestIsAnswered() throws {
        let b = try Bench()
        let t0 = Sys.monotonicNanos()
        let c = try b.connect()
        b.send(c, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        shutdown(c, Int32(SHUT_WR))
        b.service(now: t0)
        #expect(b.received(c)?.hasSuffix("ok /livez\n") == true)
        close(c)
        // a half-closed incomplete head is only dropped
        let d = try b.connect()
        b.send(d, "GET /livez HTTP/1.1\r\n")
        shutdown(d, Int32(SHUT_WR))
        b.service(now: t0 + ms)
        #expect(b.received(d) == "")
        #expect(b.server.connections.isEmpty)
        close(d)
    }

    /// Issue 25: the admin listener parses heads with the server's
    /// HeadScanner and HeadParser, so a head the server refuses is refused
    /// here too, with the same status: a bare LF, two Content-Lengths that
    /// disagree (request smuggling's favourites), and the rest of the list.
    @Test(arguments: [
        "GET /livez HTTP/1.1\nHost: x\n\n",
        "GET /livez HTTP/1.1\r\nHost: x\nX: y\r\n\r\n",
        "POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n",
        "GET /livez HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
        "GET /livez HTTP/1.1\r\nHost : x\r\n\r\n",
        "GET /livez HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
        "GET /livez HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        "GET /livez HTTP/2.0\r\nHost: x\r\n\r\n",
        "G(T /livez HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /livez HTTP/1.1\r\nHost: x\r\nX: \u{01}\r\n\r\n",
    ])
    func aHeadTheServerRefusesIsRefusedWithItsStatus(_ request: String) throws {
        let bytes = Array(request.utf8)
        let limits = HTTPLimits()
        var scanner = HeadScanner()
        var head = RequestHead(fieldCapacity: limits.fields)
        defer { head.fields.deallocate() }
        let verdict: HTTPError? = bytes.withUnsafeBufferPointer { buf in
            switch scanner.scan(buf.baseAddress!, end: buf.count, limits: limits) {
            case .failed(let e): return e
            case .needMore: return nil
            case .complete(let end):
                return HeadParser.parse(buf.baseAddress!, start: scanner.headStart, end: end, limits: limits, into: &head)
            }
        }
        let refusal = try #require(verdict, "the server's parser takes \(request.debugDescription)")
        let b = try Bench()
        let c = try b.connect()
        b.send(c, request)
        b.service(now: Sys.monotonicNanos())
        let reply = b.received(c) ?? ""
        #expect(reply.hasPrefix("HTTP/1.1 \(refusal.status) "), "\(request.debugDescription): the server says \(refusal), the admin listener \(reply.debugDescription)")
        close(c)
    }

    @Test func bareLFAndTwoContentLengthsAre400() throws {
        let b = try Bench()
        for request in ["GET /livez HTTP/1.1\nHost: x\n\n",
                        "POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n"] {
            let c = try b.connect()
            b.send(c, request)
            b.service(now: Sys.monotonicNanos())
            #expect(b.received(c)?.hasPrefix("HTTP/1.1 400 Bad Request\r\n") == true, "\(request.debugDescription)")
            close(c)
        }
    }
}
