#if canImport(Glibc)
import Glibc
#endif

/// One client connection held by a worker: its descriptor, its read buffer
/// (requests are parsed in place) and where the head scan stands.
public final class Connection {
    public internal(set) var fd: Int32
    var listener: Int
    /// Its listener's protocol, chosen once at accept: every rule that
    /// differs between protocols is asked of it (ProtocolConformance).
    var conformance = ProtocolConformance.http
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
    /// Heads the loop parsed on this object, across its reuses (never
    /// reset): which one a thread's parsed head is (RequestContext.holdsHead).
    var heads: UInt64 = 0
    var peer = sockaddr_storage()
    var peerLength = socklen_t(0)

    enum Phase: Equatable {
        case open
        /// The head is parsed and its body (at most body_buffer_size) is
        /// being read by the event loop; the app is called once it is all
        /// in the buffer (`bodyHold`).
        case bufferingBody
        /// Its request is complete (head, and body held or spooled) and
        /// waits for an app thread (RequestLoop's `ready` queue); `readyAt`.
        case queued
        /// An app thread serves its request: only that thread touches the
        /// connection; the loop notes input meanwhile (`pendingInput`).
        case inApp
        /// The app returned; the event loop sends the rest of its response
        /// (`responseBuffer`, `heldResponse`) on EPOLLOUT.
        case sendingResponse
        /// Lingering close: our side is shut down; input is read and dropped
        /// until the client closes, or lingering_time since `since`.
        case lingering(since: UInt64)
        case closed
    }
    var phase = Phase.open
    var closed: Bool { phase == .closed }
    var bodyHold = BodyHold()
    /// 100 Continue was sent when the body began to be held.
    var continueSent = false
    var heldResponse = HeldResponse()
    /// Made on the first response the socket would not take, then kept.
    var responseBuffer: ResponseBuffer?
    /// A body above body_buffer_size, received into a file (BodySpool).
    var spool: BodySpool?
    /// The request handed to an app thread: where its head is in the
    /// buffer (HTTP), or where its packet ends (uwsgi, SCGI, FastCGI).
    var requestStart = 0
    var requestEnd = 0
    /// When its request became complete (monotonic ns): the wait for an app thread.
    var readyAt: UInt64 = 0
    /// Input may be waiting that nobody read: connections are edge-triggered
    /// in epoll, so an event that came while an app thread held the
    /// connection (or a read that filled the buffer) is owed a read once
    /// the loop has it back.
    var pendingInput = false
    /// Owned by an app thread, or waiting for one: the loop leaves it be.
    var isWithApp: Bool { phase == .queued || phase == .inApp }

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
        continueSent = false
        responseBuffer?.clear()
        spool = nil
        pendingInput = false
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

    /// Grows the buffer to `needed` bytes, keeping what it holds.
    func reserve(_ needed: Int) {
        if capacity < needed { replaceBuffer(capacity: needed) }
    }

    /// Doubles the buffer up to `limit`; false when already there.
    func grow(limit: Int) -> Bool {
        guard capacity < limit else { return false }
        replaceBuffer(capacity: min(capacity * 2, limit))
        return true
    }

    private func replaceBuffer(capacity new: Int) {
        let b = UnsafeMutablePointer<UInt8>.allocate(capacity: new)
        b.update(from: buffer, count: end)
        buffer.deallocate()
        buffer = b
        capacity = new
    }
}

extension HeadScanner {
    mutating func shift(by n: Int) {
        position -= n; lineStart -= n; headStart -= n
    }
}
