import Testing
@testable import GatewayWire

/// Every case of `ProtocolCases` through UWSGIDecoder or SCGIDecoder: whole,
/// split at every byte, byte by byte, and after other bytes in the buffer.
@Suite struct ProtocolDecoderTests {
    enum Outcome: Equatable, CustomStringConvertible {
        case needMore
        case vars([[String]], end: Int)
        case error(Int)

        var description: String {
            switch self {
            case .needMore: return "needMore"
            case let .vars(v, end): return "vars(\(v), end: \(end))"
            case let .error(s): return "error(\(s))"
            }
        }
    }

    /// Decodes `raw` placed at `offset`, delivered up to each end in `ends`;
    /// the first answer that is not needMore.
    func run(_ c: ProtocolCase, ends: [Int], offset: Int = 0) -> Outcome {
        let buf = UnsafeMutablePointer<UInt8>.allocate(capacity: offset + c.raw.count + 1)
        defer { buf.deallocate() }
        for i in 0..<offset { buf[i] = 0x58 }
        for (i, b) in c.raw.enumerated() { buf[offset + i] = b }
        var vars = ProtocolVars(capacity: 64)
        for end in ends {
            // Through the protocol's conformance, as the request loop decodes.
            guard case .variables(let packet) = ProtocolConformance.conformance(for: c.proto).headDecoding else {
                Issue.record("\(c.proto) does not decode a packet of variables")
                return .needMore
            }
            switch packet.decode(buf, start: offset, end: offset + end, limits: c.limits, into: &vars) {
            case .needMore: continue
            case .failed(let e): return .error(e.status)
            case .complete(let stop):
                var pairs: [[String]] = []
                for i in 0..<vars.count {
                    let v = vars.vars[i]
                    pairs.append([String(decoding: UnsafeBufferPointer(start: buf + v.name, count: v.nameLength), as: UTF8.self),
                                  String(decoding: UnsafeBufferPointer(start: buf + v.value, count: v.valueLength), as: UTF8.self)])
                }
                return .vars(pairs, end: stop - offset)
            }
        }
        return .needMore
    }

    func expected(_ c: ProtocolCase) -> Outcome {
        switch c.expected {
        case let .vars(v, end): return .vars(v, end: end)
        case let .error(s): return .error(s)
        }
    }

    @Test func tableSize() {
        #expect(ProtocolCases.uwsgiCases.count >= 25)
        #expect(ProtocolCases.scgiCases.count >= 25)
        var seen = Set<String>()
        for c in ProtocolCases.all { #expect(seen.insert(c.name).inserted, "duplicate case name: \(c.name)") }
    }

    @Test("whole", arguments: ProtocolCases.all)
    func whole(_ c: ProtocolCase) {
        let got = run(c, ends: [c.raw.count])
        #expect(got == expected(c), "\(c.name): got \(got)")
    }

    @Test("split at every byte", arguments: ProtocolCases.all)
    func split(_ c: ProtocolCase) {
        for k in 0...c.raw.count {
            let got = run(c, ends: [k, c.raw.count])
            #expect(got == expected(c), "\(c.name), split at \(k): got \(got)")
        }
    }

    @Test("byte by byte", arguments: ProtocolCases.all)
    func byteByByte(_ c: ProtocolCase) {
        let got = run(c, ends: Array(0...c.raw.count))
        #expect(got == expected(c), "\(c.name): got \(got)")
    }

    @Test("after other bytes in the buffer", arguments: ProtocolCases.all)
    func atAnOffset(_ c: ProtocolCase) {
        for offset in [1, 7, 100] {
            let got = run(c, ends: [c.raw.count / 2, c.raw.count], offset: offset)
            #expect(got == expected(c), "\(c.name) at offset \(offset): got \(got)")
        }
    }

    @Test func truncatedNeedsMore() {
        for c in ProtocolCases.all {
            guard case let .vars(_, end) = c.expected, end > 0 else { continue }
            #expect(run(c, ends: [end - 1]) == .needMore, "\(c.name): a truncated head must ask for more")
        }
    }
}
