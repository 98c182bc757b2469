/// The stack dumps the master asked workers for and waits on: after a
/// timeout (to say so when one did not come) and for `POST /dump` (the
/// admin connection gets the text). A pure record over a clock:
/// the worker says a dump is complete by bumping `dump_serial` in its
/// scoreboard slot; the master looks once per loop pass and never waits.
struct StackDumps: Equatable {
    enum Purpose: Hashable {
        /// A timed-out request (the worker was told to stop at once).
        case timeout
        /// An admin connection waits for the text.
        case admin
    }

    struct Pending: Equatable {
        var purposes: Set<Purpose>
        /// The worker's dump_serial when it was signalled.
        let serial: UInt64
        let deadline: UInt64
    }

    enum Result: Equatable {
        case complete
        /// Not complete by the deadline: signals masked, or stuck where the
        /// handler cannot run (a lock of the dynamic loader).
        case lateBy(UInt64)
        /// The worker exited first.
        case gone
    }

    struct Outcome: Equatable {
        let pid: Int32
        let purposes: Set<Purpose>
        let result: Result
    }

    /// How long a dump may take: a Python process with many threads takes
    /// a few milliseconds, a native backtrace less.
    static let grace: UInt64 = 500_000_000

    private(set) var pending: [Int32: Pending] = [:]

    var isEmpty: Bool { pending.isEmpty }

    /// Records a dump to wait for. False when one is already under way for
    /// this worker (the purpose joins it: the worker is not signalled twice).
    mutating func begin(pid: Int32, purpose: Purpose, serial: UInt64, now: UInt64) -> Bool {
        if pending[pid] != nil {
            pending[pid]!.purposes.insert(purpose)
            return false
        }
        pending[pid] = Pending(purposes: [purpose], serial: serial, deadline: now + Self.grace)
        return true
    }

    /// The worker could not be signalled: nothing to wait for.
    mutating func cancel(pid: Int32) { pending[pid] = nil }

    /// The dumps that are over: complete (their serial moved), late, or
    /// of a worker that is gone (absent from `serials`).
    mutating func settle(now: UInt64, serials: [Int32: UInt64]) -> [Outcome] {
        var out: [Outcome] = []
        for (pid, p) in pending.sorted(by: { $0.key < $1.key }) {
            let result: Result
            if let s = serials[pid] {
                if s != p.serial {
                    result = .complete
                } else if now >= p.deadline {
                    result = .lateBy(now - p.deadline + Self.grace)
                } else {
                    continue
                }
            } else {
                result = .gone
            }
            pending[pid] = nil
            out.append(Outcome(pid: pid, purposes: p.purposes, result: result))
        }
        return out
    }
}
