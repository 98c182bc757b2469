#if canImport(Glibc)
import Glibc
#endif

/// Where the bytes of a response go: the client's socket in a worker
/// (`SocketOutput`), a byte buffer in the encoder's unit tests. Each call
/// sends everything it is given or reports that the client is gone.
public protocol ResponseOutput: AnyObject {
    /// Sends all `n` bytes; false once the client is gone or stopped reading.
    func send(_ p: UnsafeRawPointer, _ n: Int) -> Bool
    /// Sends `a` then `b`, in one call where it can.
    func send(_ a: UnsafeRawPointer, _ an: Int, _ b: UnsafeRawPointer, _ bn: Int) -> Bool
    /// Sends `count` bytes of the open file `fd` from `offset`; the result
    /// and how many bytes went out.
    func sendFile(_ fd: Int32, offset: off_t, count: Int) -> (SendFileResult, sent: Int)
    /// Called before the first byte of a response: false when someone else
    /// answers it (in a worker: the master took the request for a timeout
    /// and sends its 504; the scoreboard decides).
    func claimResponse() -> Bool
    /// The size of `fd` when it is an open regular file (sendfile's check).
    func regularFileSize(_ fd: Int32) -> Int?
}

extension ResponseOutput {
    public func claimResponse() -> Bool { true }

    public func regularFileSize(_ fd: Int32) -> Int? {
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        return Int(st.st_size)
    }
}

public enum SendFileResult: Equatable {
    case sent
    /// The file ended before `count` bytes (some may have been sent).
    case fileShort
    case clientGone
    /// The file could not be read: the text names the call and errno.
    case failed(String)
}
