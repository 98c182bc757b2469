#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// systemd integration through libsystemd: sd_notify(3) for Type=notify
/// and sd_listen_fds_with_names(3) for socket activation. Without
/// NOTIFY_SOCKET / LISTEN_FDS these do nothing. libsystemd.so.0 is loaded
/// with dlopen when those variables ask for it (Sources/CSystemd), not
/// linked: gatewayd starts where there is no libsystemd.
public enum SystemdNotifier {
    /// Sends `state` (lines such as "READY=1", "STATUS=..."); see sd_notify(3).
    public static func notify(_ state: String) {
        _ = gw_sd_notify(0, state)
    }

    /// "MONOTONIC_USEC=..." for RELOADING=1 (systemd.service(5), Type=notify-reload).
    public static func monotonicMicros() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
    }

    /// The watchdog interval systemd asked for (WATCHDOG_USEC), if any; see sd_watchdog_enabled(3).
    public static func watchdogMicros() -> UInt64? {
        var usec: UInt64 = 0
        let r = gw_sd_watchdog_enabled(0, &usec)
        return r > 0 ? usec : nil
    }

    public static var isNotifying: Bool { getenv("NOTIFY_SOCKET") != nil }

    /// Why libsystemd could not be loaded when NOTIFY_SOCKET, WATCHDOG_USEC
    /// or LISTEN_FDS asked for it; nil when it was, or nothing asked.
    public static var unavailable: String? {
        guard let p = gw_sd_unavailable() else { return nil }
        return String(cString: p)
    }

    /// Inherited sockets (fd, name), and clears LISTEN_* so children do not see them.
    public static func listenFDs() -> [(fd: Int32, name: String)] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let n = gw_sd_listen_fds_with_names(1, &names)
        guard n > 0 else { return [] }
        var result: [(Int32, String)] = []
        for i in 0..<Int(n) {
            let fd = GW_SD_LISTEN_FDS_START + Int32(i)
            var name = String(i)
            if let names, let p = names[i] {
                name = String(cString: p)
                free(p)
            }
            result.append((fd, name))
        }
        free(names)
        return result
    }
}
