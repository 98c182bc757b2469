import Logging
import CSupport

/// swift-log handler for the error log: one line per message,
/// `2026-11-25 10:00:00 [info] [pid 123] message key=value`, written
/// with one write(2) to the shared LogFile. The message and the metadata
/// values are escaped here (`LogEscape.errorLog`), once for every logger
/// call: they quote requests, app messages and app headers, and none of
/// those may start a line of its own.
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

    public func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
                    source: String, file: String, function: String, line: UInt) {
        var all = metadata
        if let explicit { all.merge(explicit) { $1 } }
        let escape = LogEscape.errorLog
        var text = "\(Self.timestamp()) [\(level)] [\(label) \(Sys.getpid())] \(escape.escaped(message.description))"
        for key in all.keys.sorted() { text += " \(escape.escaped(key))=\(escape.escaped(all[key]!.description))" }
        LogRateLimiter.shared.write(line: text, to: self.file)
    }

    static func timestamp() -> String {
        var buf = [CChar](repeating: 0, count: 32)
        gw_clf_date(&buf)
        // "[25/Nov/2026:10:00:00 +0000]" -> without brackets
        let s = String(cString: buf)
        return String(s.dropFirst().dropLast())
    }

    public static func level(_ name: String) -> Logger.Level {
        switch name {
        case "debug": return .debug
        case "warning": return .warning
        case "error": return .error
        default: return .info
        }
    }
}
