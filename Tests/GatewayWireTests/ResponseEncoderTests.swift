#if canImport(Glibc)
import Glibc
#endif
import CGateway
import Foundation
import CSupport
import Testing
@testable import GatewayWire

/// The response output as plain bytes: what a client would read.
final class BufferOutput: ResponseOutput {
    var bytes: [UInt8] = []
    var sends = 0
    /// Fail every send once this many bytes went out (a client that left).
    var goneAfter = Int.max

    func send(_ p: UnsafeRawPointer, _ n: Int) -> Bool {
        sends += 1
        guard bytes.count + n <= goneAfter else { return false }
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: p, count: n))
        return true
    }

    func send(_ a: UnsafeRawPointer, _ an: Int, _ b: UnsafeRawPointer, _ bn: Int) -> Bool {
        send(a, an) && send(b, bn)
    }

    func sendFile(_ fd: Int32, offset: off_t, count: Int) -> (SendFileResult, sent: Int) {
        var buf = [UInt8](repeating: 0, count: count)
        let n = pread(fd, &buf, count, offset)
        if n < count { if n > 0 { bytes.append(contentsOf: buf[0..<n]) }; return (.fileShort, max(n, 0)) }
        bytes.append(contentsOf: buf)
        return (.sent, count)
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// A worker's scoreboard slot: the encoder claims the response there.
    var scoreboard: UnsafeMutablePointer<gw_score_slot>?

    func claimResponse() -> Bool { scoreboard.map { gw_score_claim_worker($0) != 0 } ?? true }
}

/// An encoder on a BufferOutput, with Swift-string helpers for the C calls.
struct Harness {
    let output = BufferOutput()
    let encoder: ResponseEncoder<BufferOutput>
    var logs: [String] { logBox.lines }
    let logBox = LogBox()

    final class LogBox { var lines: [String] = [] }

    init(_ request: ResponseEncoder<BufferOutput>.Request = .init()) {
        encoder = ResponseEncoder(output: output)
        let box = logBox
        encoder.setLog { _, message in box.lines.append(message) }
        encoder.clock = { 1_796_115_600 }  // Tue, 01 Dec 2026 09:00:00 GMT
        encoder.begin(request)
    }

    @discardableResult
    func start(_ status: String, _ headers: [(String, String)] = [], flags: Int32 = 0) -> Int32 {
        let names = headers.map { strdup($0.0)! }, values = headers.map { strdup($0.1)! }
        defer { names.forEach { free($0) }; values.forEach { free($0) } }
        let pairs = (0..<headers.count).map { gateway_pair(name: names[$0], value: values[$0]) }
        return status.withCString { s in pairs.withUnsafeBufferPointer { encoder.start(s, $0.baseAddress, $0.count, flags) } }
    }

    @discardableResult
    func write(_ body: String, last: Bool = false) -> Int32 {
        var b = Array(body.utf8)
        return b.withUnsafeMutableBytes { encoder.write($0.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 1), $0.count, last: last) }
    }

    func finish(_ result: Int32 = GATEWAY_OK, bodyError: HTTPError? = nil) {
        encoder.finish(appResult: result, bodyError: bodyError)
    }

    var wire: String { output.text }
    var head: String { wire.components(separatedBy: "\r\n\r\n").first ?? "" }
    var body: String { wire.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n") }
    var headLines: [String] { head.components(separatedBy: "\r\n") }
    func header(_ name: String) -> [String] {
        headLines.dropFirst().filter { $0.lowercased().hasPrefix(name.lowercased() + ":") }
            .map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces) }
    }
}

@Suite struct ResponseFramingTests {
    /// Issue 25: the Date is read when the head is written, not up to a
    /// tick (or an app call) earlier.
    @Test func theDateIsReadWhenTheHeadIsWritten() {
        let h = Harness()
        var now = 1_796_115_600
        h.encoder.clock = { now }
        now += 3  // a long app call
        #expect(h.start("200 OK") == GATEWAY_OK)
        #expect(h.write("x", last: true) == GATEWAY_OK)
        h.finish()
        #expect(h.header("Date") == ["Tue, 01 Dec 2026 09:00:03 GMT"])
    }

