import Synchronization

/// Keeps a repeated error-log line from flooding the disk: the first copy
/// is written, the copies that follow within a second are only counted,
/// and once that second is over one line says how many there were:
///
///     01/Dec/2026:09:00:00 +0000 [error] [worker 12] accept4() failed: Too many open files (errno 24) ...
///     01/Dec/2026:09:00:01 +0000 [error] [worker 12] accept4() failed: ... (57 more like it in the last second)
///
/// Lines are alike when they are equal after the timestamp (everything
/// before the first " ["), so a pid or a path keeps events apart. One per
/// process (a forked worker starts with an empty table).
public final class LogRateLimiter: @unchecked Sendable {
    public static let shared = LogRateLimiter()

    struct Entry {
        var windowStart: UInt64
        var suppressed: Int
        /// The line that says how many were suppressed.
        var summary: (Int) -> String
        var file: LogFile
    }

    static let window: UInt64 = 1_000_000_000
    /// Lines tracked at most; past it lines pass unlimited until old ones expire.
    static let capacity = 256

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// Writes `line` to `file` unless it repeats one written less than a second ago.
    public func write(line: String, to file: LogFile, now: UInt64 = Sys.monotonicNanos()) {
        write(key: Self.key(line), line: line, to: file, now: now) { "\(line) (\($0) more like it in the last second)" }
    }

    /// Writes an event in the file's form unless the same one was written
    /// less than a second ago.
    public func write(record: LogRecord, to file: LogFile, now: UInt64 = Sys.monotonicNanos()) {
        write(key: record.key, line: record.line(mode: file.mode), to: file, now: now) { n in
            var r = record
            r.message += " (\(n) more like it in the last second)"
            return r.line(mode: file.mode)
        }
    }

    func write(key: String, line: String, to file: LogFile, now: UInt64, summary: @escaping (Int) -> String) {
        var out: [String] = []
        entries.withLock { table in
            if var e = table[key] {
                if now &- e.windowStart < Self.window {
                    e.suppressed += 1
                    e.summary = summary
                    table[key] = e
                    return
                }
                if let summary = Self.summary(e) { out.append(summary) }
            }
            if table.count >= Self.capacity { Self.expire(&table, now: now, into: &out) }
            if table.count < Self.capacity {
                table[key] = Entry(windowStart: now, suppressed: 0, summary: summary, file: file)
            }
            out.append(line)
        }
        for l in out { file.write(line: l) }
    }

    /// Writes the counts of windows that ended (call about once a second).
    public func flush(now: UInt64 = Sys.monotonicNanos()) {
        var due: [(LogFile, String)] = []
        entries.withLock { table in
            for (key, e) in table where now &- e.windowStart >= Self.window {
                if let s = Self.summary(e) { due.append((e.file, s)) }
                table[key] = nil
            }
        }
        for (file, line) in due { file.write(line: line) }
    }

    static func expire(_ table: inout [String: Entry], now: UInt64, into out: inout [String]) {
        for (key, e) in table where now &- e.windowStart >= window {
            if let s = summary(e) { out.append(s) }
            table[key] = nil
        }
    }

    static func summary(_ e: Entry) -> String? {
        e.suppressed == 0 ? nil : e.summary(e.suppressed)
    }

    static func key(_ line: String) -> String {
        guard let r = line.range(of: " [") else { return line }
        return String(line[r.lowerBound...])
    }
}
