/// What the worker's sweep (once a second, and on each pass while stopping)
/// does with a connection: a pure decision over its phase and its times, so
/// the timeouts are tested with a fake clock (Tests/ServerCoreTests/ConnectionSweepTests.swift).
///
/// A connection's times can be later than the sweep's `now`: the loop reads
/// the clock, then accepts what the listen queue still holds (`acceptMissed`)
/// and serves it before the sweep runs. Such a connection has waited for
/// nothing yet; an unsigned `now - since` would wrap and time it out at once.
struct ConnectionSweep {
    enum Verdict: Equatable {
        case keep
        /// Idle past keepalive_timeout, or done lingering: closed quietly.
        case close
        /// The head did not arrive within header_timeout: closed, logged.
        case headTimeout
        /// A held body stalled for body_timeout: answered 408.
        case bodyTimeout
        /// The reader of a held response stopped for body_timeout: closed, logged.
        case readerStopped
    }

    /// In nanoseconds.
    var keepalive: UInt64
    var header: UInt64
    var body: UInt64
    var lingeringTime: UInt64
    var lingeringTimeout: UInt64
    /// The worker is stopping: idle connections get a short grace instead of keepalive_timeout.
    var stopping = false
    var stopIdleGrace: UInt64 = 300_000_000

    /// `idle`: nothing buffered; `requests`: served on it so far.
    func verdict(phase: Connection.Phase, idle: Bool, requests: Int, lastActive: UInt64, headSince: UInt64,
                 now: UInt64) -> Verdict {
        let quiet = Self.elapsed(since: lastActive, now)
        switch phase {
        case .closed, .queued, .inApp:
            // With the app, or waiting for it: the app's `timeout` is the
            // master's to enforce; the client is not idle.
            return .keep
        case .lingering(let since):
            return Self.elapsed(since: since, now) >= lingeringTime || quiet >= lingeringTimeout ? .close : .keep
        case .bufferingBody:
            return quiet >= body ? .bodyTimeout : .keep
        case .sendingResponse:
            return quiet >= body ? .readerStopped : .keep
        case .open:
            if idle {
                // A connection accepted during the stop (the queue drained)
                // that has not sent its request yet gets header_timeout, not
                // the keep-alive grace: it was accepted, so it is served.
                let grace = stopping ? (requests == 0 ? header : stopIdleGrace) : keepalive
                return quiet >= grace ? .close : .keep
            }
            return headSince > 0 && Self.elapsed(since: headSince, now) >= header ? .headTimeout : .keep
        }
    }

    /// `now - since`, 0 when `since` is later.
    static func elapsed(since: UInt64, _ now: UInt64) -> UInt64 { now > since ? now - since : 0 }
}
