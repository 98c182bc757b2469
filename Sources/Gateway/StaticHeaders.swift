/// A status line and header fields converted to C strings once, for a
/// response head sent many times: starting a response with it costs one
/// call to the server and no allocation.
///
///     let head = StaticHeaders(status: .ok, headers: ["Content-Type": "text/plain"])
///     ...
///     try response.respond(head, body: "Hello, World!")
///
/// Build it in `init(arguments:)` (or a `static let`) and keep it; it is
/// immutable and frees its memory when released.
public final class StaticHeaders: @unchecked Sendable {
    @usableFromInline let statusLine: UnsafeMutablePointer<CChar>
    @usableFromInline let pairs: UnsafeMutablePointer<gateway_pair>
    @usableFromInline let count: Int
    private let bytes: UnsafeMutablePointer<CChar>

    public init(status: Status = .ok, headers: Headers = [:]) {
        let size = CStrings.byteCount([status.line] + headers.flatMap { [$0.name, $0.value] })
        bytes = .allocate(capacity: size)
        pairs = .allocate(capacity: max(headers.count, 1))
        count = headers.count
        statusLine = bytes
        let afterStatus = CStrings.copy(status.line, to: bytes)
        _ = CStrings.pack(headers, into: pairs, bytes: afterStatus)
    }

    deinit {
        pairs.deinitialize(count: count)
        pairs.deallocate()
        bytes.deallocate()
    }

    /// The header fields as the C array start_response takes.
    @inlinable
    public var cHeaders: UnsafeBufferPointer<gateway_pair> {
        UnsafeBufferPointer(start: pairs, count: count)
    }

    /// The status line as the C string start_response takes.
    @inlinable
    public var cStatus: UnsafePointer<CChar> { UnsafePointer(statusLine) }

    /// The status, back as a Swift value.
    public var status: Status { Status(String(cString: statusLine)) }

    /// The header fields, back as Swift values.
    public var headers: Headers {
        Headers(cHeaders.map { (String(cString: $0.name), String(cString: $0.value)) })
    }
}
