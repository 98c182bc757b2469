import CSupport
import ServerCore

// TEMPORARY, deleted when the threaded RequestLoop lands (it declares both
// for real): lets the master side compile against today's loop. Stores nothing.
extension RequestLoop {
    public var threadSlots: [UnsafeMutablePointer<gw_score_slot>] {
        get { [] }
        set {}
    }

    /// On gw_timeout_signal(): the app threads whose slot's timeout_serial
    /// names their request in progress are interrupted, or the worker retires.
    public func handleThreadTimeouts() {}
}
