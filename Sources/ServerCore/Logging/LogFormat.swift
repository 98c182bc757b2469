import CSupport

/// `log_format`: how the error and access logs write their lines. Text is
/// the classic form; JSON is one object per line with stable keys
/// (docs/observability.md lists them).
public enum LogFormat: String, CaseIterable, Sendable {
    case text, json

    public init(_ name: String) { self = LogFormat(rawValue: name) ?? .text }
}

/// systemd's journal: a service's stdout/stderr connected to journald has
/// JOURNAL_STREAM="DEV:INODE" in its environment (systemd.exec(5)). A log
/// whose descriptor is that stream writes no timestamp of its own (journald
/// stamps each line) and starts each line with its syslog priority, `<3>`
/// for an error (sd-daemon(3)), so `journalctl -p err` selects them.
public enum JournalStream {
    /// Whether `fd` is the journal stream named by `environment` (JOURNAL_STREAM's value).
    public static func matches(_ fd: Int32, environment: String? = Sys.environment("JOURNAL_STREAM")) -> Bool {
        guard fd >= 0, let value = environment, let named = parse(value),
              let actual = Sys.deviceAndInode(fd) else { return false }
        return named == actual
    }

    static func parse(_ value: String) -> (device: UInt64, inode: UInt64)? {
        let parts = value.split(separator: ":")
        guard parts.count == 2, let d = UInt64(parts[0]), let i = UInt64(parts[1]) else { return nil }
        return (d, i)
    }

    /// The syslog priority of a swift-log level (sd-daemon(3): SD_ERR is <3>).
    public static func priority(_ level: String) -> Int32 {
        switch level {
        case "critical": return 2
        case "error": return 3
        case "warning": return 4
        case "notice": return 5
        case "info": return 6
        default: return 7
        }
    }
}
