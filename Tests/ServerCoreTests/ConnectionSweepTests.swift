import Testing
@testable import ServerCore

/// The sweep's timeouts over a fake clock (seconds here, in ns).
@Suite struct ConnectionSweepTests {
    static let s: UInt64 = 1_000_000_000
    let sweep = ConnectionSweep(keepalive: 5 * s, header: 10 * s, body: 30 * s, lingeringTime: 30 * s, lingeringTimeout: 5 * s)

    func verdict(_ phase: Connection.Phase, idle: Bool = true, requests: Int = 1, lastActive: UInt64 = 100 * s,
                 headSince: UInt64 = 0, now: UInt64, stopping: Bool = false) -> ConnectionSweep.Verdict {
        var sw = sweep
        sw.stopping = stopping
        return sw.verdict(phase: phase, idle: idle, requests: requests, lastActive: lastActive, headSince: headSince, now: now)
    }

    @Test func idleKeepAliveClosesAfterKeepaliveTimeout() {
        #expect(verdict(.open, now: 104 * Self.s) == .keep)
        #expect(verdict(.open, now: 105 * Self.s) == .close)
    }

    @Test func aStoppingWorkerGivesIdleConnectionsAShortGraceButServesNewOnes() {
        #expect(verdict(.open, now: 100 * Self.s + 300_000_000, stopping: true) == .close)
        #expect(verdict(.open, requests: 0, now: 105 * Self.s, stopping: true) == .keep)
        #expect(verdict(.open, requests: 0, now: 110 * Self.s, stopping: true) == .close)
    }

    @Test func aSlowHeadTimesOutAfterHeaderTimeout() {
        #expect(verdict(.open, idle: false, headSince: 100 * Self.s, now: 109 * Self.s) == .keep)
        #expect(verdict(.open, idle: false, headSince: 100 * Self.s, now: 110 * Self.s) == .headTimeout)
    }

    @Test func heldBodiesAndResponsesGetBodyTimeoutSinceTheirLastProgress() {
        #expect(verdict(.bufferingBody, idle: false, now: 129 * Self.s) == .keep)
        #expect(verdict(.bufferingBody, idle: false, now: 130 * Self.s) == .bodyTimeout)
        #expect(verdict(.sendingResponse, now: 129 * Self.s) == .keep)
        #expect(verdict(.sendingResponse, now: 130 * Self.s) == .readerStopped)
    }

    @Test func lingeringEndsAfterLingeringTimeoutOrLingeringTime() {
        #expect(verdict(.lingering(since: 100 * Self.s), now: 104 * Self.s) == .keep)
        #expect(verdict(.lingering(since: 100 * Self.s), now: 105 * Self.s) == .close)
        #expect(verdict(.lingering(since: 70 * Self.s), now: 101 * Self.s) == .close)
    }

    /// A connection accepted and served after the sweep read its clock (the
    /// loop's acceptMissed runs between the two) has waited for nothing:
    /// an unsigned now - lastActive would wrap and close it at once.
    @Test func timesLaterThanNowHaveWaitedForNothing() {
        let now = 100 * Self.s, later = now + 1000
        for phase in [Connection.Phase.open, .bufferingBody, .sendingResponse, .lingering(since: later)] {
            #expect(verdict(phase, lastActive: later, now: now) == .keep, "\(phase)")
        }
        #expect(verdict(.open, idle: false, lastActive: later, headSince: later, now: now) == .keep)
    }
}
