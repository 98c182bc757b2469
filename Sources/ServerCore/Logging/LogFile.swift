#if canImport(Glibc)
import Glibc
#endif
import CSupport

/// A log destination: "-" (stderr), "" (off) or a path opened O_APPEND.
/// Lines are written with one write(2) each so concurrent workers never
/// interleave inside a line. A line is written whole or not at all: when a
/// full disk cuts a write short, the fragment is taken back, so the file
/// never holds a torn line that the next one would be glued to.
/// `reopen()` is for SIGUSR1 (logrotate).
public final class LogFile {
    public private(set) var path: String
    public private(set) var fd: Int32
    /// A regular file (fragments can be truncated away), not a pipe or tty.
    private var isRegular: Bool
    /// Lines not written (disk full, I/O error) since the start.
    public private(set) var dropped = 0
    /// log_format: text or JSON lines.
    public var format: LogFormat
    /// The descriptor is systemd's journal stream (JournalStream): no
    /// timestamps of ours, a priority prefix on each line.
    public private(set) var isJournal: Bool

    public init(path: String, format: LogFormat = .text) throws {
        self.path = path
        self.format = format
        fd = try Self.open(path)
        isRegular = fd >= 0 && Sys.isRegularFile(fd)
        isJournal = JournalStream.matches(fd)
    }

    /// The GW_LOG_* flags of this file's lines (for gw_log_line).
    public var mode: Int32 {
        (format == .json ? Int32(GW_LOG_JSON) : Int32(GW_LOG_TEXT)) | (isJournal ? Int32(GW_LOG_JOURNAL) : 0)
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

    /// Writes to `fd` from now on (a copy of stdout kept by capture_output).
    public func useDescriptor(_ fd: Int32) {
        self.fd = fd
        isRegular = Sys.isRegularFile(fd)
        isJournal = JournalStream.matches(fd)
    }

    /// A reload that names another destination: opens it and swaps the
    /// descriptor; on failure keeps the old path and descriptor.
    public func retarget(_ newPath: String) throws {
        guard newPath != path else { return }
        let new = try Self.open(newPath)
        let old = fd
        fd = new
        path = newPath
        isRegular = new >= 0 && Sys.isRegularFile(new)
        isJournal = JournalStream.matches(new)
        if old > 2 { Sys.close(old) }
    }

    /// Opens the path anew and swaps the descriptor; on failure keeps the old one.
    public func reopen() throws {
        guard path != "", path != "-", path != "stdout" else { return }
        let new = try Self.open(path)
        // The new file takes the old descriptor's number (dup2): app threads
        // writing a line meanwhile write it to one file or the other, never
        // to a closed or reused descriptor.
        if fd >= 0 {
            defer { Sys.close(new) }
            try Sys.dup2(new, fd)
            if fd > 2 { try Sys.setCloseOnExec(fd, true) }
        } else {
            fd = new
        }
        let regular = Sys.isRegularFile(fd), journal = JournalStream.matches(fd)
        if regular != isRegular { isRegular = regular }
        if journal != isJournal { isJournal = journal }
    }

    /// Writes `n` bytes that end in a newline: all of them, or none.
    @inline(__always)
    public func write(_ p: UnsafeRawPointer, _ n: Int) {
        guard fd >= 0 else { return }
        let written: Int
        do {
            guard let w = try Sys.write(fd, p, n) else {
                // a non-blocking pipe that is full: wait for it, as before
                try? Sys.writeAll(fd, p, n)
                return
            }
            written = w
        } catch {
            dropped += 1  // nothing was written (ENOSPC, EIO)
            return
        }
        if written == n { return }
        if isRegular {
            // Short on a file: the disk is full. Take the fragment back; if
            // another process appended after it, end it so lines stay apart.
            dropped += 1
            if !Sys.truncateOwnTail(fd, count: written) {
                var nl: UInt8 = 10
                _ = try? Sys.write(fd, &nl, 1)
            }
            return
        }
        try? Sys.writeAll(fd, p + written, n - written)
    }

    /// An error-log event, in this file's form.
    public func write(record: LogRecord) {
        guard fd >= 0 else { return }
        write(line: record.line(mode: mode))
    }

    public func write(line: String) {
        guard fd >= 0 else { return }
        var s = line
        s.append("\n")
        s.withUTF8 { write($0.baseAddress!, $0.count) }
    }
}
