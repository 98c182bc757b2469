import CSupport
import ServerCore

/// What the master holds for one worker process, removed as one when the
/// worker is reaped: its end of the health channel, its scoreboard slots,
/// why it said it leaves, and the slots' counters already counted.
struct WorkerRecord {
    let pid: Int32
    /// nil once the worker closed it (EOF before the reap).
    var channel: HealthChannel?
    /// Indices in the scoreboard, one per app thread (threads = N: N slots,
    /// not necessarily adjacent). The first holds the worker-wide fields.
    let scores: [Int]
    let spawnedAt: UInt64
    /// From its `exiting` message (max_requests, memory).
    var announced: HealthMessage.ExitReason = .none
    /// The slots' counters, summed, as last folded into the master's metrics.
    var folded = ScoreCounters()
    /// Demand: the request serials last seen in its slots (summed), and when
    /// it was last seen busy or serving (its idle-since time).
    var lastSerial: UInt64 = 0
    var activeAt: UInt64

    /// The worker-wide slot: pid, heartbeat, draining, dumps, the queue.
    var score: Int { scores[0] }
    var threads: Int { scores.count }
}

/// The config and listeners of one generation with workers (or booting ones).
struct GenerationRecord {
    let config: Config
    let listeners: [Listener]
    let privileges: Privileges?
}
