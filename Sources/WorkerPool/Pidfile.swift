#if canImport(Glibc)
import Glibc
#endif
import ServerCore

/// The pidfile: written at start, removed at exit. A pidfile naming a live
/// process refuses the start; a stale one (dead pid) is replaced.
public struct Pidfile {
    public let path: String

    public struct AlreadyRunning: Error, CustomStringConvertible {
        public let path: String
        public let pid: Int32
        public var description: String {
            "pidfile \(path) names process \(pid), which is running: is gatewayd already started? (remove the file if not)"
        }
    }

    public init(path: String) { self.path = path }

    public func create(pid: Int32) throws {
        try check(pid: pid, replacing: nil)
        try write(pid: pid)
    }

    /// Throws AlreadyRunning if the file names another live process than
    /// `replacing` (the old master of a binary upgrade, whose file we take over).
    public func check(pid: Int32, replacing: Int32?) throws {
        if let text = try? FileReader.readText(path),
           let old = Int32(text.trimmingCharacters()), old > 0, old != pid, old != replacing,
           Sys.processExists(old) {
            throw AlreadyRunning(path: path, pid: old)
        }
    }

    public func names(_ pid: Int32) -> Bool {
        (try? FileReader.readText(path)).flatMap { Int32($0.trimmingCharacters()) } == pid
    }

    /// Writes atomically (temp file + rename).
    public func write(pid: Int32) throws {
        let tmp = "\(path).\(pid).tmp"
        let fd = try Sys.open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { Sys.close(fd) }
        try Sys.writeAll(fd, "\(pid)\n")
        do {
            try Sys.rename(tmp, path)
        } catch {
            Sys.unlink(tmp)
            throw error
        }
    }

    /// Removes the file if it still names `pid` (a new master may own it).
    public func remove(ifOwnedBy pid: Int32) {
        if let text = try? FileReader.readText(path), Int32(text.trimmingCharacters()) == pid {
            Sys.unlink(path)
        }
    }
}

extension String {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
