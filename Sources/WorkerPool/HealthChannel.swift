#if canImport(Glibc)
import Glibc
#endif
import ServerCore

/// One end of a worker's health channel.
public struct HealthChannel {
    public let fd: Int32

    public init(fd: Int32) { self.fd = fd }

    /// Sends a message. The worker's end is non-blocking: a message that
    /// finds the channel full (a stalled master) is dropped, as heartbeats
    /// may be; errors (master gone) are ignored: EOF tells the rest.
    public func send(_ m: HealthMessage) {
        let bytes = m.encode()
        bytes.withUnsafeBytes { p in _ = try? Sys.send(fd, p.baseAddress!, p.count) }
    }

    public enum Received { case message(HealthMessage), eof, none }

    /// Reads one message without blocking.
    public func receive() -> Received {
        var b = [UInt8](repeating: 0, count: HealthMessage.size)
        let n: Int?
        do {
            n = try b.withUnsafeMutableBytes { try Sys.read(fd, $0.baseAddress!, $0.count) }
        } catch {
            return .eof
        }
        guard let n else { return .none }
        if n == 0 { return .eof }
        guard n == HealthMessage.size, let m = HealthMessage.decode(b) else { return .none }
        return .message(m)
    }
}