    @Test func writeLastSetsTheLength() {
        let h = Harness()
        #expect(h.start("200 OK", [("Content-Type", "text/plain")]) == GATEWAY_OK)
        #expect(h.write("Hello", last: true) == GATEWAY_OK)
        h.finish()
        #expect(h.headLines[0] == "HTTP/1.1 200 OK")
        #expect(h.header("Content-Length") == ["5"])
        #expect(h.header("Server") == ["gatewayd"])
        #expect(h.header("Date") == ["Tue, 01 Dec 2026 09:00:00 GMT"])
        #expect(h.header("Connection").isEmpty)
        #expect(h.body == "Hello")
        #expect(h.output.sends == 1)
        #expect(h.encoder.end == .keepOpen)
    }

    @Test func streamedBodyIsChunked() {
        let h = Harness()
        h.start("200 OK")
        #expect(h.write("abc") == GATEWAY_OK)
        #expect(h.write("") == GATEWAY_OK)
        #expect(h.write("0123456789abcdef0") == GATEWAY_OK)
        h.finish()
        #expect(h.header("Transfer-Encoding") == ["chunked"])
        #expect(h.header("Content-Length").isEmpty)
        #expect(h.body == "3\r\nabc\r\n11\r\n0123456789abcdef0\r\n0\r\n\r\n")
    }

    @Test func writeLastEndsAChunkedBody() {
        let h = Harness()
        h.start("200 OK")
        h.write("ab")
        h.write("cd", last: true)
        #expect(h.body == "2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n")
        #expect(h.write("x") == GATEWAY_ERROR)
        #expect(h.encoder.failure == .notNow)
        h.finish()
        #expect(h.body == "2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n")
    }

    @Test func http10WithoutLengthClosesTheConnection() {
        let h = Harness(.init(clientHTTP10: true))
        h.start("200 OK")
        h.write("abc")
        h.finish()
        #expect(h.header("Connection") == ["close"])
        #expect(h.header("Transfer-Encoding").isEmpty)
        #expect(h.body == "abc")
        #expect(h.encoder.end == .close)
    }

    @Test func fastcgiStreamsWithoutChunksAndKeepsTheConnection() {
        let h = Harness(.init(dialect: FastCGIConformance.dialect))
        h.start("200 OK")
        h.write("ab")
        h.write("cd")
        h.finish()
        #expect(h.output.text.hasPrefix("Status: 200 OK\r\n"))
        #expect(h.header("Transfer-Encoding").isEmpty)
        #expect(h.header("Connection").isEmpty)
        #expect(h.body == "abcd")
        #expect(h.encoder.end == .keepOpen)
    }

    @Test func fastcgiErrorsAreCGIResponsesWithoutConnection() {
        let h = Harness(.init(dialect: FastCGIConformance.dialect))
        h.encoder.sendError(504, reason: "test", end: .keepOpen)
        #expect(h.output.text.hasPrefix("Status: 504 Gateway Timeout\r\n"))
        #expect(h.header("Connection").isEmpty)
    }

    @Test func behindAProxyNoServerOrDateButTheAppsPass() {
        let h = Harness(.init(dialect: FastCGIConformance.dialect))
        h.start("200 OK")
        h.write("ab", last: true)
        #expect(h.header("Server").isEmpty && h.header("Date").isEmpty)
        let own = Harness(.init(dialect: UWSGIConformance.dialect))
        own.start("200 OK", [("Server", "myapp"), ("Date", "Tue, 01 Dec 2026 08:00:00 GMT")])
        own.write("ab", last: true)
        #expect(own.header("Server") == ["myapp"] && own.header("Date").count == 1)
        let http = Harness()
        http.start("200 OK")
        http.write("ab", last: true)
        #expect(http.header("Server") == ["gatewayd"] && http.header("Date").count == 1)
    }

    @Test func behindAProxyTheServersErrorsHaveNoServerOrDate() {
        let h = Harness(.init(close: true, dialect: UWSGIConformance.dialect))
        h.encoder.sendError(400, reason: "test", end: .close)
        #expect(h.output.text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(h.header("Server").isEmpty && h.header("Date").isEmpty)
        #expect(h.header("Content-Length") == ["16"])
    }

