/// One line per second for a kind of event that can come in floods: the
/// first is written in full, the rest of that second are counted, and a
/// summary with the last of them follows when the second is over.
struct FoldedLog: Equatable {
    static let window: UInt64 = 1_000_000_000
    var windowStart: UInt64?
    var folded = 0
    var last = ""

    /// True: log `line` in full. False: it was counted (call `due` first,
    /// so that a window that is over is summarised before a new one opens).
    mutating func admit(_ line: String, now: UInt64) -> Bool {
        if let start = windowStart, now &- start < Self.window {
            folded += 1
            last = line
            return false
        }
        windowStart = now
        folded = 0
        return true
    }

    func isFolding(now: UInt64) -> Bool {
        guard let start = windowStart else { return false }
        return folded > 0 && now &- start < Self.window
    }

    /// The count and last line of a window that is over, once.
    mutating func due(now: UInt64) -> (Int, String)? {
        guard let start = windowStart, now &- start >= Self.window else { return nil }
        defer { self = FoldedLog() }
        return folded > 0 ? (folded, last) : nil
    }
}
