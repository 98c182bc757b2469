import Dispatch
import Foundation
import GatewayTesting
import Testing

private let threadsRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path
private let testapp = threadsRoot + "/build/apps/testapp.so"
private let wsgi = threadsRoot + "/build/apps/wsgi.so"

/// Native apps called from several threads at once, as a worker with
/// `threads = 4` calls them: each of 4 requests that sleep 0.5 s on its own
/// thread, all answered in about the time of one.
@Suite(.serialized) struct NativeThreadsTests {
    /// `count` requests to `target`, each from a thread of its own, started together.
    static func concurrently(_ server: TestServer, _ target: String, count: Int = 4) -> (texts: [String], seconds: Double) {
        let lock = NSLock()
        var texts: [String] = []
        let done = DispatchSemaphore(value: 0)
        let start = DispatchTime.now()
        for _ in 0..<count {
            Thread {
                let text = server.execute("GET", target).text
                lock.lock()
                texts.append(text)
                lock.unlock()
                done.signal()
            }.start()
        }
        for _ in 0..<count { done.wait() }
        return (texts, Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: testapp), "needs build/apps/testapp.so: make"))
    func testappSleepsOnFourThreadsAtOnce() throws {
        let server = try TestServer(library: testapp, threads: 4)
        let (texts, seconds) = Self.concurrently(server, "/sleep?seconds=0.5")
        #expect(texts == Array(repeating: "slept 0.5", count: 4))
        #expect(seconds < 1.4)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: wsgi), "needs build/apps/wsgi.so: make"))
    func wsgiLoaderSleepsOnFourThreadsAtOnce() throws {
        // One Python per process: the only test here that loads the loader.
        let server = try TestServer(library: wsgi, arguments: [
            "app": "threaded:application", "pythonpath": threadsRoot + "/Tests/integration/wsgi_apps",
        ], threads: 4)
        let (texts, seconds) = Self.concurrently(server, "/sleep?seconds=0.5")
        #expect(texts == Array(repeating: "slept 0.5", count: 4))
        #expect(seconds < 1.4)
        #expect(server.execute("GET", "/flags").text.hasPrefix("multithread=1 "))
    }
}
