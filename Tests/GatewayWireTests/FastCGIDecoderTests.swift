#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import GatewayWire

/// Every case of `FastCGICases` through FastCGIDecoder (heads) and
/// FastCGIStdinDecoder (bodies): whole, split at every byte, byte by byte,
/// and after other bytes in the buffer. The driver does what the loop
/// does with each event: drops the record, keeps the reply.
@Suite struct FastCGIDecoderTests {
    typealias Outcome = FastCGICase.Expected?

    func run(_ c: FastCGICase, ends: [Int], offset: Int = 0) -> Outcome {
        let buf = UnsafeMutablePointer<UInt8>.allocate(capacity: offset + c.raw.count + 1)
        defer { buf.deallocate() }
        for i in 0..<offset { buf[i] = 0x58 }
        for (i, b) in c.raw.enumerated() { buf[offset + i] = b }
        var start = offset
        var replies: [[UInt8]] = []
        for end in ends {
            events: while true {
                switch FastCGIDecoder.decode(buf, start: start, end: offset + end, limits: c.limits) {
                case .needMore:
                    break events
                case let .failed(e, id):
                    return .error(e.status, id: id)
                case let .drop(at, length, reply):
                    #expect(at >= start && at + length <= offset + end, "\(c.name): a drop outside the bytes")
                    memmove(buf + start + length, buf + start, at - start)
                    start += length
                    if !reply.isEmpty { replies.append(reply) }
                case let .aborted(id, _, stop):
                    return .aborted(id: id, end: stop - offset, replies: replies)
                case let .complete(id, keep, stop):
                    #expect(stop <= offset + end)
                    var vars = ProtocolVars(capacity: 64)
                    if let e = FastCGIDecoder.gatherParams(buf, start: start, end: stop, limits: c.limits, into: &vars) {
                        return .error(e.status, id: id)
                    }
                    var pairs: [[String]] = []
                    for i in 0..<vars.count {
                        let v = vars.vars[i]
                        #expect(v.value + v.valueLength <= stop)
                        pairs.append([String(decoding: UnsafeBufferPointer(start: buf + v.name, count: v.nameLength), as: UTF8.self),
                                      String(decoding: UnsafeBufferPointer(start: buf + v.value, count: v.valueLength), as: UTF8.self)])
                    }
                    return .request(id: id, keep: keep, vars: pairs, end: stop - offset, replies: replies)
                }
            }
        }
        return nil
    }

    /// This table is the FastCGI conformance's: records for the head,
    /// STDIN records for the body.
    @Test func theConformanceDecodesRecords() {
        #expect(ProtocolConformance.fastcgi.headDecoding == .records)
        #expect(ProtocolConformance.fastcgi.bodyFraming == .records)
    }

