import Testing
@testable import GatewayWire

/// A chunked body (the bytes after the head) and what decoding it must give.
struct ChunkedCase: Sendable, CustomTestStringConvertible {
    enum Expected: Sendable, Equatable {
        /// The data, and the bytes left after the body.
        case body(String, rest: Int)
        /// The input ended before the body did.
        case unfinished(String)
        case error(Int)
    }

    let name: String
    let raw: [UInt8]
    let expected: Expected
    let limits: HTTPLimits

    init(_ name: String, _ raw: String, _ expected: Expected, limits: HTTPLimits = .standard) {
        self.name = name
        self.raw = Array(raw.utf8)
        self.expected = expected
        self.limits = limits
    }

    var testDescription: String { name }
}

enum ChunkedCases {
    static let maxExtension = ChunkedDecoder.maxExtensionBytes
    static let all: [ChunkedCase] = [
        ChunkedCase("empty body", "0\r\n\r\n", .body("", rest: 0)),
        ChunkedCase("one chunk", "5\r\nhello\r\n0\r\n\r\n", .body("hello", rest: 0)),
        ChunkedCase("several chunks", "1\r\na\r\n2\r\nbc\r\n3\r\ndef\r\n0\r\n\r\n", .body("abcdef", rest: 0)),
        ChunkedCase("hex sizes", "a\r\n0123456789\r\nB\r\nabcdefghijk\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n",
                    .body("0123456789abcdefghijk0123456789abcdef", rest: 0)),
        ChunkedCase("leading zeros", "00003\r\nabc\r\n00\r\n\r\n", .body("abc", rest: 0)),
        ChunkedCase("fifteen hex digits", "000000000000003\r\nabc\r\n0\r\n\r\n", .body("abc", rest: 0)),
        ChunkedCase("data that looks like framing", "a\r\n0\r\n\r\n5\r\nxy\r\n0\r\n\r\n", .body("0\r\n\r\n5\r\nxy", rest: 0)),
        ChunkedCase("binary-ish data", "4\r\n\u{0}\r\n\u{7F}\r\n0\r\n\r\n", .body("\u{0}\r\n\u{7F}", rest: 0)),
        ChunkedCase("extensions", "3;a=b;c\r\nabc\r\n0;last=\"yes; really\"\r\n\r\n", .body("abc", rest: 0)),
        ChunkedCase("extension with BWS after the semicolon", "3; a = b\r\nabc\r\n0\r\n\r\n", .body("abc", rest: 0)),
        ChunkedCase("extension with HTAB and obs-text", "3;a=\t\"b\u{E9}\"\r\nabc\r\n0\r\n\r\n", .body("abc", rest: 0)),
        ChunkedCase("BWS before the semicolon", "3 ;a\r\nabc\r\n0\t;b\r\n\r\n", .body("abc", rest: 0)),
        // The bound counts every byte between the size and the CR (";" and BWS too).
        ChunkedCase("extension at the bound", "3;" + String(repeating: "x", count: maxExtension - 1) + "\r\nabc\r\n0\r\n\r\n",
                    .body("abc", rest: 0)),
        ChunkedCase("trailers", "3\r\nabc\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n", .body("abc", rest: 0)),
        ChunkedCase("trailer with obs-text", "0\r\nX-A: caf\u{E9}\r\n\r\n", .body("", rest: 0)),
        ChunkedCase("bytes after the body", "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n", .body("abc", rest: 18)),
        ChunkedCase("a second body after the first", "0\r\n\r\n0\r\n\r\n", .body("", rest: 5)),
        ChunkedCase("unfinished: inside the size", "1", .unfinished("")),
        ChunkedCase("unfinished: inside the data", "5\r\nhel", .unfinished("hel")),
        ChunkedCase("unfinished: before the data CRLF", "5\r\nhello", .unfinished("hello")),
        ChunkedCase("unfinished: inside the trailers", "3\r\nabc\r\n0\r\nX-A: 1\r\n", .unfinished("abc")),
        ChunkedCase("unfinished: before the final LF", "0\r\n\r", .unfinished("")),
        ChunkedCase("size 0x5", "0x5\r\nhello\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("size +5", "+5\r\nhello\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("size -5", "-5\r\nhello\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("size with a leading space", " 5\r\nhello\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("size with a trailing space", "5 \r\nhello\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("size with a trailing HTAB", "5\t\r\nhello\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("empty size", "\r\n", .error(400)),
        ChunkedCase("no size before the extension", ";a\r\n", .error(400)),
        ChunkedCase("sixteen hex digits", "0000000000000005\r\nhello\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("size overflow", "ffffffffffffffffff\r\n", .error(400)),
        ChunkedCase("LF only after the size", "5\nhello\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("CR without LF after the size", "5\rhello\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("data not followed by CRLF", "5\r\nhelloXX0\r\n\r\n", .error(400)),
        ChunkedCase("data followed by LF only", "5\r\nhello\n0\r\n\r\n", .error(400)),
        ChunkedCase("data followed by CR only", "5\r\nhello\r0\r\n\r\n", .error(400)),
        ChunkedCase("data longer than the size", "3\r\nhello\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("LF in an extension", "5;a\nb\r\nhello\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("bare CR in an extension", "5;a\rb\r\nhello\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("NUL in an extension", "5;a\u{0}\r\nhello\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("DEL in an extension", "5;a\u{7F}\r\nhello\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("ESC in an extension", "5;a\u{1B}\r\nhello\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("obs-text in an unquoted extension value", "3;a=b\u{E9}\r\nabc\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("empty extension", "3;\r\nabc\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("unterminated quoted value", "3;a=\"b\r\nabc\r\n0\r\n\r\n", .error(400)),
        ChunkedCase("extension one byte over the bound", "3;" + String(repeating: "x", count: maxExtension) + "\r\nabc\r\n0\r\n\r\n",
                    .error(400)),
        ChunkedCase("huge extension, no CR yet", "3;" + String(repeating: "x", count: 3 * maxExtension), .error(400)),
        ChunkedCase("last chunk then LF only", "0\r\n\n", .error(400)),
        ChunkedCase("trailer ended by LF only", "0\r\nX-A: 1\n\r\n", .error(400)),
        ChunkedCase("bare CR in a trailer", "0\r\nX-A: 1\r2\r\n\r\n", .error(400)),
        ChunkedCase("NUL in a trailer", "0\r\nX-A: \u{0}\r\n\r\n", .error(400)),
        ChunkedCase("final CR not followed by LF", "0\r\n\rX", .error(400)),
        // Trailer lines are fields (RFC 9112 §7.1.2): token, ":", field-value. A front end
        // that ends the body at "0\r\n" would read anything else as the next request.
        ChunkedCase("trailer with an empty value", "0\r\nX-A:\r\n\r\n", .body("", rest: 0)),
        ChunkedCase("trailer without OWS", "0\r\nX-A:1\r\n\r\n", .body("", rest: 0)),
        ChunkedCase("trailer with HTAB and spaces in the value", "0\r\nX-A: \ta b\t \r\n\r\n", .body("", rest: 0)),
        ChunkedCase("trailer name of every tchar", "0\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n", .body("", rest: 0)),
        ChunkedCase("trailer that is a request line", "0\r\nGET /x HTTP/1.1\r\n\r\n", .error(400)),
        ChunkedCase("trailer that is a request line with Host", "0\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n", .error(400)),
        ChunkedCase("trailer that is not a field", "0\r\nnot a field\r\n\r\n", .error(400)),
        ChunkedCase("trailer name without a colon", "0\r\nX-A\r\n\r\n", .error(400)),
        ChunkedCase("trailer with an empty name", "0\r\n: v\r\n\r\n", .error(400)),
        ChunkedCase("trailer with a space before the colon", "0\r\nX-A : 1\r\n\r\n", .error(400)),
        ChunkedCase("trailer with HTAB before the colon", "0\r\nX-A\t: 1\r\n\r\n", .error(400)),
        ChunkedCase("trailer starting with a space", "0\r\n X-A: 1\r\n\r\n", .error(400)),
        ChunkedCase("obs-fold in the trailers", "0\r\nX-A: 1\r\n  folded\r\n\r\n", .error(400)),
        ChunkedCase("obs-fold with HTAB in the trailers", "0\r\nX-A: 1\r\n\tfolded\r\n\r\n", .error(400)),
        ChunkedCase("trailer name with a non-tchar", "0\r\nX@A: 1\r\n\r\n", .error(400)),
        ChunkedCase("trailer name with obs-text", "0\r\nX\u{E9}: 1\r\n\r\n", .error(400)),
        ChunkedCase("control character in a trailer value", "0\r\nX-A: a\u{1}b\r\n\r\n", .error(400)),
        ChunkedCase("ESC in a trailer value", "0\r\nX-A: \u{1B}[31m\r\n\r\n", .error(400)),
        ChunkedCase("DEL in a trailer value", "0\r\nX-A: a\u{7F}\r\n\r\n", .error(400)),
        ChunkedCase("a bad trailer after a good one", "0\r\nX-A: 1\r\nnot a field\r\n\r\n", .error(400)),
        ChunkedCase("a bad trailer, unfinished", "0\r\nGET /x", .error(400)),
        // Limits: .small has maxBody 16, fields 4, fieldSize 64.
        ChunkedCase("body at max_body_size", "10\r\n0123456789abcdef\r\n0\r\n\r\n", .body("0123456789abcdef", rest: 0), limits: .small),
        ChunkedCase("body at max_body_size in pieces", "8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n",
                    .body("0123456789abcdef", rest: 0), limits: .small),
        ChunkedCase("body one byte above max_body_size", "8\r\n01234567\r\n9\r\n89abcdefg\r\n0\r\n\r\n", .error(413), limits: .small),
        ChunkedCase("a declared size above max_body_size fails before the data", "11\r\n", .error(413), limits: .small),
        ChunkedCase("a huge declared size", "fffffffffffffff\r\n", .error(413), limits: .small),
        ChunkedCase("trailers at the count limit", "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", .body("", rest: 0), limits: .small),
        ChunkedCase("one trailer too many", "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", .error(431), limits: .small),
        ChunkedCase("endless trailers", "0\r\n" + String(repeating: "A: 1\r\n", count: 100), .error(431), limits: .small),
        ChunkedCase("trailer at the length limit", "0\r\nX: " + String(repeating: "t", count: 61) + "\r\n\r\n",
                    .body("", rest: 0), limits: .small),
        ChunkedCase("trailer one byte over the length limit", "0\r\nX: " + String(repeating: "t", count: 62) + "\r\n\r\n",
                    .error(431), limits: .small),
        ChunkedCase("endless trailer line", "0\r\nX: " + String(repeating: "t", count: 1000), .error(431), limits: .small),
    ]
}

enum ChunkedResult: Equatable, CustomStringConvertible {
    case body([UInt8], rest: Int)
    case unfinished([UInt8])
    case error(Int)

    var description: String {
        switch self {
        case let .body(b, rest): return "body \(String(decoding: b, as: UTF8.self).debugDescription), rest \(rest)"
        case let .unfinished(b): return "unfinished after \(String(decoding: b, as: UTF8.self).debugDescription)"
        case let .error(s): return "error \(s)"
        }
    }

    init(_ e: ChunkedCase.Expected) {
        switch e {
        case let .body(s, rest): self = .body(Array(s.utf8), rest: rest)
        case let .unfinished(s): self = .unfinished(Array(s.utf8))
        case let .error(s): self = .error(s)
        }
    }
}

func decode(_ raw: [UInt8], pieces: [Range<Int>], limits: HTTPLimits) -> ChunkedResult {
    let buf = UnsafeMutablePointer<UInt8>.allocate(capacity: max(raw.count, 1))
    defer { buf.deallocate() }
    copy(raw, 0..<raw.count, to: buf)
    switch decodeChunked(UnsafePointer(buf), pieces: pieces, limits: limits) {
    case let .failure(e): return .error(e.status)
    case let .success((body, end)): return end < 0 ? .unfinished(body) : .body(body, rest: raw.count - end)
    }
}

@Suite struct ChunkedDecoderTests {
    @Test("whole", arguments: ChunkedCases.all)
    func whole(_ c: ChunkedCase) {
        let result = decode(c.raw, pieces: [0..<c.raw.count], limits: c.limits)
        #expect(result == ChunkedResult(c.expected), "\(c.name)")
    }

    @Test("split at every byte, byte by byte, in thirds", arguments: ChunkedCases.all)
    func pieces(_ c: ChunkedCase) {
        let expected = ChunkedResult(c.expected)
        var failures = 0
        for (label, pieces) in deliveries(c.raw.count) {
            let result = decode(c.raw, pieces: pieces, limits: c.limits)
            if result != expected {
                failures += 1
                if failures <= 3 { Issue.record("\(c.name), \(label): got \(result), expected \(expected)") }
            }
        }
        #expect(failures == 0, "\(c.name): \(failures) deliveries went wrong")
    }

    /// As the worker does: pieces no longer than the reader's buffer.
    @Test("small reads", arguments: [2, 3, 5, 7, 16])
    func smallReads(_ size: Int) {
        for c in ChunkedCases.all {
            let pieces = stride(from: 0, to: c.raw.count, by: size).map { $0..<min($0 + size, c.raw.count) }
            #expect(decode(c.raw, pieces: pieces, limits: c.limits) == ChunkedResult(c.expected), "\(c.name), reads of \(size)")
        }
    }

    @Test func dataStopsAtTheChunkEnd() {
        let raw = Array("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n".utf8)
        var d = ChunkedDecoder()
        raw.withUnsafeBufferPointer { p in
            let base = p.baseAddress!
            #expect(d.step(base, raw.count, limits: .standard) == .framing(3))
            #expect(d.remaining == 3)
            #expect(d.step(base + 3, raw.count - 3, limits: .standard) == .data(3))
            #expect(d.remaining == 0)
            #expect(d.step(base + 6, raw.count - 6, limits: .standard) == .framing(5))
            #expect(d.step(base + 11, raw.count - 11, limits: .standard) == .data(2))
            #expect(!d.isDone)
            #expect(d.step(base + 13, raw.count - 13, limits: .standard) == .done(raw.count - 13))
            #expect(d.isDone)
            #expect(d.total == 5)
            // After the end, nothing more is consumed.
            #expect(d.step(base, raw.count, limits: .standard) == .done(0))
        }
    }

    @Test func partialData() {
        let raw = Array("a\r\n0123456789\r\n0\r\n\r\n".utf8)
        var d = ChunkedDecoder()
        raw.withUnsafeBufferPointer { p in
            let base = p.baseAddress!
            // Only framing so far, and the decoder now expects data.
            #expect(d.step(base, 2, limits: .standard) == .needMore)
            #expect(d.step(base + 2, 1, limits: .standard) == .framing(1))
            #expect(d.remaining == 10)
            #expect(d.step(base + 3, 4, limits: .standard) == .data(4))
            #expect(d.remaining == 6)
            #expect(d.step(base + 7, 6, limits: .standard) == .data(6))
            #expect(d.remaining == 0)
        }
    }

    @Test func maxBodyCountsEveryChunk() {
        // 16 one-byte chunks fit max_body_size 16, the 17th does not.
        let ok = String(repeating: "1\r\nx\r\n", count: 16) + "0\r\n\r\n"
        let over = String(repeating: "1\r\nx\r\n", count: 17) + "0\r\n\r\n"
        #expect(decode(Array(ok.utf8), pieces: [0..<ok.utf8.count], limits: .small)
                == .body(Array(repeating: UInt8(ascii: "x"), count: 16), rest: 0))
        #expect(decode(Array(over.utf8), pieces: [0..<over.utf8.count], limits: .small) == .error(413))
        // No limit when max_body_size is 0.
        let big = "fffffffffffffff\r\n"
        #expect(decode(Array(big.utf8), pieces: [0..<big.utf8.count], limits: .standard) == .unfinished([]))
    }

    @Test func errorsAreSticky() {
        // A decoder that failed keeps failing the same bytes: the caller closes the connection.
        let raw = Array("zz\r\n".utf8)
        var d = ChunkedDecoder()
        raw.withUnsafeBufferPointer { p in
            guard case .failed(let e) = d.step(p.baseAddress!, raw.count, limits: .standard) else {
                Issue.record("expected a failure"); return
            }
            #expect(e.status == 400)
        }
    }
}