    @Test func http10KeepAliveWithALength() {
        let h = Harness(.init(clientHTTP10: true))
        h.start("200 OK")
        h.write("abc", last: true)
        #expect(h.header("Connection") == ["keep-alive"])
        #expect(h.header("Content-Length") == ["3"])
    }

    @Test func connectionCloseRequested() {
        let h = Harness(.init(close: true))
        h.start("200 OK")
        h.write("abc", last: true)
        #expect(h.header("Connection") == ["close"])
        #expect(h.encoder.end == .close)
    }

    @Test func headWithKnownLengthSaysItButSendsNoBody() {
        let h = Harness(.init(isHead: true))
        h.start("200 OK")
        #expect(h.write("Hello", last: true) == GATEWAY_OK)
        #expect(h.header("Content-Length") == ["5"])
        #expect(h.wire.hasSuffix("\r\n\r\n"))
        #expect(h.body == "")
        #expect(h.encoder.bodySent == 0)
    }

    @Test func headWithEmptyBodyAndNoLengthSaysNoLength() {
        // Werkzeug answers HEAD of a streamed response like this: GET's
        // length is unknown, so none may be claimed (RFC 9110 §8.6).
        let h = Harness(.init(isHead: true))
        h.start("200 OK", [("Content-Type", "text/html")])
        h.finish()
        #expect(h.headLines[0] == "HTTP/1.1 200 OK")
        #expect(h.header("Content-Length").isEmpty)
        #expect(h.header("Transfer-Encoding").isEmpty)
        #expect(h.body == "")
    }

    @Test func headKeepsTheAppsLength() {
        let h = Harness(.init(isHead: true))
        h.start("200 OK", [("Content-Length", "42")])
        h.finish()
        #expect(h.header("Content-Length") == ["42"])
        #expect(h.body == "")
    }

    @Test func getWithEmptyBodySaysZero() {
        let h = Harness()
        h.start("200 OK")
        h.finish()
        #expect(h.header("Content-Length") == ["0"])
    }

    @Test(arguments: ["204 No Content", "304 Not Modified"])
    func bodylessStatuses(status: String) {
        let h = Harness()
        h.start(status)
        #expect(h.write("ignored", last: true) == GATEWAY_OK)
        h.finish()
        #expect(h.header("Content-Length").isEmpty)
        #expect(h.header("Transfer-Encoding").isEmpty)
        #expect(h.body == "")
    }

    @Test func noContentLengthOn204() {
        let h = Harness()
        h.start("204 No Content", [("Content-Length", "0")])
        h.finish()
        #expect(h.header("Content-Length").isEmpty)
    }

    @Test func appContentLengthIsTheFraming() {
        let h = Harness()
        h.start("200 OK", [("Content-Length", "10")])
        #expect(h.write("01234") == GATEWAY_OK)
        #expect(h.write("56789") == GATEWAY_OK)
        h.finish()
        #expect(h.header("Content-Length") == ["10"])
        #expect(h.header("Transfer-Encoding").isEmpty)
        #expect(h.body == "0123456789")
        #expect(h.encoder.end == .keepOpen)
    }

    @Test func aWritePastTheLengthSendsNothing() {
        // The bug: Content-Length 5 and write(10) used to send "01234" as a
        // complete-looking 200.
        let h = Harness()
        h.start("200 OK", [("Content-Length", "5")])
        #expect(h.write("0123456789") == GATEWAY_ERROR)
        #expect(h.encoder.failure == .length)
        #expect(h.wire == "")
        h.finish()
        // Nothing reached the client: it gets a 500 instead of a lie.
        #expect(h.headLines[0] == "HTTP/1.1 500 Internal Server Error")
        #expect(!h.wire.contains("01234"))
    }

    @Test func aWritePastTheLengthAfterSomeBytesAborts() {
        let h = Harness()
        h.start("200 OK", [("Content-Length", "5")])
        #expect(h.write("012") == GATEWAY_OK)
        #expect(h.write("3456") == GATEWAY_ERROR)
        h.finish()
        #expect(h.body == "012")
        #expect(h.encoder.phase == .aborted)
        #expect(h.encoder.end == .drop)
    }

