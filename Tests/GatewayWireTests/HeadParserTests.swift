import Testing
@testable import GatewayWire

/// Runs every case of `HTTPCases` through HeadScanner, HeadParser and
/// ChunkedDecoder, whole and in pieces, and requires the expected outcome
/// every time.
@Suite struct HeadParserTests {
    /// This table is the HTTP conformance's: a request head, its body
    /// framed by the head.
    @Test func theConformanceDecodesAHead() {
        #expect(ProtocolConformance.http.headDecoding == .httpHead)
        #expect(ProtocolConformance.http.bodyFraming == .head)
    }

    @Test func tableSize() {
        #expect(HTTPCases.all.count >= 170)
        var seen = Set<String>()
        for c in HTTPCases.all {
            #expect(seen.insert(c.name).inserted, "duplicate case name: \(c.name)")
        }
        // Both outcomes are well represented.
        let errors = HTTPCases.all.filter { if case .error = $0.expected { return true }; return false }.count
        #expect(errors >= 100)
        #expect(HTTPCases.all.count - errors >= 60)
    }

    @Test("whole request", arguments: HTTPCases.all)
    func whole(_ c: HTTPCase) {
        let outcome = run(c.raw, pieces: [0..<c.raw.count], limits: c.limits)
        #expect(c.expected.matches(outcome), "\(c.name): expected \(c.expected), got \(outcome)")
    }

    @Test("split at every byte, byte by byte, in thirds", arguments: HTTPCases.all)
    func pieces(_ c: HTTPCase) {
        let whole = run(c.raw, pieces: [0..<c.raw.count], limits: c.limits)
        var failures = 0
        for (label, pieces) in deliveries(c.raw.count) {
            let outcome = run(c.raw, pieces: pieces, limits: c.limits)
            if outcome != whole {
                failures += 1
                if failures <= 3 {
                    Issue.record("\(c.name), \(label): got \(outcome), whole gave \(whole)")
                }
            }
        }
        #expect(failures == 0, "\(c.name): \(failures) deliveries differ from the whole request")
    }

    @Test("after other bytes in the buffer", arguments: HTTPCases.all)
    func atAnOffset(_ c: HTTPCase) {
        let whole = run(c.raw, pieces: [0..<c.raw.count], limits: c.limits)
        for offset in [1, 7, 100] {
            let outcome = run(c.raw, pieces: [0..<c.raw.count], limits: c.limits, offset: offset)
            #expect(outcome == whole, "\(c.name) at offset \(offset): got \(outcome), at 0: \(whole)")
            let split = run(c.raw, pieces: [0..<(c.raw.count / 2), (c.raw.count / 2)..<c.raw.count],
                            limits: c.limits, offset: offset)
            #expect(split == whole, "\(c.name) at offset \(offset), split in half: got \(split), at 0: \(whole)")
        }
    }

    /// One RequestHead parses every case in turn, as a connection does:
    /// nothing of a previous request may leak into the next.
    @Test func reusedHead() {
        var head = RequestHead(fieldCapacity: 100)
        defer { head.fields.deallocate() }
        for c in HTTPCases.all + HTTPCases.all.reversed() where c.limits.fields <= 100 {
            let fresh = run(c.raw, pieces: [0..<c.raw.count], limits: c.limits)
            let reused = run(c.raw, pieces: [0..<c.raw.count], limits: c.limits, head: &head)
            #expect(fresh == reused, "\(c.name): reused head gave \(reused), fresh \(fresh)")
        }
    }

    // MARK: the parsed fields themselves

    @Test func fieldOffsets() throws {
        let raw = bytes("GET /p?q HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\nX-Spaces: \t a b \t\r\nhost2: z\r\n\r\n")
        var head = RequestHead(fieldCapacity: 10)
        defer { head.fields.deallocate() }
        let names = raw.withUnsafeBufferPointer { p -> [String]? in
            var scanner = HeadScanner()
            guard case .complete(let end) = scanner.scan(p.baseAddress!, end: p.count, limits: .standard) else { return nil }
            guard HeadParser.parse(p.baseAddress!, start: 0, end: end, limits: .standard, into: &head) == nil else { return nil }
            return (0..<head.fieldCount).map { i in
                let f = head.fields[i]
                return String(decoding: p[f.name..<(f.name + f.nameLength)], as: UTF8.self) + "=" +
                    String(decoding: p[f.value..<(f.value + f.valueLength)], as: UTF8.self)
            }
        }
        #expect(names == ["Host=example.com", "X-Empty=", "X-Spaces=a b", "host2=z"])
        #expect(head.host == 0)
        #expect(head.end == raw.count)
        #expect(head.target == 4 && head.targetLength == 4)
        #expect(!head.isHead && !head.hasBody)
    }

