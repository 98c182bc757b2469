import ServerCore

/// A process's memory from /proc/PID/smaps_rollup: USS (private pages) and
/// PSS. RSS alone would count the pages a worker shares with the master.
public struct MemoryUsage: Equatable {
    public var ussKB: UInt64 = 0
    public var pssKB: UInt64 = 0
    public var rssKB: UInt64 = 0

    public static func read(pid: Int32? = nil) -> MemoryUsage? {
        let path = pid.map { "/proc/\($0)/smaps_rollup" } ?? "/proc/self/smaps_rollup"
        guard let text = try? FileReader.readText(path) else { return nil }
        return parse(text)
    }

    public static func parse(_ text: String) -> MemoryUsage {
        var m = MemoryUsage()
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let v = UInt64(parts[1]) else { continue }
            switch parts[0] {
            case "Rss:": m.rssKB = v
            case "Pss:": m.pssKB = v
            case "Private_Clean:", "Private_Dirty:": m.ussKB += v
            default: break
            }
        }
        return m
    }
}
