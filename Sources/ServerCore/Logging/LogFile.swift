#if canImport(Glibc)
import Glibc
#endif

/// A log destination: "-" (stderr), "" (off) or a path opened O_APPEND.
/// Lines are written with one write(2) each so concurrent workers never
/// interleave inside a line. `reopen()` is for SIGUSR1 (logrotate).
public final class LogFile {
    public let path: String
    public private(set) var fd: Int32

    public init(path: String) throws {
        self.path = path
        fd = try Self.open(path)
    }

    static func open(_ path: String) throws -> Int32 {
        switch path {
        case "": return -1
        case "-": return 2
        case "stdout": return 1
        default: return try Sys.open(path, O_WRONLY | O_APPEND | O_CREAT, 0o640)
        }
    }

    public var isEnabled: Bool { fd >= 0 }

    /// Opens the path anew and swaps the descriptor; on failure keeps the old one.
    public func reopen() throws {
        guard path != "", path != "-", path != "stdout" else { return }
        let new = try Self.open(path)
        let old = fd
        fd = new
        Sys.close(old)
    }

    @inline(__always)
    public func write(_ p: UnsafeRawPointer, _ n: Int) {
        guard fd >= 0 else { return }
        try? Sys.writeAll(fd, p, n)
    }

    public func write(line: String) {
        guard fd >= 0 else { return }
        var s = line
        s.append("\n")
        try? Sys.writeAll(fd, s)
    }
}
