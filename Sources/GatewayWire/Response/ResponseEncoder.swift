#if canImport(Glibc)
import Glibc
#endif
import CGateway

/// The response of one request, from the app's start_response to the last
/// byte: its phase, its framing, and the bytes it puts on the output. One
/// per worker, reset for each request. The head is encoded into `out` and
/// sent with the first body bytes (one send for a small response).
///
/// Phases: pending → headersSet (start_response) → committed (the head is
/// encoded; framing decided) → finished (write_last); refused when
/// start_response refused the status or a header (a 500 then, whatever the
/// app does next); aborted from anywhere once the response can no longer be
/// completed as declared.
public final class ResponseEncoder<Output: ResponseOutput> {
    public enum Phase: Equatable {
        case pending, headersSet, committed, finished, aborted
        /// start_response was refused: the client gets a 500, whatever the app does next.
        case refused
    }

    /// How the body is delimited on the wire.
    public enum Framing: Equatable {
        /// No body follows the head: HEAD, 204, 304.
        case none
        /// Content-Length, with the bytes still owed.
        case length(remaining: Int)
        case chunked
        /// HTTP/1.0 without a length: the body ends when the connection closes.
        case closeDelimited
    }

    /// What the request says about its response.
    public struct Request: Equatable {
        public var isHead: Bool
        /// The client spoke HTTP/1.0 (its version, nothing more): no
        /// chunked coding for it, and keep-alive is said out loud.
        public var clientHTTP10: Bool
        /// The client (or the server: stopping, max_requests) wants the connection closed.
        public var close: Bool
        /// What the protocol allows (its conformance): the status line or
        /// `Status:`, records, chunking, Server and Date.
        public var dialect: ResponseDialect

        @inlinable
        public init(isHead: Bool = false, clientHTTP10: Bool = false, close: Bool = false,
                    dialect: ResponseDialect = HTTPConformance.dialect) {
            self.isHead = isHead
            self.clientHTTP10 = clientHTTP10
            self.close = close
            self.dialect = dialect
        }

        /// A body without a length may be chunked: the protocol allows it
        /// and the client reads it (HTTP/1.1).
        @inlinable
        public var chunkingAllowed: Bool { dialect.framing == .chunkedUnlessHTTP10 && !clientHTTP10 }
        /// A kept connection is said out loud ("Connection: keep-alive"): an
        /// HTTP/1.0 client on a connection the protocol does not frame.
        @inlinable
        public var saysKeepAlive: Bool { clientHTTP10 && dialect.framing != .records }
        @inlinable
        public var recordFramed: Bool { dialect.framing == .records }
    }

    public internal(set) var phase = Phase.pending
    public internal(set) var framing = Framing.none
    public internal(set) var end = ConnectionEnd.keepOpen
    /// The reason of the last refused call (api->last_error).
    public internal(set) var failure = GatewayFailure.none
    /// The master claimed the response (a timeout) and answered 504: it
    /// counts the request, once, as a timeout; the worker counts nothing.
    public package(set) var takenByMaster = false
    public package(set) var status = 0
    /// Body bytes put on the wire (HEAD: 0), for the access log.
    public package(set) var bodySent = 0
    /// Bytes handed to the output, head included: 0 means the client has
    /// seen nothing yet and an error response can still replace this one.
    public internal(set) var wireBytes = 0
    var request = Request()

    /// The status line after "HTTP/1.1 ": "200 OK".
    var statusLine = [UInt8]()
    /// The app's headers, validated and encoded ("Name: value\r\n"...).
    var appHeaders: UnsafeMutablePointer<UInt8>
    var appHeadersCapacity = 4096
    var appHeadersLength = 0
    /// The app's Content-Length, -1 when it set none.
    var appContentLength = -1
    var appSetsDate = false
    var appSetsServer = false

    let out: UnsafeMutablePointer<UInt8>
    let outCapacity = 65536
    var outLength = 0
    var date = [UInt8](repeating: 0x20, count: 29)

    let output: Output
    var log: (Int32, String) -> Void = { _, _ in }
    /// The rest of the request body will not be read (more than the drain
    /// budget left, chunked, or 100 Continue still owed): the head must say
    /// Connection: close. Kept up to date by the context as the body is read.
    public var bodyStaysUnread = false

