import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import ServerCore
import Logging

/// nginx's escape=default: `"`, `\`, bytes below 0x20 and from 0x7F up
/// become \xHH (uppercase hex); the error log's set keeps `"`.
@Suite struct LogEscapeTests {
    func access(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        bytes.withUnsafeBufferPointer { LogEscape.access.append($0, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    @Test func plainBytesPassThrough() {
        #expect(access(Array("GET /a?b=c HTTP/1.1 ~!#$%&'()*+,-./:;<=>?@[]^_`{|}".utf8))
                == "GET /a?b=c HTTP/1.1 ~!#$%&'()*+,-./:;<=>?@[]^_`{|}")
        #expect(access([]) == "")
    }

    @Test func controlBytesQuoteAndBackslash() {
        #expect(access(Array("a\r\nb".utf8)) == "a\\x0D\\x0Ab")
        #expect(access([0x00, 0x09, 0x1B, 0x1F, 0x20, 0x7E, 0x7F]) == "\\x00\\x09\\x1B\\x1F ~\\x7F")
        #expect(access(Array("\"q\" \\".utf8)) == "\\x22q\\x22 \\x5C")
    }

    @Test func bytesFrom0x80Up() {
        #expect(access([0x80, 0xC3, 0xA9, 0xFF]) == "\\x80\\xC3\\xA9\\xFF")
    }

    @Test func everyByteValue() {
        for b in 0...255 {
            let escaped = b < 0x20 || b >= 0x7F || b == 0x22 || b == 0x5C
            let expected = escaped ? "\\x" + String(b, radix: 16, uppercase: true).leftPadded(2) : String(UnicodeScalar(UInt8(b)))
            #expect(access([UInt8(b)]) == expected, "byte \(b)")
            #expect(LogEscape.access.needsEscape(UInt8(b)) == escaped)
            #expect(LogEscape.errorLog.needsEscape(UInt8(b)) == (escaped && b != 0x22))
        }
    }

    @Test func errorLogKeepsQuotes() {
        #expect(LogEscape.errorLog.escaped("invalid header name \"X\nY\\\"") == "invalid header name \"X\\x0AY\\x5C\"")
        #expect(LogEscape.errorLog.escaped("café") == "caf\\xC3\\xA9")
    }

    @Test func stringWithNothingToEscapeIsReturnedAsIs() {
        let s = "worker 3 booted (pid 1234)"
        #expect(LogEscape.errorLog.escaped(s) == s)
        #expect(LogEscape.access.escaped("a\"b") == "a\\x22b")
    }

    @Test func appendKeepsWhatIsThere() {
        var out = Array("x=".utf8)
        Array("1\n".utf8).withUnsafeBufferPointer { LogEscape.access.append($0, to: &out) }
        #expect(String(decoding: out, as: UTF8.self) == "x=1\\x0A")
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

/// Every logger call goes through ErrorLogHandler: one call, one line (or,
/// for a message of several lines, one line per line under the same prefix).
@Suite struct ErrorLogHandlerTests {
    @Test func messageAndMetadataAreEscapedOnOneLine() throws {
        let path = "/tmp/gatewayd-errorlog-\(Sys.getpid()).log"
        defer { _ = path.withCString { unlink($0) } }
        let file = try LogFile(path: path)
        var handler = ErrorLogHandler(label: "worker", file: file, level: .info)
        handler[metadataKey: "req"] = "GET /\n2026 [error] forged"
        handler.log(event: LogEvent(level: .warning, message: "app said \"hi\"\r\nforged line", metadata: [:],
                                    source: "test", file: #file, function: #function, line: #line))
        let text = try FileReader.readText(path)
        // The message's line break starts a continuation line ("| "), under
        // the same prefix; the metadata stays on the first line, escaped.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines[2].isEmpty, "\(text)")
        #expect(lines[0].hasSuffix("] app said \"hi\" req=GET /\\x0A2026 [error] forged"), "\(text)")
        #expect(lines[1].hasSuffix("[warning] [worker \(Sys.getpid())] | forged line"), "\(text)")
    }
}
