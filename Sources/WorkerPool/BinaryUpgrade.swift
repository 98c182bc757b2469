#if canImport(Glibc)
import Glibc
#endif
import CSupport
import ServerCore

/// SIGUSR2, as nginx and Unicorn do it: exec a new gatewayd binary that
/// inherits the listening sockets the systemd way (LISTEN_FDS, LISTEN_PID,
/// LISTEN_FDNAMES), boots its workers, then tells the old master to stop.
public enum BinaryUpgrade {
    static let fromVariable = "GATEWAYD_UPGRADE_FROM"

    /// The path we were started from, resolved now: a deploy that renames a
    /// new binary over it is what the upgrade must exec.
    public static func executablePath() -> String {
        guard var path = Sys.readLink("/proc/self/exe") else { return CommandLine.arguments[0] }
        if path.hasSuffix(" (deleted)") { path.removeLast(10) }
        return path
    }

    /// The old master's pid when this process was started by an upgrade (and clears the variable).
    public static func upgradedFrom() -> pid_t? {
        guard let v = Sys.environment(fromVariable) else { return nil }
        let pid = pid_t(v)
        Sys.unsetenv(fromVariable)
        return pid
    }

    /// Forks and execs `executable` with the same arguments and the listeners as fds 3, 4, ...
    public static func spawn(executable: String, listeners: [Listener], names: [Int32: String], from master: pid_t) throws -> pid_t {
        try Sys.checkExecutable(executable)
        let fdNames = listeners.map { l -> String in
            names[l.fd] ?? l.address.description.map { $0 == ":" ? "_" : $0 }.reduce("") { $0 + String($1) }
        }
        let args = [executable] + CommandLine.arguments.dropFirst()
        let child = try Sys.fork()
        guard child == 0 else { return child }
        // In the child: move the sockets to 3.. (via high numbers, so no dup2 clobbers another), keep them across exec.
        gw_reset_signals()
        // Ignored until the new master catches it: a hand-over signal that
        // came before would otherwise kill it (a real-time signal's default).
        _ = gw_signal_ignore(gw_handover_signal())
        var high: [Int32] = []
        for (i, l) in listeners.enumerated() { high.append((try? Sys.duplicate(l.fd, atLeast: Int32(512 + i))) ?? -1) }
        for (i, h) in high.enumerated() where h >= 0 {
            let target = Int32(3 + i)
            if h != target { try? Sys.dup2(h, target) }
            try? Sys.setCloseOnExec(target, false)
        }
        for h in high where h >= Int32(3 + high.count) { Sys.close(h) }
        try? Sys.setenv("LISTEN_FDS", String(listeners.count))
        try? Sys.setenv("LISTEN_PID", String(Sys.getpid()))
        // systemd's watchdog names its main process; the new master becomes
        // it at the hand-over, and sd_watchdog_enabled answers only there.
        if Sys.environment("WATCHDOG_PID") != nil { try? Sys.setenv("WATCHDOG_PID", String(Sys.getpid())) }
        try? Sys.setenv("LISTEN_FDNAMES", fdNames.joined(separator: ":"))
        try? Sys.setenv(fromVariable, String(master))
        _ = Sys.exec(executable, args)
        Sys.exit(127)
    }
}