    public init(output: Output) {
        self.output = output
        appHeaders = .allocate(capacity: appHeadersCapacity)
        out = .allocate(capacity: outCapacity)
    }

    deinit {
        appHeaders.deallocate()
        out.deallocate()
    }

    public func setLog(_ log: @escaping (Int32, String) -> Void) { self.log = log }
    /// The line of an error response the server makes itself (sendError):
    /// the error log names the client and the request line for those.
    package var logRefusal: ((Int32, String) -> Void)?

    /// Reads the clock when a head is written (the Date is never older
    /// than the second it is sent in); a seam for tests.
    package var clock: () -> Int = { HTTPDate.now() }
    /// The second `date` was formatted for.
    var dateSecond = Int.min

    @inline(__always)
    func freshDate() {
        let now = clock()
        guard now != dateSecond else { return }
        dateSecond = now
        date.withUnsafeMutableBufferPointer { HTTPDate.format(now, into: $0.baseAddress!) }
    }

    @inline(__always)
    public func begin(_ request: Request) {
        self.request = request
        takenByMaster = false
        phase = .pending
        framing = .none
        end = request.close ? .close : .keepOpen
        failure = .none
        bodyRefused = nil
        bodyStaysUnread = false
        status = 0
        bodySent = 0
        wireBytes = 0
        outLength = 0
        appHeadersLength = 0
        appContentLength = -1
        appSetsDate = false
        appSetsServer = false
    }

    /// The connection ends at least this abruptly.
    @inline(__always)
    package func endAtLeast(_ e: ConnectionEnd) { if end < e { end = e } }

    /// A refused call: its reason for last_error, and one log line.
    @discardableResult
    package func refuse(_ reason: GatewayFailure, _ message: String) -> Int32 {
        failure = reason
        // A gone client or a timeout was logged once when it happened.
        if reason != .clientGone && reason != .timeout { log(GATEWAY_LOG_ERROR, message) }
        return GATEWAY_ERROR
    }

    /// A refused call outside the response (a body read): its reason.
    package func note(_ reason: GatewayFailure) { failure = reason }

    /// The server refused the request body: its error response is the
    /// answer, and the app's response calls are refused from now on.
    public package(set) var bodyRefused: HTTPError?

    // MARK: sending

    /// Hands bytes to the output; the first ones claim the response on the
    /// scoreboard. False (and aborted) when the master took the response or
    /// the client is gone.
    @inline(__always)
    func emit(_ p: UnsafeRawPointer, _ n: Int) -> Bool {
        guard claim() else { return false }
        guard output.send(p, n) else { return lostClient() }
        wireBytes += n
        return true
    }

    @inline(__always)
    func emit(_ a: UnsafeRawPointer, _ an: Int, _ b: UnsafeRawPointer, _ bn: Int) -> Bool {
        guard claim() else { return false }
        guard output.send(a, an, b, bn) else { return lostClient() }
        wireBytes += an + bn
        return true
    }

    @inline(__always)
    func claim() -> Bool {
        if phase == .aborted { return false }
        guard wireBytes == 0 else { return true }
        if output.claimResponse() { return true }
        // The master decided a timeout and answers 504 itself: the client
        // gets exactly that, nothing from the app.
        phase = .aborted
        takenByMaster = true
        failure = .timeout
        status = 504
        bodySent = request.isHead ? 0 : ServerResponse.bodyLength(504)
        outLength = 0
        endAtLeast(.handOver)
        log(GATEWAY_LOG_INFO, "the request timed out and the master answered 504: the app's response is dropped")
        return false
    }

    func lostClient() -> Bool {
        phase = .aborted
        failure = .clientGone
        outLength = 0
        endAtLeast(.drop)
        return false
    }

    /// Sends what `out` holds.
    @inline(__always)
    @discardableResult
    func flush() -> Bool {
        let n = outLength
        outLength = 0
        return n == 0 || emit(out, n)
    }

    /// The client went away (seen while reading the body): nothing more is sent.
    public func clientGone() {
        _ = lostClient()
    }
}
