import CSupport

/// The counters a worker keeps in its scoreboard slots (each app thread
/// its own; the queue's in the first slot only), summed per worker. The
/// master folds the growth since its last look into its own totals, so
/// they survive the worker's exit, restarts and reloads.
struct ScoreCounters: Equatable {
    var requests: UInt64 = 0
    var bytesIn: UInt64 = 0
    var bytesOut: UInt64 = 0
    var durationSumNs: UInt64 = 0
    /// Answered 503 by max_queue_wait, before the app.
    var shed: UInt64 = 0
    var statusClasses = [UInt64](repeating: 0, count: 6)
    var durations = [UInt64](repeating: 0, count: Int(GW_DURATION_BUCKETS))
    /// Requests handed to an app thread, and how long they waited for one
    /// (threads; the worker's first slot only).
    var queueWaits: UInt64 = 0
    var queueWaitSumNs: UInt64 = 0
    var queueWaitCounts = [UInt64](repeating: 0, count: Int(GW_DURATION_BUCKETS))

    init() {}

    /// The sum of a worker's slots.
    init(slots: [gw_score_slot]) {
        for s in slots { add(ScoreCounters(slot: s), since: ScoreCounters()) }
    }

    init(slot s: gw_score_slot) {
        requests = s.requests
        bytesIn = s.bytes_in
        bytesOut = s.bytes_out
        durationSumNs = s.duration_sum_ns
        shed = s.shed
        statusClasses = withUnsafeBytes(of: s.status_classes) { Array($0.bindMemory(to: UInt64.self)) }
        durations = withUnsafeBytes(of: s.duration_counts) { Array($0.bindMemory(to: UInt64.self)) }
        queueWaits = s.queue_waits
        queueWaitSumNs = s.queue_wait_sum_ns
        queueWaitCounts = withUnsafeBytes(of: s.queue_wait_counts) { Array($0.bindMemory(to: UInt64.self)) }
    }

    /// Adds what `now` has beyond `before` (a slot only grows while its worker lives).
    mutating func add(_ now: ScoreCounters, since before: ScoreCounters) {
        requests &+= now.requests &- before.requests
        bytesIn &+= now.bytesIn &- before.bytesIn
        bytesOut &+= now.bytesOut &- before.bytesOut
        durationSumNs &+= now.durationSumNs &- before.durationSumNs
        shed &+= now.shed &- before.shed
        for i in statusClasses.indices { statusClasses[i] &+= now.statusClasses[i] &- before.statusClasses[i] }
        for i in durations.indices { durations[i] &+= now.durations[i] &- before.durations[i] }
        queueWaits &+= now.queueWaits &- before.queueWaits
        queueWaitSumNs &+= now.queueWaitSumNs &- before.queueWaitSumNs
        for i in queueWaitCounts.indices { queueWaitCounts[i] &+= now.queueWaitCounts[i] &- before.queueWaitCounts[i] }
    }

    /// Upper bounds of the duration buckets, in seconds (the last, +Inf, is implied).
    static let bucketBounds: [Double] = withUnsafeBytes(of: gw_duration_bounds_ns) {
        $0.bindMemory(to: UInt64.self).map { Double($0) / 1e9 }
    }
}
