import Foundation
import Testing
@testable import ServerCore

// LogRateLimiter with a fake clock, writing to a real LogFile in a temp dir.
@Suite struct LogRateLimiterTests {
    let sec: UInt64 = 1_000_000_000

    func withLog(_ body: (LogFile, () -> [String]) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "ratelimit-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try LogFile(path: path)
        try body(file) {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
    }

    @Test func aRepeatedLineIsWrittenOnceThenCounted() throws {
        try withLog { file, lines in
            let limiter = LogRateLimiter()
            let t0: UInt64 = 100 * sec
            for i in 0..<500 {
                limiter.write(line: "01/Dec/2026:09:00:0\(i % 10) +0000 [error] [worker 7] accept4() failed: EMFILE", to: file, now: t0 + UInt64(i) * 1_000_000)
            }
            #expect(lines().count == 1)
            limiter.flush(now: t0 + sec / 2)
            #expect(lines().count == 1, "the second is not over")
            limiter.flush(now: t0 + sec)
            let all = lines()
            #expect(all.count == 2)
            #expect(all[1].hasSuffix("accept4() failed: EMFILE (499 more like it in the last second)"))
            // the next one opens a new window
            limiter.write(line: "01/Dec/2026:09:00:02 +0000 [error] [worker 7] accept4() failed: EMFILE", to: file, now: t0 + 2 * sec)
            #expect(lines().count == 3)
        }
    }

    @Test func linesThatDifferAfterTheTimestampPass() throws {
        try withLog { file, lines in
            let limiter = LogRateLimiter()
            for pid in 0..<20 {
                limiter.write(line: "01/Dec/2026:09:00:00 +0000 [error] [master 1] worker \(pid) was killed by SIGABRT", to: file, now: sec)
            }
            #expect(lines().count == 20)
        }
    }

    @Test func aRepeatAfterTheWindowWritesTheCountFirst() throws {
        try withLog { file, lines in
            let limiter = LogRateLimiter()
            let line = "01/Dec/2026:09:00:00 +0000 [warning] [worker 3] worker_connections (5) reached"
            limiter.write(line: line, to: file, now: sec)
            limiter.write(line: line, to: file, now: sec + 10)
            limiter.write(line: line, to: file, now: 3 * sec)
            #expect(lines() == [line, line + " (1 more like it in the last second)", line])
        }
    }
}
