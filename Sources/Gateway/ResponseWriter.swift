/// Starts and writes the response of one request (start_response and the
/// write callable of WSGI). A handle: copies write to the same response.
/// Every method throws a `GatewayError` when the server refuses, which the
/// app normally lets propagate (the call then returns GATEWAY_ERROR).
///
/// Three levels, fastest first:
/// - prepared: `respond(_: StaticResponse)`, `respond(_: StaticHeaders, body:)`,
///   `start(_: StaticHeaders)`: C strings built once, no allocation;
/// - raw: `start(status:headers:replacing:)` with C pointers, `write(_:)` and
///   `writeLast(_:)` with an `UnsafeRawBufferPointer`, `sendFile(fd:offset:count:)`;
/// - convenience: `Status`, `Headers`, `String` and `[UInt8]` (converted on
///   the stack per call).
///
/// A middleware can interpose a `ResponseFilter` (see `init(filter:)`).
public struct ResponseWriter {
    /// The server's request; valid until the call returns.
    public let raw: UnsafeMutablePointer<gateway_request>
    /// The filter the calls go through, nil when they go straight to the server.
    public let filter: ResponseFilter?

    /// A writer that calls the server directly.
    @inlinable
    public init(_ raw: UnsafeMutablePointer<gateway_request>) {
        self.raw = raw
        self.filter = nil
    }

    /// A writer whose calls go through `filter` (which forwards to `filter.next`).
    public init(filter: ResponseFilter) {
        self.raw = filter.next.raw
        self.filter = filter
    }

    @inlinable
    var api: UnsafePointer<gateway_api> { raw.pointee.api.unsafelyUnwrapped }

    // MARK: Raw level

    /// Sets the status line and the header fields (api->start_response). They
    /// go out with the first body byte or when the call returns. With
    /// `replacing: true` (GATEWAY_REPLACE) a second call replaces the first
    /// while no body byte was sent (PEP 3333's exc_info).
    @inlinable @inline(__always)
    public func start(status: UnsafePointer<CChar>, headers: UnsafeBufferPointer<gateway_pair>,
                      replacing: Bool = false) throws {
        if filter != nil { return try filteredStart(status: status, headers: headers, replacing: replacing) }
        let rc = api.pointee.start_response.unsafelyUnwrapped(
            raw, status, headers.baseAddress, headers.count, replacing ? GATEWAY_REPLACE : 0)
        guard rc == GATEWAY_OK else { throw GatewayError.refusal(raw, fallback: .startResponseFailed) }
    }

    /// Sends body bytes (api->write); the first write sends the head too.
    @inlinable @inline(__always)
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if filter != nil { return try filter.unsafelyUnwrapped.write(bytes) }
        let rc = api.pointee.write.unsafelyUnwrapped(raw, bytes.baseAddress ?? ResponseWriter.noBytes, bytes.count)
        guard rc == GATEWAY_OK else { throw GatewayError.refusal(raw, fallback: .writeFailed) }
    }

    /// Sends `bytes` as the whole rest of the body and finishes the response
    /// (api->write_last). When nothing was written yet and no Content-Length
    /// was set, the server sets Content-Length. Later writes fail.
    @inlinable @inline(__always)
    public func writeLast(_ bytes: UnsafeRawBufferPointer) throws {
        if filter != nil { return try filter.unsafelyUnwrapped.writeLast(bytes) }
        let rc = api.pointee.write_last.unsafelyUnwrapped(raw, bytes.baseAddress ?? ResponseWriter.noBytes, bytes.count)
        guard rc == GATEWAY_OK else { throw GatewayError.refusal(raw, fallback: .writeFailed) }
    }

    /// Sends `count` bytes of the open file `fd` from `offset` (api->sendfile,
    /// zero-copy). The file stays open: closing it is the caller's job.
    @inlinable
    public func sendFile(fd: Int32, offset: Int = 0, count: Int) throws {
        if filter != nil { return try filter.unsafelyUnwrapped.sendFile(fd: fd, offset: offset, count: count) }
        let rc = api.pointee.sendfile.unsafelyUnwrapped(raw, fd, off_t(offset), count)
        guard rc == GATEWAY_OK else { throw GatewayError.refusal(raw, fallback: .sendFileFailed) }
    }

    /// A valid pointer for empty writes (an empty buffer may have no address;
    /// the server should not see NULL).
    @inlinable
    static var noBytes: UnsafeRawPointer { UnsafeRawPointer(("" as StaticString).utf8Start) }

    @usableFromInline
    func filteredStart(status: UnsafePointer<CChar>, headers: UnsafeBufferPointer<gateway_pair>,
                       replacing: Bool) throws {
        try filter!.start(status: status, headers: headers, replacing: replacing)
    }

    // MARK: Prepared (the fast path)

    /// Starts the response with a prepared head.
    @inlinable @inline(__always)
    public func start(_ head: StaticHeaders, replacing: Bool = false) throws {
        try start(status: head.cStatus, headers: head.cHeaders, replacing: replacing)
    }

    /// Sends a prepared response: start_response and write_last.
    @inlinable @inline(__always)
    public func respond(_ response: StaticResponse) throws {
        try respond(response.head, body: response.body)
    }

    /// Sends a prepared head and `body` as the whole response.
    @inlinable @inline(__always)
    public func respond(_ head: StaticHeaders, body: UnsafeRawBufferPointer) throws {
        try start(status: head.cStatus, headers: head.cHeaders)
        try writeLast(body)
    }

    /// Sends a prepared head and a literal body as the whole response.
    @inlinable
    public func respond(_ head: StaticHeaders, body: StaticString) throws {
        try start(status: head.cStatus, headers: head.cHeaders)
        try writeLast(body)
    }

    /// Sends a prepared head and `body` as the whole response.
    @inlinable
    public func respond(_ head: StaticHeaders, body: String) throws {
        try start(status: head.cStatus, headers: head.cHeaders)
        try writeLast(body)
    }

    // MARK: Convenience

    /// Starts the response (see `start(status:headers:replacing:)` above).
    public func start(status: Status, headers: Headers = [:], replacing: Bool = false) throws {
        try status.line.withCString { line in
            try CStrings.withPairs(headers) { try start(status: line, headers: $0, replacing: replacing) }
        }
    }

    /// Sends a whole response in one go; the server sets Content-Length.
    public func respond(status: Status = .ok, headers: Headers = [:], body: String) throws {
        try start(status: status, headers: headers)
        try writeLast(body)
    }

    /// Sends a whole response in one go; the server sets Content-Length.
    public func respond(status: Status = .ok, headers: Headers = [:], body: [UInt8]) throws {
        try start(status: status, headers: headers)
        try writeLast(body)
    }

    /// Sends a whole response in one go; the server sets Content-Length.
    public func respond(status: Status = .ok, headers: Headers = [:], body: UnsafeRawBufferPointer) throws {
        try start(status: status, headers: headers)
        try writeLast(body)
    }

    @inlinable
    public func write(_ text: String) throws {
        var text = text
        try text.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    @inlinable
    public func write(_ text: StaticString) throws {
        guard text.hasPointerRepresentation else { return try write(text.description) }
        try write(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inlinable
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    @inlinable
    public func writeLast(_ text: String) throws {
        var text = text
        try text.withUTF8 { try writeLast(UnsafeRawBufferPointer($0)) }
    }

    @inlinable
    public func writeLast(_ text: StaticString) throws {
        guard text.hasPointerRepresentation else { return try writeLast(text.description) }
        try writeLast(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inlinable
    public func writeLast(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeLast($0) }
    }
}
