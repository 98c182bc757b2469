/// One slot's record in the Supervisor: when it is refilled and the
/// failures in a row that set its backoff. It replaces three slot-keyed maps
/// cleared together and the `pending[slot] = 0` sentinel of an issued spawn.
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

        public var respawn = Respawn.none
        /// Consecutive boot crashes (reset by a clean exit or a request crash).
        public var bootCrashes = 0
        /// Consecutive failed spawns (socketpair, fork); reset when a worker boots.
        public var spawnFailures = 0
    }
}