    @Test func aWritePastTheLengthCanBeFollowedByTheRightOne() {
        let h = Harness()
        h.start("200 OK", [("Content-Length", "5")])
        #expect(h.write("0123456789") == GATEWAY_ERROR)
        #expect(h.write("01234", last: true) == GATEWAY_OK)
        h.finish()
        #expect(h.body == "01234")
        #expect(h.encoder.end == .keepOpen)
    }

    @Test func shortBodyAborts() {
        let h = Harness()
        h.start("200 OK", [("Content-Length", "10")])
        h.write("abc")
        h.finish()
        #expect(h.body == "abc")
        #expect(h.encoder.end == .drop)
        #expect(h.logs.contains { $0.contains("3 of the 10 bytes") })
    }

    @Test func declaredLengthButNoBodyIs500() {
        let h = Harness()
        h.start("200 OK", [("Content-Length", "10")])
        h.finish()
        #expect(h.headLines[0] == "HTTP/1.1 500 Internal Server Error")
    }

    @Test func appDateAndServerReplaceTheServers() {
        let h = Harness()
        h.start("200 OK", [("Date", "Mon, 01 Jan 2024 00:00:00 GMT"), ("Server", "myapp/1")])
        h.write("x", last: true)
        #expect(h.header("Date") == ["Mon, 01 Jan 2024 00:00:00 GMT"])
        #expect(h.header("Server") == ["myapp/1"])
    }

    @Test func twoDifferentContentLengthsAreRefused() {
        let h = Harness()
        #expect(h.start("200 OK", [("Content-Length", "5"), ("Content-Length", "7")]) == GATEWAY_ERROR)
        #expect(h.encoder.failure == .badResponse)
        h.write("12345")
        h.finish()
        #expect(h.headLines[0] == "HTTP/1.1 500 Internal Server Error")
    }

    @Test func theSameContentLengthTwiceIsSentOnce() {
        let h = Harness()
        #expect(h.start("200 OK", [("Content-Length", "5"), ("content-length", "5")]) == GATEWAY_OK)
        h.write("12345", last: true)
        #expect(h.header("Content-Length") == ["5"])
    }

    @Test(arguments: ["abc", "5, 5", "-1", " 5", "5 ", "+5", "", "1234567890123456789"])
    func invalidContentLengthIsRefused(value: String) {
        let h = Harness()
        #expect(h.start("200 OK", [("Content-Length", value)]) == GATEWAY_ERROR)
        #expect(h.encoder.failure == .badResponse)
    }

    @Test(arguments: ["100 Continue", "101 Switching Protocols", "199 Odd", "600 Beyond", "999 Nope", "099 Low",
                      "20 OK", "2000 OK", "abc", "200\tOK", "200 OK\r\nX: y"])
    func statusesOutsideTheFinalRangeAreRefused(status: String) {
        let h = Harness()
        #expect(h.start(status) == GATEWAY_ERROR)
        #expect(h.encoder.failure == .badResponse)
        h.finish()
        #expect(h.headLines[0] == "HTTP/1.1 500 Internal Server Error")
    }

    @Test func statusWithoutReasonGetsTheStandardPhrase() {
        let h = Harness()
        #expect(h.start("200") == GATEWAY_OK)
        h.write("x", last: true)
        #expect(h.headLines[0] == "HTTP/1.1 200 OK")
        let g = Harness()
        #expect(g.start("299 ") == GATEWAY_OK)
        g.write("x", last: true)
        #expect(g.headLines[0] == "HTTP/1.1 299 ")
    }

    @Test func hopByHopHeadersAreRefused() {
        for name in ["Connection", "Transfer-Encoding", "Upgrade", "Keep-Alive", "TE", "Trailer", "Proxy-Connection"] {
            let h = Harness()
            #expect(h.start("200 OK", [(name, "x")]) == GATEWAY_ERROR, "\(name)")
        }
    }

