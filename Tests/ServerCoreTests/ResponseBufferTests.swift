import Testing
@testable import ServerCore

/// The per-connection buffer of unsent response bytes: order kept across
/// partial sends, growth and compaction.
@Suite struct ResponseBufferTests {
    func contents(_ b: ResponseBuffer) -> [UInt8] {
        Array(UnsafeBufferPointer(start: b.unsent.assumingMemoryBound(to: UInt8.self), count: b.count))
    }

    @Test func keepsOrderAcrossConsumeCompactionAndGrowth() {
        let b = ResponseBuffer(capacity: 8)
        let first: [UInt8] = Array(0..<6), second: [UInt8] = Array(6..<12), third: [UInt8] = Array(12..<40)
        b.append(first, first.count)
        b.consume(4)
        #expect(contents(b) == [4, 5])
        b.append(second, second.count)  // compacts to fit in 8
        #expect(b.capacity == 8 && contents(b) == Array(4..<12))
        b.append(third, third.count)  // grows
        #expect(b.capacity >= 36 && contents(b) == Array(4..<40))
        b.consume(36)
        #expect(b.count == 0)
        b.append(first, 2)
        #expect(contents(b) == [0, 1])
    }
}
