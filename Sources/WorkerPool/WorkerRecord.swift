import CSupport
import ServerCore

/// What the master holds for one worker process, removed as one when the
/// worker is reaped: its end of the health channel, its scoreboard slot,
/// why it said it leaves, and the slot's counters already counted.
struct WorkerRecord {
    let pid: Int32
    /// nil once the worker closed it (EOF before the reap).
    var channel: HealthChannel?
    /// Index in the scoreboard.
    let score: Int
    let spawnedAt: UInt64
    /// From its `exiting` message (max_requests, memory).
    var announced: HealthMessage.ExitReason = .none
    /// The slot's counters as last folded into the master's metrics.
    var folded = ScoreCounters()
    /// Demand: the request serial last seen in its slot, and when it was
    /// last seen busy or serving (its idle-since time).
    var lastSerial: UInt64 = 0
    var activeAt: UInt64
}

/// The config and listeners of one generation with workers (or booting ones).
struct GenerationRecord {
    let config: Config
    let listeners: [Listener]
    let privileges: Privileges?
}
