/// drain_delay: the time between a graceful stop's request (SIGTERM,
/// POST /stop) and the graceful stop itself. Readiness fails at once and the
/// workers close keep-alive connections after each response, so a load
/// balancer stops sending here while what it still sends is served. Pure:
/// the Arbiter asks it with its clock.
struct Drain: Equatable {
    let delay: UInt64
    /// When the graceful stop is due; nil until a drain begins.
    private(set) var until: UInt64?

    init(seconds: Double) {
        delay = UInt64(max(0, seconds) * 1e9)
    }

    var isDraining: Bool { until != nil }

    /// Starts the drain; false when there is none to run (drain_delay 0, or
    /// one is already running: a second SIGTERM stops at once).
    mutating func begin(now: UInt64) -> Bool {
        guard delay > 0, until == nil else { return false }
        until = now + delay
        return true
    }

    func isDue(now: UInt64) -> Bool {
        guard let until else { return false }
        return now >= until
    }

    /// Once the graceful stop ran, nothing more is due.
    mutating func end() {
        until = .max
    }
}
