import CSupport
import Foundation
import Testing
@testable import ServerCore

/// A message of several lines (a traceback) in the text format: one log line
/// per line, each under the event's prefix, the later ones marked "| ", so a
/// reader (journald, docker logs) shows it and nothing in it starts an event
/// of its own. JSON keeps one record.
@Suite struct LogContinuationTests {
    let text = Int32(GW_LOG_TEXT), json = Int32(GW_LOG_JSON), journal = Int32(GW_LOG_JOURNAL)
    let traceback = "wsgi: exception in the app\nTraceback (most recent call last):\n  File \"/srv/app.py\", line 3, in app\n    raise ValueError(\"x\")\nValueError: x\n"

    @Test func eachLineOfATracebackIsALogLine() {
        let r = LogRecord(level: "error", source: "worker", pid: 42, message: traceback, fields: [("gen", "1")])
        let lines = r.line(mode: text | journal).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines == [
            "<3>[error] [worker 42] wsgi: exception in the app gen=1",
            "<3>[error] [worker 42] | Traceback (most recent call last):",
            "<3>[error] [worker 42] |   File \"/srv/app.py\", line 3, in app",
            "<3>[error] [worker 42] |     raise ValueError(\"x\")",
            "<3>[error] [worker 42] | ValueError: x",
        ])
        let timed = r.line(mode: text).split(separator: "\n").map(String.init)
        #expect(timed.count == 5)
        for l in timed {
            #expect(l.range(of: #"^\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4} \[error\] \[worker 42\] "#,
                            options: .regularExpression) != nil, "\(l)")
        }
    }

    @Test func nothingForgesAnEventOrAContinuation() {
        // A message cannot start a line of its own that looks like another event...
        let forged = LogRecord(level: "info", source: "worker", pid: 1, message: "a\r\n[error] [master 1] fake\rz")
        let lines = forged.line(mode: text | journal).split(separator: "\n").map(String.init)
        #expect(lines == ["<6>[info] [worker 1] a", "<6>[info] [worker 1] | [error] [master 1] fake\\x0Dz"])
        // ...nor pass for the continuation of the previous one.
        let pipe = LogRecord(level: "info", source: "worker", pid: 1, message: "| not a continuation")
        #expect(pipe.line(mode: text | journal) == "<6>[info] [worker 1] \\x7C not a continuation")
    }

    @Test func jsonKeepsOneRecord() throws {
        let r = LogRecord(level: "error", source: "worker", pid: 42, message: traceback)
        let line = r.line(mode: json)
        #expect(!line.contains("\n"))
        let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(o["message"] as? String == traceback)
    }
}