    @Test func aStatusHeaderIsRefusedOnEveryProtocol() {
        // Over SCGI and FastCGI it would be a second CGI Status line, which nginx takes for the status.
        for cgi in [false, true] {
            for name in ["Status", "status", "STATUS"] {
                let h = Harness(.init(dialect: cgi ? FastCGIConformance.dialect : HTTPConformance.dialect))
                #expect(h.start("200 OK", [(name, "302 Found")]) == GATEWAY_ERROR, "\(name)")
                #expect(h.encoder.failure == .badResponse)
                h.finish()
                #expect(h.headLines[0].hasSuffix("500 Internal Server Error"), "\(h.headLines)")
                #expect(!h.headLines.contains { $0.hasPrefix("Status: 302") })
            }
        }
    }

    @Test func writeBeforeStartIsRefusedWithItsName() {
        let h = Harness()
        #expect(h.write("x", last: true) == GATEWAY_ERROR)
        #expect(h.encoder.failure == .notNow)
        #expect(h.logs.last == "write_last() before start_response()")
        #expect(h.write("x") == GATEWAY_ERROR)
        #expect(h.logs.last == "write() before start_response()")
        h.finish()
        #expect(h.headLines[0] == "HTTP/1.1 500 Internal Server Error")
        #expect(h.encoder.end == .keepOpen)
    }

    @Test func secondStartNeedsReplace() {
        let h = Harness()
        h.start("200 OK")
        #expect(h.start("201 Created") == GATEWAY_ERROR)
        #expect(h.encoder.failure == .notNow)
        let g = Harness()
        g.start("200 OK")
        #expect(g.start("503 Service Unavailable", flags: GATEWAY_REPLACE) == GATEWAY_OK)
        g.write("x", last: true)
        #expect(g.headLines[0] == "HTTP/1.1 503 Service Unavailable")
    }

    @Test func replaceAfterTheHeadIsRefused() {
        let h = Harness()
        h.start("200 OK")
        h.write("abc")
        #expect(h.start("500 Oops", flags: GATEWAY_REPLACE) == GATEWAY_ERROR)
        #expect(h.encoder.failure == .notNow)
    }

    @Test func appErrorBeforeTheHeadIs500AndKeepsTheConnection() {
        let h = Harness()
        h.start("200 OK")
        h.finish(GATEWAY_ERROR)
        #expect(h.headLines[0] == "HTTP/1.1 500 Internal Server Error")
        #expect(h.header("Date").count == 1)
        #expect(h.encoder.end == .keepOpen)
    }

    @Test func appErrorAfterTheHeadAborts() {
        let h = Harness()
        h.start("200 OK")
        h.write("partial")
        h.finish(GATEWAY_ERROR)
        #expect(h.body == "7\r\npartial\r\n")
        #expect(!h.wire.contains("0\r\n\r\n"))
        #expect(h.encoder.end == .drop)
    }

    @Test func bodyErrorWinsOverTheAppsResponse() {
        let h = Harness()
        h.start("200 OK")
        h.finish(GATEWAY_OK, bodyError: HTTPError(413, "chunked body above max_body_size"))
        #expect(h.headLines[0] == "HTTP/1.1 413 Content Too Large")
        #expect(h.header("Connection") == ["close"])
        #expect(h.encoder.end == .close)
    }

    @Test func clientGoneStopsEverything() {
        let h = Harness()
        h.output.goneAfter = 0
        h.start("200 OK")
        #expect(h.write("abc", last: true) == GATEWAY_ERROR)
        #expect(h.encoder.failure == .clientGone)
        #expect(h.encoder.end == .drop)
        h.finish()
        #expect(h.wire == "")
    }

    @Test func errorResponseForHeadHasNoBody() {
        let h = Harness(.init(isHead: true))
        h.finish(GATEWAY_ERROR)
        #expect(h.headLines[0] == "HTTP/1.1 500 Internal Server Error")
        #expect(h.body == "")
    }

