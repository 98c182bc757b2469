/// Request timeouts of workers with app threads (threads > 1), as a pure
/// record over a clock: which requests ran past `timeout` (each answered
/// once), and which workers still hold one when their time to leave is up.
///
/// A worker with one thread is stopped at once on a timeout (the
/// Supervisor's tick). One with several has other requests in flight: the
/// master answers the stuck one 504, dumps that thread's stack and tells
/// the worker (timeout_serial, gw_timeout_signal); the worker interrupts
/// the thread or retires gracefully. The master then gives it
/// `grace` (graceful_timeout and a little) from the timeout: if the stuck
/// thread is still on that request then, SIGKILL. A thread that comes back
/// (its slot idle or on a later request) clears the deadline.
public struct ThreadTimeouts: Equatable {
    /// One busy app thread, as the worker's slot shows it.
    public struct Busy: Equatable {
        public var thread: Int
        public var serial: UInt64
        public var since: UInt64
        public var request: String

        public init(thread: Int, serial: UInt64, since: UInt64, request: String) {
            self.thread = thread
            self.serial = serial
            self.since = since
            self.request = request
        }
    }

    /// A worker whose timed-out request(s) still run: by thread, the
    /// request serial; SIGKILL is due at `deadline`.
    public struct Stuck: Equatable {
        public var threads: [Int: UInt64]
        public let deadline: UInt64
        /// The thread whose timeout set the deadline (for the log line).
        public let first: Int
    }

    public enum Event: Equatable {
        /// A request ran past `timeout`, seen for the first time.
        case expired(pid: Int32, thread: Int, serial: UInt64, seconds: UInt64, request: String)
        /// Still on a timed-out request at its deadline: to be killed.
        case overdue(pid: Int32, thread: Int)
    }

    /// Per worker and thread, the request serial last timed out: a request
    /// is answered 504 and counted once.
    public private(set) var timedOut: [Int32: [Int: UInt64]] = [:]
    public private(set) var stuck: [Int32: Stuck] = [:]

    public init() {}

    /// One look at every worker with app threads: `busy` holds its busy
    /// threads (a worker absent has none). `timeout` 0: no timeouts.
    public mutating func observe(now: UInt64, busy: [Int32: [Busy]], timeout: UInt64, grace: UInt64) -> [Event] {
        var events: [Event] = []
        // threads that came back from their timed-out request
        for (pid, var s) in stuck {
            let threads = busy[pid] ?? []
            s.threads = s.threads.filter { t, serial in threads.contains { $0.thread == t && $0.serial == serial } }
            stuck[pid] = s.threads.isEmpty ? nil : s
        }
        for pid in busy.keys.sorted() where timeout > 0 {
            for b in busy[pid]!.sorted(by: { $0.thread < $1.thread }) {
                // `since` may be a hair after `now` (written after the master read its clock)
                guard now > b.since, now - b.since > timeout, timedOut[pid]?[b.thread] != b.serial else { continue }
                timedOut[pid, default: [:]][b.thread] = b.serial
                events.append(.expired(pid: pid, thread: b.thread, serial: b.serial,
                                       seconds: (now - b.since) / 1_000_000_000, request: b.request))
                if stuck[pid] == nil { stuck[pid] = Stuck(threads: [:], deadline: now + grace, first: b.thread) }
                stuck[pid]!.threads[b.thread] = b.serial
            }
        }
        for (pid, s) in stuck.sorted(by: { $0.key < $1.key }) where now >= s.deadline {
            events.append(.overdue(pid: pid, thread: s.first))
            stuck[pid] = nil
        }
        return events
    }

    /// The worker was reaped.
    public mutating func forget(pid: Int32) {
        timedOut[pid] = nil
        stuck[pid] = nil
    }
}
