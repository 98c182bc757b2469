#if canImport(Glibc)
import Glibc
#endif
import CGateway
import Foundation
import Logging
import Testing
@testable import ServerCore

/// A worker's RequestLoop in this process, with `threads` app threads, on
/// a real socket, with real clients: no fork, so `make tsan` runs it under
/// ThreadSanitizer (`swift test --sanitize thread`), where a data race
/// between the loop and the app threads fails it. Without TSan it checks
/// the same behaviour: N requests that wait run side by side, and the
/// loop answers a kept-alive connection while every app thread is busy.
@Suite(.serialized) struct LoopThreadsTests {
    /// The app: `/sleep` waits 0.3 s; `/echo` returns the body it read;
    /// `/path/...` its path; anything else "ok".
    static let descriptor: UnsafeMutablePointer<gateway_app_descriptor> = {
        let d = UnsafeMutablePointer<gateway_app_descriptor>.allocate(capacity: 1)
        d.initialize(to: gateway_app_descriptor(abi_version: GATEWAY_ABI_VERSION, flags: GATEWAY_APP_THREAD_SAFE, name: nil,
                                                init: nil, call: { r in
            guard let r, let api = r.pointee.api else { return GATEWAY_ERROR }
            let path = api.pointee.getenv(r, "PATH_INFO").map { String(cString: $0) } ?? ""
            if path == "/sleep" { usleep(300_000) }
            if path.hasPrefix("/path/nap") { usleep(2_000) }
            var body = [UInt8](repeating: 0, count: 65536)
            var n = 0
            if path == "/echo" {
                while n < body.count {
                    let got = body.withUnsafeMutableBytes { api.pointee.read(r, $0.baseAddress! + n, $0.count - n) }
                    if got <= 0 { break }
                    n += got
                }
            } else if path.hasPrefix("/path/") {
                body = Array(path.utf8); n = body.count  // which request the app was given
            } else {
                body = Array("ok".utf8); n = 2
            }
            _ = api.pointee.start_response(r, "200 OK", nil, 0, 0)
            return body.withUnsafeBytes { api.pointee.write_last(r, $0.baseAddress, n) }
        }, shutdown: nil))
        return d
    }()

