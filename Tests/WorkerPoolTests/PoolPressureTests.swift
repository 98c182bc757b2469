import Testing
@testable import WorkerPool

/// max listen queue, max children reached and the queue-full warning, over a fake clock (issue 25).
@Suite struct PoolPressureTests {
    let s: UInt64 = 1_000_000_000
    func q(_ length: UInt32, max: UInt32 = 16, _ name: String = "127.0.0.1:8000") -> MetricsSnapshot.Queue {
        .init(listener: name, length: length, max: max)
    }

    @Test func theHighWaterMarkStaysAfterTheQueueDrains() {
        var p = PoolPressure()
        _ = p.observe([q(3)], allBusy: false, atCeiling: false, now: 0)
        _ = p.observe([q(9)], allBusy: false, atCeiling: false, now: s / 10)
        _ = p.observe([q(0)], allBusy: false, atCeiling: false, now: s)
        #expect(p.highWater["127.0.0.1:8000"] == 9)
    }

    @Test func maxChildrenReachedCountsEpisodesNotPasses() {
        var p = PoolPressure()
        for i in 0..<5 { _ = p.observe([q(2)], allBusy: true, atCeiling: true, now: UInt64(i) * s / 10) }
        #expect(p.maxChildrenReached == 1)
        _ = p.observe([q(0)], allBusy: true, atCeiling: true, now: s)
        _ = p.observe([q(1)], allBusy: true, atCeiling: true, now: 2 * s)
        #expect(p.maxChildrenReached == 2)
        _ = p.observe([q(5)], allBusy: true, atCeiling: false, now: 3 * s)  // demand may still grow
        _ = p.observe([q(5)], allBusy: false, atCeiling: true, now: 4 * s)  // a worker is free
        #expect(p.maxChildrenReached == 2)
    }

    @Test func aFullQueueIsLoggedOncePerIntervalWithTheCountBetween() {
        var p = PoolPressure()
        #expect(p.observe([q(16)], allBusy: true, atCeiling: true, now: 0).count == 1)
        for i in 1...20 { #expect(p.observe([q(16)], allBusy: true, atCeiling: true, now: UInt64(i) * s / 10).isEmpty) }
        #expect(p.observe([q(3)], allBusy: true, atCeiling: true, now: 5 * s).isEmpty, "not full")
        let later = p.observe([q(17, max: 16)], allBusy: true, atCeiling: true, now: PoolPressure.logInterval + 1)
        #expect(later.count == 1 && later[0].contains("full 20 more times"), "\(later)")
        #expect(later[0].hasPrefix("listen queue of 127.0.0.1:8000 full (17/16)"))
    }
}