    @Test func sendfileFraming() throws {
        let path = "/tmp/gw-encoder-\(getpid())"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        defer { close(fd); unlink(path) }
        _ = "abcdef".withCString { Glibc.write(fd, $0, 6) }
        let h = Harness()
        h.start("200 OK", [("Content-Length", "6")])
        #expect(h.encoder.sendFile(fd, 0, 6) == GATEWAY_OK)
        h.finish()
        #expect(h.body == "abcdef")
        // A file shorter than the count, or no file at all: refused before
        // the head goes out, so the client gets a 500, not a broken 200.
        for (file, count) in [(fd, 10), (Int32(9999), 1)] {
            let short = Harness()
            short.start("200 OK", [("Content-Length", "\(count)")])
            #expect(short.encoder.sendFile(file, 0, count) == GATEWAY_ERROR)
            #expect(short.encoder.failure == .file)
            #expect(short.wire == "")
            short.finish(GATEWAY_ERROR)
            #expect(short.headLines[0] == "HTTP/1.1 500 Internal Server Error")
        }
    }

    @Test func aRefusedStartStaysRefused() {
        let h = Harness()
        #expect(h.start("200 OK", [("Connection", "x")]) == GATEWAY_ERROR)
        #expect(h.start("200 OK") == GATEWAY_ERROR)
        #expect(h.start("200 OK", flags: GATEWAY_REPLACE) == GATEWAY_ERROR)
        #expect(h.write("d", last: true) == GATEWAY_ERROR)
        h.finish()
        #expect(h.headLines[0] == "HTTP/1.1 500 Internal Server Error")
        let twice = Harness()
        twice.start("200 OK")
        #expect(twice.start("201 Created") == GATEWAY_ERROR)
        #expect(twice.write("x", last: true) == GATEWAY_ERROR)
        twice.finish()
        #expect(twice.headLines[0] == "HTTP/1.1 500 Internal Server Error")
    }

    @Test func resetContentHasNoBody() {
        let h = Harness()
        h.start("205 Reset Content", [("Content-Length", "4")])
        h.write("body", last: true)
        #expect(h.header("Content-Length") == ["0"])
        #expect(h.body == "")
    }

    @Test func serverResponsesCountTheirBody() {
        let h = Harness()
        h.finish(GATEWAY_ERROR)
        #expect(h.encoder.bodySent == "500 Internal Server Error\n".utf8.count)
    }

    @Test func largeHeadersGoOutAhead() {
        let h = Harness()
        let big = String(repeating: "v", count: 8000)
        let headers = (0..<10).map { ("X-Big-\($0)", big) }
        #expect(h.start("200 OK", headers) == GATEWAY_OK)
        h.write("body", last: true)
        #expect(h.headLines.count == 1 + 2 + 10 + 1)
        #expect(h.body == "body")
    }

    @Test func aTimeoutClaimedByTheMasterSendsNothing() {
        let slot = UnsafeMutablePointer<gw_score_slot>.allocate(capacity: 1)
        slot.initialize(to: gw_score_slot())
        defer { slot.deallocate() }
        gw_score_begin(slot, 7, "GET", 3, "/", 1, 0)
        let h = Harness()
        h.output.scoreboard = slot
        h.start("200 OK")
        #expect(gw_score_claim_master(slot, slot.pointee.request_serial) == 1)
        #expect(h.write("late", last: true) == GATEWAY_ERROR)
        #expect(h.encoder.failure == .timeout)
        #expect(h.encoder.end == .handOver)
        h.finish()
        #expect(h.wire == "")
    }

    @Test func theMasterCannotClaimAStartedResponse() {
        let slot = UnsafeMutablePointer<gw_score_slot>.allocate(capacity: 1)
        slot.initialize(to: gw_score_slot())
        defer { slot.deallocate() }
        gw_score_begin(slot, 7, "GET", 3, "/", 1, 0)
        let serial = slot.pointee.request_serial
        let h = Harness()
        h.output.scoreboard = slot
        h.start("200 OK")
        #expect(h.write("first") == GATEWAY_OK)
        #expect(gw_score_claim_master(slot, serial) == 0)
        // Nor a request that is not the one it timed out.
        gw_score_begin(slot, 7, "GET", 3, "/", 1, 0)
        #expect(gw_score_claim_master(slot, serial) == 0)
        #expect(gw_score_claim_master(slot, serial + 1) == 1)
    }
}
