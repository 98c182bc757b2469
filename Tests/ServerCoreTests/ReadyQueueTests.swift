import Testing
@testable import ServerCore

/// The order in which requests waiting for an app thread are served
/// (ReadyQueue, WaitOrder), over a fake clock in ms: about first come,
/// first served across its two lanes, a new connection's wait counting double.
@Suite struct ReadyQueueTests {
    static let ms: UInt64 = 1_000_000

    /// A connection whose request became ready at `readyAt` ms; `requests`
    /// served before it on the connection (0: a new connection's first).
    func waiting(_ name: Int, readyAt: UInt64, requests: Int) -> Connection {
        let c = Connection(fd: Int32(name), listener: 0, capacity: 16, now: 0)
        c.requests = requests
        c.readyAt = readyAt * Self.ms
        c.phase = .queued
        return c
    }

    /// What the queue gives, one at a time, as threads taking them at `now` ms would.
    func order(_ cs: [Connection], now: UInt64) -> [Int32] {
        var q = ReadyQueue()
        cs.forEach { q.append($0) }
        var out: [Int32] = []
        while let u = q.popFirst(now: now * Self.ms) { out.append(u.takeUnretainedValue().fd) }
        return out
    }

    @Test func newConnectionsThatWaitedInTheListenQueueGoBeforeKeptAliveRequestsQueuedSince() {
        // 1 to 3 arrived at 0, 20 and 40 ms, and were accepted (dated back)
        // after 11 and 12 had become ready on kept-alive connections: taken
        // in turn, 11 would have gone second.
        let cs = [waiting(11, readyAt: 150, requests: 1), waiting(12, readyAt: 160, requests: 3),
                  waiting(1, readyAt: 0, requests: 0), waiting(2, readyAt: 20, requests: 0), waiting(3, readyAt: 40, requests: 0)]
        #expect(order(cs, now: 200) == [1, 2, 3, 11, 12])
    }

    @Test func keptAliveRequestsThatWaitedMoreThanTwiceAsLongGoFirst() {
        // 11 and 12 waited 200 and 190 ms, the new one 50 (100 doubled): taken in turn, the new one would go first.
        let cs = [waiting(11, readyAt: 0, requests: 1), waiting(12, readyAt: 10, requests: 1), waiting(1, readyAt: 150, requests: 0)]
        #expect(order(cs, now: 200) == [11, 12, 1])
    }

    @Test func aNewConnectionGoesAheadOfKeptAliveRequestsThatWaitedLessThanTwiceAsLong() {
        // 20 kept-alive clients, each request waiting 1 s in turn: a new one
        // that waited 0.49 s goes ahead of those that waited under 0.98 s.
        let cs = [waiting(11, readyAt: 0, requests: 5), waiting(12, readyAt: 400, requests: 5), waiting(1, readyAt: 510, requests: 0)]
        #expect(order(cs, now: 1000) == [11, 1, 12])
    }

    @Test func theHeadsWaitsAreWeighedAsOfNow() {
        #expect(WaitOrder.freshGoesFirst(freshReadyAt: 150 * Self.ms, keptReadyAt: 100 * Self.ms, now: 200 * Self.ms))
        #expect(!WaitOrder.freshGoesFirst(freshReadyAt: 150 * Self.ms, keptReadyAt: 99 * Self.ms, now: 200 * Self.ms))
        // A thread whose clock reading is older than a request queued since: no wait, not a wrap-around.
        #expect(WaitOrder.freshGoesFirst(freshReadyAt: 300 * Self.ms, keptReadyAt: 250 * Self.ms, now: 200 * Self.ms))
        #expect(!WaitOrder.freshGoesFirst(freshReadyAt: 300 * Self.ms, keptReadyAt: 100 * Self.ms, now: 200 * Self.ms))
    }

    @Test func oneLaneAloneIsServedInItsOrder() {
        #expect(order([waiting(1, readyAt: 10, requests: 0), waiting(2, readyAt: 5, requests: 0)], now: 20) == [1, 2])
        #expect(order([waiting(11, readyAt: 10, requests: 2), waiting(12, readyAt: 12, requests: 1)], now: 20) == [11, 12])
    }

    @Test func aConnectionTakenFromTheListenQueueIsDatedFromItsLastData() {
        #expect(WaitOrder.arrival(msSinceLastData: 40, now: 1000 * Self.ms) == 960 * Self.ms)
        #expect(WaitOrder.arrival(msSinceLastData: 0, now: 1000 * Self.ms) == 1000 * Self.ms)
        #expect(WaitOrder.arrival(msSinceLastData: 5000, now: 1000 * Self.ms) == 0)
    }

    @Test func aClosedConnectionLeavesItsLane() {
        let cs = [waiting(11, readyAt: 0, requests: 1), waiting(1, readyAt: 0, requests: 0), waiting(12, readyAt: 5, requests: 1)]
        var q = ReadyQueue()
        cs.forEach { q.append($0) }
        q.remove(cs[0])
        #expect(q.count == 2)
        #expect(q.popFirst(now: 10 * Self.ms)?.takeUnretainedValue().fd == 1)
        #expect(q.popFirst(now: 10 * Self.ms)?.takeUnretainedValue().fd == 12)
        #expect(q.isEmpty)
    }
}