    @Test func headMethodFlag() {
        for (raw, isHead) in [("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", true), ("head / HTTP/1.1\r\nHost: a\r\n\r\n", false),
                              ("HEADX / HTTP/1.1\r\nHost: a\r\n\r\n", false), ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", false)] {
            var head = RequestHead(fieldCapacity: 4)
            defer { head.fields.deallocate() }
            let b = bytes(raw)
            let error = b.withUnsafeBufferPointer { p in
                HeadParser.parse(p.baseAddress!, start: 0, end: p.count, limits: .standard, into: &head)
            }
            #expect(error == nil)
            #expect(head.isHead == isHead, "\(raw)")
        }
    }

    @Test func scannerKeepsItsPosition() {
        // Each byte is looked at once: position advances to the end of what was given.
        let raw = bytes(get("X-A: b\r\n"))
        var scanner = HeadScanner()
        raw.withUnsafeBufferPointer { p in
            #expect(scanner.scan(p.baseAddress!, end: 10, limits: .standard) == .needMore)
            #expect(scanner.position == 10)
            #expect(scanner.scan(p.baseAddress!, end: 10, limits: .standard) == .needMore)
            #expect(scanner.scan(p.baseAddress!, end: p.count, limits: .standard) == .complete(end: p.count))
        }
    }

    @Test func scannerResetForPipelining() {
        let one = get(), two = "\r\n" + get(target: "/second")
        let raw = bytes(one + two)
        var scanner = HeadScanner()
        raw.withUnsafeBufferPointer { p in
            #expect(scanner.scan(p.baseAddress!, end: p.count, limits: .standard) == .complete(end: one.utf8.count))
            scanner.reset(at: one.utf8.count)
            #expect(scanner.scan(p.baseAddress!, end: p.count, limits: .standard) == .complete(end: p.count))
            #expect(scanner.headStart == one.utf8.count + 2)
        }
    }

    @Test func emptyLinesCountAgainAfterReset() {
        // Eight empty lines are allowed before each request, not eight per connection.
        let request = String(repeating: "\r\n", count: 8) + get()
        let raw = bytes(request + request)
        var scanner = HeadScanner()
        raw.withUnsafeBufferPointer { p in
            let first = request.utf8.count
            #expect(scanner.scan(p.baseAddress!, end: p.count, limits: .standard) == .complete(end: first))
            scanner.reset(at: first)
            #expect(scanner.scan(p.baseAddress!, end: p.count, limits: .standard) == .complete(end: p.count))
        }
    }

    @Test func errorsCarryAReason() {
        var head = RequestHead(fieldCapacity: 4)
        defer { head.fields.deallocate() }
        let b = bytes("GET / HTTP/1.1\r\n\r\n")
        let error = b.withUnsafeBufferPointer { p in
            HeadParser.parse(p.baseAddress!, start: 0, end: p.count, limits: .standard, into: &head)
        }
        #expect(error?.status == 400)
        #expect(error?.description.hasPrefix("400 ") == true)
        #expect(error?.description.contains("Host") == true)
    }

    @Test func maxHeadFitsTheLimits() {
        let l = HTTPLimits.small
        #expect(l.maxHead == 16 + 64 + 2 + 4 * (64 + 2) + 2)
        // The largest head the limits allow fits in maxHead bytes.
        var head = String(repeating: "\r\n", count: 8) + HTTPCases.line64 + "\r\n"
        head += "Host: " + String(repeating: "h", count: 58) + "\r\n"
        for _ in 1..<4 { head += HTTPCases.field64 + "\r\n" }
        head += "\r\n"
        #expect(head.utf8.count == l.maxHead)
        #expect(run(bytes(head), pieces: [0..<head.utf8.count], limits: l) != .incomplete)
        if case .error(let status) = run(bytes(head), pieces: [0..<head.utf8.count], limits: l) {
            Issue.record("the largest head was refused with \(status)")
        }
    }
}
