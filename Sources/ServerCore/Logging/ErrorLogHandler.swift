import Logging
import CSupport

/// swift-log handler for the error log: one line per message,
/// `25/Nov/2026:10:00:00 +0000 [info] [worker 123] message key=value`, or
/// the JSON form (log_format = "json"), or either without the timestamp
/// and with a `<6>` priority prefix under systemd (LogRecord), written
/// with one write(2) to the shared LogFile. The message and the metadata
/// values are escaped once for every logger call (in the text form as
/// `LogEscape.errorLog` does, in JSON as RFC 8259 says: gw_log_line):
/// they quote requests, app messages and app headers, and none of those
/// may start a line of its own.
public struct ErrorLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let file: LogFile
    let label: String

    public init(label: String, file: LogFile, level: Logger.Level) {
        self.label = label
        self.file = file
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        let record = LogRecord(level: "\(event.level)", source: label, pid: Sys.getpid(),
                               message: event.message.description,
                               fields: all.keys.sorted().map { ($0, all[$0]!.description) })
        LogRateLimiter.shared.write(record: record, to: self.file)
    }

    public static func level(_ level: Config.LogLevel) -> Logger.Level { Self.level(level.rawValue) }

    public static func level(_ name: String) -> Logger.Level {
        switch name {
        case "debug": return .debug
        case "warning": return .warning
        case "error": return .error
        default: return .info
        }
    }
}
