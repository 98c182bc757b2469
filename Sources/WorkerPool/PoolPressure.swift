/// What the operators of PHP-FPM and uWSGI read beside the instant gauges,
/// kept by the master from one look per loop pass (pure; a fake clock in
/// tests): each listener's `max listen queue` (its accept queue's high-water
/// mark since start, which a 15 s scrape of the length misses), `max
/// children reached` (how often demand found every worker busy, connections
/// waiting and the pool at max_workers), and uWSGI's listen-queue-full
/// alarm as a log line, at most one per listener every `logInterval`.
struct PoolPressure {
    static let logInterval: UInt64 = 10_000_000_000

    struct Full {
        /// When the last line was written.
        var loggedAt: UInt64
        /// Passes that found the queue full since then.
        var since = 0
    }

    private(set) var highWater: [String: UInt32] = [:]
    private(set) var maxChildrenReached: UInt64 = 0
    private var atLimit = false
    private var full: [String: Full] = [:]

    /// One look: the queues, and whether every serving worker is busy with
    /// the pool at its ceiling. Returns the warning lines to log.
    mutating func observe(_ queues: [MetricsSnapshot.Queue], allBusy: Bool, atCeiling: Bool, now: UInt64) -> [String] {
        var lines: [String] = []
        var queued = 0
        for q in queues {
            queued += Int(q.length)
            highWater[q.listener] = max(highWater[q.listener] ?? 0, q.length)
            guard q.max > 0, q.length >= q.max else { continue }
            if var f = full[q.listener], now &- f.loggedAt < Self.logInterval {
                f.since += 1
                full[q.listener] = f
                continue
            }
            let more = full[q.listener].map { $0.since > 0 ? " (full \($0.since) more times since the last warning)" : "" } ?? ""
            full[q.listener] = Full(loggedAt: now)
            lines.append("listen queue of \(q.listener) full (\(q.length)/\(q.max)): new connections are refused or wait for a SYN retry; more workers, or a larger backlog\(more)")
        }
        let limit = allBusy && atCeiling && queued > 0
        if limit && !atLimit { maxChildrenReached += 1 }
        atLimit = limit
        return lines
    }
}
