#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import GatewayWire

/// Where the in-memory server's encoder writes: a byte buffer that takes
/// everything (a client that never goes away and always reads).
final class BufferOutput: ResponseOutput {
    private(set) var bytes: [UInt8] = []

    func send(_ p: UnsafeRawPointer, _ n: Int) -> Bool {
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: p, count: n))
        return true
    }

    func send(_ a: UnsafeRawPointer, _ an: Int, _ b: UnsafeRawPointer, _ bn: Int) -> Bool {
        send(a, an) && send(b, bn)
    }

    /// The file's bytes, read as sendfile(2) would; a short file sends what it has.
    func sendFile(_ fd: Int32, offset: off_t, count: Int) -> (SendFileResult, sent: Int) {
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, offset) }
        if n < 0 { return (.failed("pread(): errno \(errno)"), 0) }
        bytes.append(contentsOf: buffer[0..<n])
        return (n < count ? .fileShort : .sent, n)
    }
}
