import CSupport
import Foundation
import Testing
@testable import ServerCore

/// log_format and the journal: the line forms of LogRecord (the same C
/// function the stack-dump handler writes with), read back as a reader would.
@Suite struct LogFormatTests {
    let text = Int32(GW_LOG_TEXT), json = Int32(GW_LOG_JSON), journal = Int32(GW_LOG_JOURNAL)

    func object(_ line: String) throws -> [String: Any] {
        let o = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(o as? [String: Any], "\(line)")
    }

    @Test func textKeepsTheClassicFormAndEscapes() {
        let r = LogRecord(level: "warning", source: "worker", pid: 42, message: "app said \"hi\"\r\nforged",
                          fields: [("gen", "1")])
        let line = r.line(mode: text)
        // 01/Dec/2026:09:00:00 +0000 [warning] [worker 42] ...
        #expect(line.range(of: #"^\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4} \[warning\] \[worker 42\] "#,
                           options: .regularExpression) != nil, "\(line)")
        // A line break ends the line: what follows is the event's next line,
        // under the same prefix and marked "| " (LogContinuationTests).
        let lines = line.split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines[0].hasSuffix("] app said \"hi\" gen=1") && lines[1].hasSuffix("[warning] [worker 42] | forged"), "\(line)")
        let cr = LogRecord(level: "warning", source: "worker", pid: 42, message: "a\rb\u{1B}[31m").line(mode: text)
        #expect(cr.hasSuffix("] a\\x0Db\\x1B[31m"), "\(cr)")
    }

    @Test func jsonIsOneObjectWithTheDocumentedKeys() throws {
        let nasty = "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} del \u{7F} é 日本 🙂"
        let r = LogRecord(level: "error", source: "master", pid: 7, message: nasty, fields: [("gen", "2"), ("pid", "x")])
        let line = r.line(mode: json)
        #expect(!line.contains("\n"))
        let o = try object(line)
        #expect(o["level"] as? String == "error" && o["source"] as? String == "master" && o["pid"] as? Int == 7)
        #expect(o["message"] as? String == nasty)
        #expect(o["gen"] as? String == "2")
        #expect(o["meta_pid"] as? String == "x", "metadata does not take a reserved key")
        let time = try #require(o["time"] as? String)
        #expect(time.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$"#, options: .regularExpression) != nil, "\(time)")
    }

    @Test func invalidUTF8BecomesTheReplacementCharacter() throws {
        let bytes: [UInt8] = Array("a".utf8) + [0xFF, 0xC3] + Array("b".utf8)
        let msg = String(decoding: bytes, as: UTF8.self)  // already U+FFFD in Swift; the C side too
        let line = LogRecord(level: "info", source: "worker", pid: 1, message: msg).line(mode: json)
        #expect(try object(line)["message"] as? String == "a\u{FFFD}\u{FFFD}b")
        // and straight from bytes, as the stack-dump handler writes them
        var out = [CChar](repeating: 0, count: 256)
        let n = bytes.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { gw_log_line(&out, 256, json, 6, "info", "worker", 1, $0.baseAddress!, $0.count) }
        }
        let raw = String(decoding: out[..<(n - 1)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(try object(raw)["message"] as? String == "a\u{FFFD}\u{FFFD}b", "\(raw)")
    }

    @Test func aMessageTooLongForTheLineIsCutAndTheJSONStillCloses() throws {
        let msg = String(repeating: "\"é", count: 400)
        var out = [CChar](repeating: 0, count: 300)
        let n = msg.withCString { gw_log_line(&out, 300, json, 3, "error", "worker", 1, $0, strlen($0)) }
        #expect(n <= 300 && out[n - 1] == 10)
        let line = String(decoding: out[..<(n - 1)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let m = try #require(try object(line)["message"] as? String)
        #expect(msg.hasPrefix(m) && !m.isEmpty)
    }

    @Test func journalLinesHaveAPriorityAndNoTimestamp() throws {
        let r = LogRecord(level: "error", source: "master", pid: 9, message: "worker 3 timed out")
        #expect(r.line(mode: text | journal) == "<3>[error] [master 9] worker 3 timed out")
        #expect(LogRecord(level: "info", source: "worker", pid: 9, message: "m").line(mode: text | journal).hasPrefix("<6>["))
        #expect(LogRecord(level: "warning", source: "worker", pid: 9, message: "m").line(mode: text | journal).hasPrefix("<4>["))
        #expect(LogRecord(level: "critical", source: "master", pid: 9, message: "m").line(mode: text | journal).hasPrefix("<2>["))
        let j = r.line(mode: json | journal)
        #expect(j.hasPrefix("<3>{"))
        let o = try object(String(j.dropFirst(3)))
        #expect(o["time"] == nil && o["message"] as? String == "worker 3 timed out")
    }

    @Test func journalStreamMatchesOnlyItsDeviceAndInode() throws {
        let path = NSTemporaryDirectory() + "journal-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fd = try Sys.open(path, O_WRONLY | O_CREAT, 0o600)
        defer { Sys.close(fd) }
        let id = try #require(Sys.deviceAndInode(fd))
        #expect(JournalStream.matches(fd, environment: "\(id.device):\(id.inode)"))
        #expect(!JournalStream.matches(fd, environment: "\(id.device):\(id.inode + 1)"))
        #expect(!JournalStream.matches(fd, environment: nil))
        #expect(!JournalStream.matches(fd, environment: "garbage"))
    }

    @Test func aRateLimitedJSONLineSaysHowManyAndStaysJSON() throws {
        let path = NSTemporaryDirectory() + "ratelimit-json-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try LogFile(path: path, format: .json)
        let limiter = LogRateLimiter()
        let r = LogRecord(level: "error", source: "worker", pid: 3, message: "accept4() failed: EMFILE")
        for i in 0..<50 { limiter.write(record: r, to: file, now: 1_000_000_000 + UInt64(i)) }
        limiter.flush(now: 3_000_000_000)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(try object(lines[1])["message"] as? String == "accept4() failed: EMFILE (49 more like it in the last second)")
    }
}
