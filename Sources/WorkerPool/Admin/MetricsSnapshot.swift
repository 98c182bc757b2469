import ServerCore

/// Everything /metrics shows, gathered by the Arbiter in one pass; the
/// exposition is a pure function of it (unit-tested).
struct MetricsSnapshot {
    struct Queue { var listener: String; var length: UInt32; var max: UInt32; var proto = ListenProtocol.http }
    struct Memory { var pid: Int32; var ussBytes: UInt64; var pssBytes: UInt64 }

    var totals = ScoreCounters()
    var inFlight = 0
    /// App threads of the ready workers (threads each), and those busy.
    var threadsBusy = 0
    var threadsTotal = 0
    /// Complete requests waiting for an app thread (the workers' `queued`).
    var queuedRequests: UInt64 = 0
    /// booting, idle, busy, stopping
    var workers: [String: Int] = ["booting": 0, "idle": 0, "busy": 0, "stopping": 0]
    var restarts: [String: UInt64] = Self.zero(RestartReason.allCases.map { $0.rawValue })
    var timeouts: UInt64 = 0
    var workersTarget = 0
    var workersMax = 0
    /// Demand's decisions: up, down.
    var demandScaling: [String: UInt64] = ["up": 0, "down": 0]
    var draining = false
    var reloads: [String: UInt64] = ["promoted": 0, "abandoned": 0]
    var generation: UInt32 = 1
    var queues: [Queue] = []
    /// Each listener's accept-queue high-water mark since start (max listen queue).
    var queueHighWater: [String: UInt32] = [:]
    /// How often every worker was busy, connections waited and the pool was at max_workers.
    var maxChildrenReached: UInt64 = 0
    /// reading, writing, waiting (nginx's stub_status).
    var connections: [String: UInt64] = ["reading": 0, "writing": 0, "waiting": 0]
    var memory: [Memory] = []
    var startTime: Double = 0
    var version = ""

    static func zero(_ keys: [String]) -> [String: UInt64] {
        Dictionary(uniqueKeysWithValues: keys.map { ($0, UInt64(0)) })
    }
}

/// Why a worker was replaced (gatewayd_worker_restarts_total{reason}).
enum RestartReason: String, CaseIterable {
    case crash, timeout, maxRequests = "max_requests", memory, reload, scale
}
