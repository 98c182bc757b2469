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
}

public enum SendFileResult: Equatable {
    case sent
    /// The file ended before `count` bytes (some may have been sent).
    case fileShort
    case clientGone
    /// The file could not be read: the text names the call and errno.
    case failed(String)
}
