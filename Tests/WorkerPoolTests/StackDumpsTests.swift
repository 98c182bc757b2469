import Testing
@testable import WorkerPool

/// The master's record of the stack dumps it waits on, over a fake clock.
@Suite struct StackDumpsTests {
    let ms: UInt64 = 1_000_000

    @Test func aDumpIsCompleteWhenTheWorkerBumpsItsSerial() {
        var d = StackDumps()
        let began = d.begin(pid: 10, purpose: .timeout, serial: 4, now: 0)
        #expect(began)
        let early = d.settle(now: 5 * ms, serials: [10: 4])
        #expect(early.isEmpty, "not yet")
        let done = d.settle(now: 6 * ms, serials: [10: 5])
        #expect(done == [.init(pid: 10, purposes: [.timeout], result: .complete)])
        #expect(d.isEmpty)
    }

    @Test func aDumpThatDoesNotCompleteIsOverAtTheGrace() {
        var d = StackDumps()
        _ = d.begin(pid: 10, purpose: .timeout, serial: 0, now: 0)
        let early = d.settle(now: StackDumps.grace - 1, serials: [10: 0])
        #expect(early.isEmpty)
        let out = d.settle(now: StackDumps.grace, serials: [10: 0])
        #expect(out == [.init(pid: 10, purposes: [.timeout], result: .lateBy(StackDumps.grace))])
    }

    @Test func aWorkerThatExitsEndsItsDump() {
        var d = StackDumps()
        _ = d.begin(pid: 10, purpose: .admin, serial: 0, now: 0)
        let out = d.settle(now: ms, serials: [:])
        #expect(out == [.init(pid: 10, purposes: [.admin], result: .gone)])
    }

    @Test func aSecondRequestJoinsTheDumpUnderWay() {
        var d = StackDumps()
        let first = d.begin(pid: 10, purpose: .admin, serial: 0, now: 0)
        let second = d.begin(pid: 10, purpose: .timeout, serial: 0, now: ms)
        let other = d.begin(pid: 11, purpose: .admin, serial: 7, now: ms)
        #expect(first && !second && other, "the same worker is not signalled twice")
        let out = d.settle(now: 2 * ms, serials: [10: 1, 11: 7])
        #expect(out == [.init(pid: 10, purposes: [.admin, .timeout], result: .complete)])
        d.cancel(pid: 11)
        #expect(d.isEmpty)
    }
}
