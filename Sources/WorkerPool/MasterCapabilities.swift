#if canImport(Glibc)
import Glibc
#endif
import CSupport
import Logging
import ServerCore
import SystemPackage

/// The root master gives up, once its sockets are bound, every capability
/// that supervising the workers does not need, for good: from its bounding
/// set (so no exec, a binary upgrade's new master included, gets them back)
/// and its permitted and effective sets (docs/sandbox.md, "The master").
/// Outside systemd a root master holds all of them; under the shipped unit
/// the bounding set already is this list, and nothing is dropped.
enum MasterCapabilities {
    /// What the master keeps, and why: each is used after the start.
    static let kept: [(name: String, number: Int, why: String)] = [
        ("CAP_CHOWN", 0, "give the workers the log files (start, reload, SIGUSR1)"),
        ("CAP_DAC_OVERRIDE", 1, "reopen log files the workers' user owns (SIGUSR1, reload)"),
        ("CAP_KILL", 5, "signal workers of another user"),
        ("CAP_SETGID", 6, "each new worker's setgid and setgroups"),
        ("CAP_SETUID", 7, "each new worker's setuid"),
        // A reload or a binary upgrade may bind a new port below 1024: the
        // one capability kept for something that may never happen, because
        // without it such a reload fails only once it is needed.
        ("CAP_NET_BIND_SERVICE", 10, "a reload binding a new port below 1024"),
        ("CAP_SYS_PTRACE", 19, "pidfd_getfd on a timed-out worker (the 504, stack dumps), its smaps_rollup"),
    ]

    static var keptMask: UInt64 { kept.reduce(0) { $0 | (1 << UInt64($1.number)) } }

    /// Drops the rest; the one log line says what went. Nothing when the
    /// master holds nothing more (not root, or the shipped unit).
    static func dropUnneeded(logger: Logger) {
        let bounding = gw_caps_bounding(), permitted = gw_caps_permitted()
        let extra = (bounding | permitted) & ~keptMask
        guard extra != 0 else { return }
        if gw_caps_keep_only(keptMask) != 0 {
            logger.warning("capset: \(String(cString: strerror(errno))): the master keeps its capabilities")
            return
        }
        let goneBounding = bounding & ~gw_caps_bounding(), gonePermitted = permitted & ~gw_caps_permitted()
        let keeps = kept.filter { gw_caps_permitted() & (1 << UInt64($0.number)) != 0 }.map(\.name)
        logger.info("capabilities: the master dropped \(goneBounding.nonzeroBitCount) from its bounding set and \(gonePermitted.nonzeroBitCount) from its permitted set (bounding \(hex(gw_caps_bounding()))); it keeps \(keeps.isEmpty ? "none" : keeps.joined(separator: " "))")
    }

    /// A master that is not root (the shipped unit's, `User=gatewayd`)
    /// shares its user with its workers: it makes itself non-dumpable, so
    /// that none of them can open its /proc/PID/mem, environ or fds (only
    /// CAP_SYS_PTRACE could, which no one in the unit holds). Its workers
    /// undo that for themselves (`workerOfUnprivilegedMaster`).
    static func shieldFromWorkers(logger: Logger) {
        guard Sys.effectiveUID() != 0 else { return }
        if gw_set_dumpable(0) != 0 {
            logger.warning("prctl(PR_SET_DUMPABLE, 0): \(String(cString: strerror(errno))): workers of the same user could read the master's memory")
        }
    }

    /// In a worker of a master that is not root, before the app loads: no
    /// capability at all (the ambient ones a unit may grant the master,
    /// CAP_NET_BIND_SERVICE, are inherited otherwise), and dumpable again
    /// (it inherited the master's non-dumpable flag), so that the master
    /// can still take a timed-out client's socket (pidfd_getfd) and read
    /// its memory use without CAP_SYS_PTRACE.
    static func workerOfUnprivilegedMaster() throws {
        if gw_caps_permitted() != 0 && gw_caps_keep_only(0) != 0 {
            throw SystemError("capset", errno: Errno(rawValue: errno))
        }
        if gw_set_dumpable(1) != 0 { throw SystemError("prctl", "PR_SET_DUMPABLE", errno: Errno(rawValue: errno)) }
    }

    static func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
}
