/// One slot's record in the Supervisor: when it is refilled, the failures
/// in a row that set its backoff, and how its last worker ended. It
/// replaces three slot-keyed maps cleared together, the `pending[slot] = 0`
/// sentinel of an issued spawn and the Arbiter's map of last exits.
extension Supervisor {
    public struct Slot: Equatable {
        public enum Respawn: Equatable {
            /// Nothing to do: a worker holds the slot, or none is wanted yet.
            case none
            /// A spawn is due at this time (now, or after a backoff).
            case due(at: UInt64)
            /// The spawn was issued; the slot waits for `spawned`.
            case issued

            /// A backoff still runs after `now`.
            public func waits(after now: UInt64) -> Bool {
                if case let .due(at) = self { return at > now }
                return false
            }
        }

        /// How a worker of this slot ended, and why it was asked to leave
        /// (nil: it was not). Shown as `last_exit` in /status.
        public struct Exit: Equatable, CustomStringConvertible {
            public var status: ExitStatus
            public var leave: Leave?

            public init(status: ExitStatus, leave: Leave?) {
                self.status = status
                self.leave = leave
            }

            /// A timed-out worker is stopped by the master (SIGINT), so it
            /// often exits 0: that is not what an operator should read.
            public var description: String {
                // threads > 1: it retired on its own after a thread's timeout
                if leave == .recycle(.threadTimeout) && status.code != nil { return "timed out: retired" }
                guard leave == .timeout else { return "\(status)" }
                return status.code != nil ? "timed out: stopped by the master" : "timed out: \(status)"
            }
        }

        public var respawn = Respawn.none
        /// Consecutive boot crashes (reset by a clean exit or a request crash).
        public var bootCrashes = 0
        /// Consecutive failed spawns (socketpair, fork); reset when a worker boots.
        public var spawnFailures = 0
        /// The last worker of this slot that was reaped, of any generation.
        public var lastExit: Exit?

        /// The record with its respawn and failures forgotten (the slot was
        /// removed, or a new generation took over): only the last exit stays.
        var cleared: Slot? {
            guard let lastExit else { return nil }
            var s = Slot()
            s.lastExit = lastExit
            return s
        }
    }
}
