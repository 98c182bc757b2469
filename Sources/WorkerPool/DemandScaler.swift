/// Workers that follow demand (max_workers, idle_worker_timeout), as a pure
/// decision: what the master sees in, grow / shrink / hold out. No process,
/// no clock of its own; the Arbiter feeds it once per loop pass and turns a
/// decision into a Supervisor resize. Tested with a fake clock.
///
/// A worker with app threads (threads = N) is busy when all N are; the
/// pool's saturation counts threads, not processes.
///
/// Grow when the pool is saturated: every ready worker is busy and either
/// connections wait in the listen queues (more than the workers already
/// booting will take), or complete requests wait in the workers for an app
/// thread, or every worker has been busy for `saturation` without
/// a break (behind a proxy that keeps connections alive, requests wait in a
/// busy worker's socket, not in the listen queue). At most one worker per
/// `growInterval`, never above `max`.
///
/// Shrink when the worker in the top slot (the newest: EPOLLEXCLUSIVE wakes
/// the oldest waiters first, so the top slots idle first) has been idle for
/// `idleTimeout`, nothing waits, and the last grow is at least `idleTimeout`
/// old (hysteresis: a burst that comes back every few seconds keeps its
/// workers). At most one worker per `shrinkInterval`, never below `base`.
public struct DemandScaler {
    public struct Settings: Equatable {
        /// `workers` (or what scale set): the floor.
        public var base: Int
        /// max_workers: the ceiling (at least base).
        public var max: Int
        public var idleTimeout: UInt64
        public var growInterval: UInt64 = 300_000_000
        public var shrinkInterval: UInt64 = 1_000_000_000
        public var saturation: UInt64 = 1_000_000_000

        public init(base: Int, max: Int, idleTimeoutSeconds: Int) {
            self.base = base
            self.max = Swift.max(base, max)
            idleTimeout = UInt64(idleTimeoutSeconds) * 1_000_000_000
        }
    }

    /// One worker of the serving generation that is not leaving.
    public struct Worker: Equatable {
        public var slot: Int
        public var booting: Bool
        /// App threads (threads), and those serving a request now.
        public var threads: Int
        public var busyThreads: Int
        /// When it last finished a request (or booted): monotonic ns.
        public var idleSince: UInt64

        /// Every app thread serves a request: it takes no more.
        public var busy: Bool {
            get { busyThreads >= threads }
            set { busyThreads = newValue ? threads : 0 }
        }

        /// One app thread (threads = 1).
        public init(slot: Int, booting: Bool = false, busy: Bool, idleSince: UInt64) {
            self.init(slot: slot, booting: booting, threads: 1, busyThreads: busy ? 1 : 0, idleSince: idleSince)
        }

        public init(slot: Int, booting: Bool = false, threads: Int, busyThreads: Int, idleSince: UInt64) {
            self.slot = slot
            self.booting = booting
            self.threads = max(1, threads)
            self.busyThreads = busyThreads
            self.idleSince = idleSince
        }
    }

    public struct Observation: Equatable {
        /// The Supervisor's current worker count (its slots 0..<target).
        public var target: Int
        public var workers: [Worker]
        /// Connections waiting in the listen queues, summed.
        public var queued: Int
        /// Complete requests waiting in the workers for an app thread (threads > 1).
        public var waiting: Int

        public init(target: Int, workers: [Worker], queued: Int, waiting: Int = 0) {
            self.target = target
            self.workers = workers
            self.queued = queued
            self.waiting = waiting
        }
    }

    public enum Decision: Equatable {
        case hold
        case grow(reason: String)
        case shrink(reason: String)
    }

    public var settings: Settings
    var lastGrow: UInt64?
    var lastShrink: UInt64?
    /// Since when every ready worker has been busy (nil: one was not).
    var saturatedSince: UInt64?

    public init(settings: Settings) {
        self.settings = settings
    }

    public mutating func decide(_ o: Observation, now: UInt64) -> Decision {
        let ready = o.workers.filter { !$0.booting }
        let booting = o.workers.count - ready.count
        let allBusy = !ready.isEmpty && ready.allSatisfy(\.busy)
        if allBusy { saturatedSince = saturatedSince ?? now } else { saturatedSince = nil }
        if allBusy && o.target < settings.max && since(lastGrow, now) >= settings.growInterval {
            var reason: String?
            let threads = ready.reduce(0) { $0 + $1.threads }
            // threads = 1: as before; else the threads they are
            let all = threads == ready.count ? "all \(ready.count) workers busy" : "all \(ready.count) workers busy (\(threads) app threads)"
            if o.queued > booting {
                reason = "\(all), \(o.queued) connections queued" + (o.waiting > 0 ? ", \(o.waiting) requests waiting for a thread" : "")
            } else if booting == 0 && o.waiting > 0 {
                reason = "\(all), \(o.waiting) requests waiting for a thread"
            } else if booting == 0, let s = saturatedSince, now &- s >= settings.saturation {
                reason = "\(all) for \(Self.text(now &- s))"
            }
            if let reason {
                lastGrow = now
                return .grow(reason: reason)
            }
        }
        guard o.target > settings.base, o.queued == 0, booting == 0,
              since(lastGrow, now) >= settings.idleTimeout, since(lastShrink, now) >= settings.shrinkInterval,
              let top = o.workers.first(where: { $0.slot == o.target - 1 }),
              top.busyThreads == 0, now > top.idleSince, now - top.idleSince >= settings.idleTimeout else { return .hold }
        lastShrink = now
        return .shrink(reason: "worker in slot \(top.slot) idle for \(Self.text(now - top.idleSince))")
    }

    /// The scale verbs (TTIN/TTOU, POST /scale) set the floor to `base`; the
    /// result is the worker count to go to now. A higher floor grows the pool
    /// to it at once, a lower one retires down to it at once (an operator's
    /// explicit word); workers demand added above an unchanged or higher
    /// floor stay until idle. The ceiling is max_workers, or the floor above it.
    public mutating func setBase(_ requested: Int, maxWorkers: Int, current: Int) -> Int {
        let base = Swift.max(1, requested)
        let target = base < settings.base ? base : Swift.max(base, current)
        settings.base = base
        settings.max = Swift.max(maxWorkers, base)
        return target
    }

    func since(_ t: UInt64?, _ now: UInt64) -> UInt64 {
        guard let t else { return .max }
        return now &- t
    }

    static func text(_ ns: UInt64) -> String {
        let tenths = ns / 100_000_000
        return "\(tenths / 10).\(tenths % 10)s"
    }
}