    /// Runs a loop with `threads` on a fresh port; `body` gets the port.
    func withLoop(threads: Int, bodyBufferSize: Int = 1024, _ body: (UInt16) throws -> Void) throws {
        var config = Config()
        config.threads = threads
        config.bodyBufferSize = bodyBufferSize
        config.keepaliveTimeout = 5
        let listener = try Listener.bind(.tcp(host: "127.0.0.1", port: 0), backlog: 64, unixMode: 0o600)
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener.fd, $0, &len) } }
        let port = UInt16(bigEndian: addr.sin_port)
        let app = AppHandle(descriptor: UnsafePointer(Self.descriptor), appData: nil)
        let loop = try RequestLoop(settings: .init(config), limits: HTTPLimits(config), listeners: [listener], app: app,
                                   identity: WorkerIdentity(id: 0, generation: 1, pid: getpid()), bodyTimeout: 5,
                                   trustedProxies: [], accessLog: nil, logger: Logger(label: "test"), scoreboard: nil)
        var stop: [Int32] = [0, 0]
        _ = pipe(&stop)
        try loop.watch(stop[0]) { loop.requestStop(.shutdown) }
        let done = DispatchSemaphore(value: 0)
        try! Sys.spawnThread(name: "client") {
            _ = try? loop.run()
            done.signal()
        }
        defer {
            var one: UInt8 = 1
            _ = write(stop[1], &one, 1)
            done.wait()
            close(stop[0]); close(stop[1])  // the loop closed the listener when it stopped
        }
        try body(port)
    }

    /// One request on `fd` (kept alive): the response body.
    func request(_ fd: Int32, _ raw: String) -> String {
        _ = raw.withCString { send(fd, $0, strlen($0), 0) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            out += buf[0..<n]
            let text = String(decoding: out, as: UTF8.self)
            if let head = text.range(of: "\r\n\r\n"),
               let cl = text.range(of: "Content-Length: ")?.upperBound,
               let length = Int(text[cl...].prefix { $0.isNumber }),
               out.count - text.utf8.distance(from: text.startIndex, to: head.upperBound) >= length {
                return String(text[head.upperBound...])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Runs `body(client)` on `count` client threads at once, and waits for all.
    func clients(_ count: Int, _ body: @escaping (Int) -> Void) {
        let group = DispatchGroup()
        for client in 0..<count {
            group.enter()
            try! Sys.spawnThread(name: "client") {
                body(client)
                group.leave()
            }
        }
        group.wait()
    }

    func connect(_ port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Two threads wait in epoll and the rest park (RequestLoop.park()):
    /// each thread going into the app with nobody left in epoll wakes one.
    @Test(arguments: [4, 8]) func requestsThatWaitRunSideBySideOnAThreadEach(threads: Int) throws {
        try withLoop(threads: threads) { port in
            let start = Date()
            let group = DispatchGroup()
            let answers = Answers()
            for _ in 0..<threads {
                group.enter()
                try! Sys.spawnThread(name: "client") {
                    let fd = connect(port)
                    answers.add(request(fd, "GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n"))
                    close(fd)
                    group.leave()
                }
            }
            group.wait()
            #expect(answers.all == Array(repeating: "ok", count: threads))
            #expect(Date().timeIntervalSince(start) < 0.55)  // 0.3 s waits side by side, not two rounds (0.6 s) or more
        }
    }

    @Test func aMixedLoadOnFourThreads() throws {
        try withLoop(threads: 4) { port in
            let answers = Answers()
            clients(6) { client in
                let fd = connect(port)
                for i in 0..<40 {
                    switch (client + i) % 3 {
                    case 0:
                        // The app must be given this request, not another of this connection's.
                        let path = "/path/\(client)-\(i)"
                        let got = request(fd, "GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n")
                        answers.add(got == path ? "ok" : "asked \(path), the app was given \(got.prefix(80).debugDescription)")
                    case 1:
                        let body = String(repeating: "b", count: 3000)  // above body_buffer_size: spooled
                        let got = request(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3000\r\n\r\n" + body)
                        answers.add(got == body ? "ok" : "bad echo: \(got.utf8.count) bytes, \(got.prefix(80).debugDescription) ... \(got.suffix(80).debugDescription)")
                    default: answers.add(request(fd, "GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n"))
                    }
                }
                close(fd)
            }
            #expect(answers.all.count == 240)
            let bad = answers.all.filter { $0 != "ok" }
            #expect(bad.isEmpty, "\(bad.count) bad answers, the first: \(bad.prefix(3).map { String($0.prefix(300)) })")
        }
    }

    @Test func eachRequestIsServedWithItsOwnHeadWhenThreadsTakeTurns() throws {
        // Short requests on 4 threads from 12 clients: requests queue, and one
        // thread parses a head that another serves. The parsing thread's
        // copy must not be taken for a later request of that connection, nor
        // for another client's on the same (reused) Connection: each app
        // call is given its own request (the app answers its path).
        try withLoop(threads: 4) { port in
            let answers = Answers()
            clients(12) { client in
                var kept: Int32 = -1
                for i in 0..<100 {
                    let path = "/path/nap-\(client)-\(i)"
                    if i % 2 == 0 {  // a connection of its own
                        let fd = connect(port)
                        let got = request(fd, "GET \(path) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                        close(fd)
                        answers.add(got == path ? "ok" : "asked \(path), the app was given \(got.prefix(60).debugDescription)")
                    } else {  // one kept alive
                        if kept < 0 { kept = connect(port) }
                        let got = request(kept, "GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n")
                        answers.add(got == path ? "ok" : "asked \(path), the app was given \(got.prefix(60).debugDescription)")
                    }
                }
                if kept >= 0 { close(kept) }
            }
            #expect(answers.all.count == 1200)  // 12 clients x 100
            let bad = answers.all.filter { $0 != "ok" }
            #expect(bad.isEmpty, "\(bad.count) requests given another's head, the first: \(bad.prefix(3))")
        }
    }

    @Test func newConnectionsTakenWhileEveryThreadIsBusyAreServed() throws {
        // 3 kept-alive clients keep both threads busy: the loop stops
        // listening, then takes the new connections one per request, dated
        // from their arrival, into the queue beside the kept-alive requests.
        try withLoop(threads: 2) { port in
            let group = DispatchGroup()
            let answers = Answers()
            for _ in 0..<3 {
                group.enter()
                try! Sys.spawnThread(name: "client") {
                    let fd = connect(port)
                    for _ in 0..<3 { answers.add(request(fd, "GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n")) }
                    close(fd)
                    group.leave()
                }
            }
            usleep(100_000)
            for _ in 0..<6 {
                group.enter()
                try! Sys.spawnThread(name: "client") {
                    let fd = connect(port)
                    answers.add(request(fd, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
                    close(fd)
                    group.leave()
                }
            }
            group.wait()
            #expect(answers.all == Array(repeating: "ok", count: 15))
        }
    }

    @Test func aKeptAliveConnectionIsReadWhileTheOnlyAppThreadIsBusy() throws {
        try withLoop(threads: 1) { port in
            let kept = connect(port)
            #expect(request(kept, "GET / HTTP/1.1\r\nHost: t\r\n\r\n") == "ok")
            let busy = connect(port)
            _ = "GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n".withCString { send(busy, $0, strlen($0), 0) }
            usleep(50_000)
            // Sent while the app sleeps: read by the loop now, served next.
            #expect(request(kept, "GET / HTTP/1.1\r\nHost: t\r\n\r\n") == "ok")
            close(kept); close(busy)
        }
    }
}

/// Answers collected from several client threads.
final class Answers: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}
