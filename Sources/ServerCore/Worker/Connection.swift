#if canImport(Glibc)
import Glibc
#endif

/// One client connection held by a worker: its descriptor, its read buffer
/// (requests are parsed in place) and where the head scan stands.
public final class Connection {
    public internal(set) var fd: Int32
    var listener: Int
    /// Its listener's protocol, set once at accept.
    var proto = ListenProtocol.http
    /// FastCGI: the request being served and whether the connection stays.
    var fastcgi = FastCGISession()
    var buffer: UnsafeMutablePointer<UInt8>
    var capacity: Int
    /// Unconsumed bytes are buffer[start..<end].
    var start = 0
    var end = 0
    var scanner = HeadScanner()
    /// Monotonic ns of the last byte read or response sent.
    var lastActive: UInt64
    /// When the first byte of the head in progress arrived (0: none).
    var headSince: UInt64 = 0
    var requests = 0
    var peer = sockaddr_storage()
    var peerLength = socklen_t(0)

    enum Phase: Equatable {
        case open
        /// Lingering close: our side is shut down; input is read and dropped
        /// until the client closes, or lingering_time since `since`.
        case lingering(since: UInt64)
        case closed
    }
    var phase = Phase.open
    var closed: Bool { phase == .closed }

    init(fd: Int32, listener: Int, capacity: Int, now: UInt64) {
        self.fd = fd
        self.listener = listener
        self.capacity = capacity
        buffer = .allocate(capacity: capacity)
        lastActive = now
    }

    deinit { buffer.deallocate() }

    /// Makes a closed connection (from the spare pool) serve a new descriptor.
    func reuse(fd: Int32, listener: Int, now: UInt64) {
        self.fd = fd
        self.listener = listener
        start = 0; end = 0
        scanner.reset(at: 0)
        lastActive = now
        headSince = 0
        requests = 0
        fastcgi = FastCGISession()
        phase = .open
    }

    var buffered: Int { end - start }

    /// The bytes from `offset` to the first CR or LF (at most `limit`): a
    /// request line as received, for logging a request that was refused.
    func firstLine(from offset: Int, limit: Int = 512) -> [UInt8] {
        var i = max(0, min(offset, end))
        let stop = min(end, i + limit)
        var line: [UInt8] = []
        while i < stop && buffer[i] != 0x0D && buffer[i] != 0x0A { line.append(buffer[i]); i += 1 }
        return line
    }
    var isIdle: Bool { start == end }

    /// Moves unconsumed bytes to the front to make room at the end.
    func compact() {
        guard start > 0 else { return }
        let n = end - start
        if n > 0 { memmove(buffer, buffer + start, n) }
        scanner.shift(by: start)
        start = 0
        end = n
    }

    /// Doubles the buffer up to `limit`; false when already there.
    func grow(limit: Int) -> Bool {
        guard capacity < limit else { return false }
        let new = min(capacity * 2, limit)
        let b = UnsafeMutablePointer<UInt8>.allocate(capacity: new)
        b.update(from: buffer, count: end)
        buffer.deallocate()
        buffer = b
        capacity = new
        return true
    }
}

extension HeadScanner {
    mutating func shift(by n: Int) {
        position -= n; lineStart -= n; headStart -= n
    }
}
