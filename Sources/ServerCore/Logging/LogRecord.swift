import CSupport

/// One error-log event before it becomes a line: the line's form depends on
/// the file (text or JSON, the journal or not), and the rate limiter
/// compares events, not their timestamps.
public struct LogRecord: Sendable {
    public var level: String
    public var source: String
    public var pid: Int32
    public var message: String
    /// Metadata, sorted by key: ` key=value` after a text message, keys of their own in JSON.
    public var fields: [(key: String, value: String)]

    public init(level: String, source: String, pid: Int32, message: String, fields: [(key: String, value: String)] = []) {
        self.level = level
        self.source = source
        self.pid = pid
        self.message = message
        self.fields = fields
    }

    /// Keys of the JSON form that metadata may not take.
    static let reserved: Set<String> = ["time", "level", "source", "pid", "message"]

    /// What makes two events the same for the rate limiter.
    var key: String {
        "\(level)|\(source)|\(pid)|\(message)" + fields.map { "|\($0.key)=\($0.value)" }.joined()
    }

    /// The line in `mode` (GW_LOG_* flags), without its newline. The text
    /// form is gw_log_line's, the same function the stack-dump handler
    /// uses, so both write identical lines.
    public func line(mode: Int32) -> String {
        if mode & Int32(GW_LOG_JSON) != 0 {
            var text = Self.render(mode: mode, level: level, source: source, pid: pid, message: message)
            guard !fields.isEmpty else { return text }
            text.removeLast()  // "}"
            for (k, v) in fields {
                let key = Self.reserved.contains(k) ? "meta_\(k)" : k
                text += ",\(JSONText.quoted(key)):\(JSONText.quoted(v))"
            }
            return text + "}"
        }
        let suffix = fields.map { " \($0.key)=\($0.value)" }.joined()
        guard message.utf8.contains(0x0A) else {
            return Self.render(mode: mode, level: level, source: source, pid: pid, message: message + suffix)
        }
        // Several lines (a traceback): each its own line under the same
        // prefix, the later ones marked as its continuation; the fields on the first.
        let lines = Self.lines(of: message)
        var out = Self.render(mode: mode, level: level, source: source, pid: pid, message: lines[0] + suffix)
        for line in lines.dropFirst() {
            out += "\n" + Self.render(mode: mode | Int32(GW_LOG_CONTINUED), level: level, source: source, pid: pid, message: line)
        }
        return out
    }

    /// The lines of `message`: split at LF (a CR before it goes too), without
    /// the empty one after a final newline.
    static func lines(of message: String) -> [String] {
        var lines = message.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map { line -> String in
            let bytes = line.last == 0x0D ? line.dropLast() : line[...]
            return String(decoding: bytes, as: UTF8.self)
        }
        if lines.count > 1 && lines.last!.isEmpty { lines.removeLast() }
        return lines
    }

    static func render(mode: Int32, level: String, source: String, pid: Int32, message: String) -> String {
        var msg = message
        return msg.withUTF8 { m in
            // the worst case: every byte escaped as \u00XX, plus the frame
            let cap = m.count * 6 + 160
            return withUnsafeTemporaryAllocation(of: CChar.self, capacity: cap) { out in
                let n = gw_log_line(out.baseAddress!, cap, mode, JournalStream.priority(level), level, source, pid,
                                    UnsafeRawPointer(m.baseAddress!).assumingMemoryBound(to: CChar.self), m.count)
                // without the newline
                return String(decoding: UnsafeRawBufferPointer(start: out.baseAddress!, count: n - 1), as: UTF8.self)
            }
        }
    }
}

/// JSON string literals (RFC 8259 section 7) for the log lines.
public enum JSONText {
    public static func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        appendQuoted(Array(s.utf8)[...], to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `"` + the bytes escaped + `"`; bytes that are not UTF-8 become U+FFFD.
    public static func appendQuoted<C: Collection>(_ bytes: C, to out: inout [UInt8]) where C.Element == UInt8 {
        out.append(0x22)
        for scalar in String(decoding: Array(bytes), as: UTF8.self).unicodeScalars {
            switch scalar {
            case "\"": out += [0x5C, 0x22]
            case "\\": out += [0x5C, 0x5C]
            case "\n": out += [0x5C, 0x6E]
            case "\r": out += [0x5C, 0x72]
            case "\t": out += [0x5C, 0x74]
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = Array("0123456789abcdef".utf8)
                    out += [0x5C, 0x75, 0x30, 0x30, hex[Int(scalar.value >> 4)], hex[Int(scalar.value & 15)]]
                } else {
                    out += Array(String(scalar).utf8)
                }
            }
        }
        out.append(0x22)
    }
}
