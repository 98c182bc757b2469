/// Whether the event loop holds a request until its body is all in the
/// connection's buffer (body_buffer_size), so a client that trickles its
/// body ties up a connection, not the app; and, for a chunked body, how far
/// the bytes received were decoded. Pure: buffer offsets in, a verdict out
/// (Tests/ServerCoreTests/BodyHoldTests.swift).
struct BodyHold {
    enum Verdict: Equatable {
        /// The whole body is in the buffer: call the app, it reads from memory.
        case complete
        /// Wait in the event loop for more of the body.
        case wait
        /// Too big to hold: call the app now and let the body stream.
        case stream
        /// The bytes in hand are not a valid chunked body (or pass
        /// max_body_size): refused before the app is called, whether or
        /// not it would read the body.
        case failed(HTTPError)
    }

    /// The head is `headStart..<headEnd` in the buffer; it is parsed again
    /// when the app is called (other requests reuse the parsed head meanwhile).
    var headStart = 0
    var headEnd = 0
    /// Content-Length: where the body ends in the buffer. -1: chunked.
    var bodyEnd = -1
    /// A chunked body still going past this offset is not held.
    var limitEnd = 0
    /// Chunked: the decoder over the bytes up to `scanned`.
    var decoder = ChunkedDecoder()
    var scanned = 0

    init() {}

    /// For a head just parsed whose body is Content-Length `contentLength`
    /// (or chunked), with at most `limit` bytes of it held.
    init(headStart: Int, headEnd: Int, contentLength: Int, chunked: Bool, limit: Int) {
        self.headStart = headStart
        self.headEnd = headEnd
        limitEnd = headEnd + limit
        scanned = headEnd
        if chunked {
            bodyEnd = -1
        } else {
            // A body bigger than the limit is not held: mark it streaming.
            bodyEnd = contentLength <= limit ? headEnd + contentLength : -2
        }
    }

    /// The buffer room the body needs: its end, or the limit for chunked.
    var capacityNeeded: Int { bodyEnd >= 0 ? bodyEnd : limitEnd }

    /// What to do with `buffer[0..<end]` in hand.
    mutating func check(_ buffer: UnsafePointer<UInt8>, end: Int, limits: HTTPLimits) -> Verdict {
        if bodyEnd >= 0 { return end >= bodyEnd ? .complete : .wait }
        if bodyEnd == -2 { return .stream }
        while scanned < end {
            switch decoder.step(buffer + scanned, end - scanned, limits: limits) {
            case .data(let n), .framing(let n): scanned += n
            case .needMore: scanned = end
            case .done: return .complete
            case .failed(let e): return .failed(e)
            }
        }
        return scanned >= limitEnd ? .stream : .wait
    }
}