    @Test func tableSize() {
        #expect(FastCGICases.heads.count >= 40)
        #expect(FastCGICases.stdins.count >= 12)
        var seen = Set<String>()
        for c in FastCGICases.heads { #expect(seen.insert(c.name).inserted, "duplicate case name: \(c.name)") }
    }

    @Test("whole", arguments: FastCGICases.heads)
    func whole(_ c: FastCGICase) {
        let got = run(c, ends: [c.raw.count])
        #expect(got == c.expected, "\(c.name): got \(String(describing: got))")
    }

    @Test("split at every byte", arguments: FastCGICases.heads)
    func split(_ c: FastCGICase) {
        for k in 0...c.raw.count {
            let got = run(c, ends: [k, c.raw.count])
            #expect(got == c.expected, "\(c.name), split at \(k): got \(String(describing: got))")
        }
    }

    @Test("byte by byte", arguments: FastCGICases.heads)
    func byteByByte(_ c: FastCGICase) {
        let got = run(c, ends: Array(0...c.raw.count))
        #expect(got == c.expected, "\(c.name): got \(String(describing: got))")
    }

    @Test("after other bytes in the buffer", arguments: FastCGICases.heads)
    func atAnOffset(_ c: FastCGICase) {
        for offset in [1, 7, 100] {
            let got = run(c, ends: [c.raw.count / 2, c.raw.count], offset: offset)
            #expect(got == c.expected, "\(c.name) at offset \(offset): got \(String(describing: got))")
        }
    }

    @Test func truncatedHeadsNeedMore() {
        for c in FastCGICases.heads {
            guard case let .request(_, _, _, end, _) = c.expected, end > 0 else { continue }
            #expect(run(c, ends: [end - 1]) == nil, "\(c.name): a truncated head must ask for more")
        }
    }

    // MARK: STDIN

    struct Read: Equatable {
        var body: [UInt8] = []
        var replies: [[UInt8]] = []
        var end: FastCGICases.Stdin.End?
        var consumed = 0
    }

    /// Steps through `s.raw` delivered up to each end in `ends`, taking at
    /// most `piece` bytes a call (an app reading into a small buffer).
    func read(_ s: FastCGICases.Stdin, ends: [Int], piece: Int = Int.max) -> Read {
        var d = FastCGIStdinDecoder(requestId: 1)
        var r = Read()
        var pos = 0
        return s.raw.withUnsafeBufferPointer { raw in
            for end in ends {
                while pos < end {
                    let n = min(end - pos, piece)
                    switch d.step(raw.baseAddress! + pos, n, maxBody: s.maxBody) {
                    case .data(let k): r.body += raw[pos..<pos + k]; pos += k
                    case .framing(let k): pos += k
                    case .needMore: pos += n
                    case .done(let k): r.end = .done; r.consumed = pos + k; return r
                    case .aborted(let k): r.end = .aborted; r.consumed = pos + k; return r
                    case .reply(let k, let reply): r.replies.append(reply.bytes(.init())); pos += k
                    case .failed(let e): r.end = .error(e.status); return r
                    }
                }
            }
            return r
        }
    }

    func expected(_ s: FastCGICases.Stdin) -> Read {
        Read(body: s.body, replies: s.replies, end: s.end, consumed: s.end == .done || s.end == .aborted ? s.consumed : 0)
    }

    @Test("STDIN whole, split at every byte, byte by byte, in small reads", arguments: FastCGICases.stdins)
    func stdin(_ s: FastCGICases.Stdin) {
        #expect(read(s, ends: [s.raw.count]) == expected(s), "\(s.name) whole")
        for k in 0...s.raw.count {
            #expect(read(s, ends: [k, s.raw.count]) == expected(s), "\(s.name) split at \(k)")
        }
        #expect(read(s, ends: Array(0...s.raw.count)) == expected(s), "\(s.name) byte by byte")
        #expect(read(s, ends: [s.raw.count], piece: 3) == expected(s), "\(s.name) 3 bytes a read")
    }

    // MARK: records out

    @Test func recordsAreFramedAsTheSpecificationSays() {
        let r = FastCGIRecord.record(.stdout, 0x0102, Array("hello".utf8))
        #expect(r == [1, 6, 1, 2, 0, 5, 3, 0] + Array("hello".utf8) + [0, 0, 0])
        #expect(FastCGIRecord.endRequest(7, appStatus: 0x01020304) ==
                [1, 6, 0, 7, 0, 0, 0, 0] + [1, 3, 0, 7, 0, 8, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0])
        #expect(FastCGIRecord.unknownType(42) == [1, 11, 0, 0, 0, 8, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0])
        #expect(FastCGIRecord.maxContent % 8 == 0 && FastCGIRecord.maxContent <= 65535)
        let big = [UInt8](repeating: 7, count: 70000)
        let wrapped = FastCGIRecord.wrap(big, requestId: 3)
        // 65528 + 4472: two STDOUT records, the empty one, END_REQUEST.
        #expect(wrapped.count == 8 + 65528 + 8 + 4472 + 0 + 8 + 16)
        #expect(Array(wrapped[0..<8]) == [1, 6, 0, 3, 0xFF, 0xF8, 0, 0])
    }
}
