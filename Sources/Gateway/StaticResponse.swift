/// A whole response prepared once: status, headers and body in C memory.
/// `response.respond(prepared)` sends it with one start_response and one
/// write_last (the server sets Content-Length): the fastest way to answer.
///
///     let hello = StaticResponse(status: .ok, headers: ["Content-Type": "text/plain"],
///                                body: "Hello, World!")
///     ...
///     try response.respond(hello)
public final class StaticResponse: @unchecked Sendable {
    /// The status line and header fields.
    public let head: StaticHeaders
    @usableFromInline let bodyStart: UnsafeMutableRawPointer
    @usableFromInline let bodyCount: Int

    public init(status: Status = .ok, headers: Headers = [:], body: some Collection<UInt8>) {
        head = StaticHeaders(status: status, headers: headers)
        bodyCount = body.count
        bodyStart = .allocate(byteCount: max(bodyCount, 1), alignment: 1)
        _ = UnsafeMutableRawBufferPointer(start: bodyStart, count: bodyCount).initializeMemory(as: UInt8.self, from: body)
    }

    public convenience init(status: Status = .ok, headers: Headers = [:], body: String) {
        self.init(status: status, headers: headers, body: body.utf8)
    }

    deinit { bodyStart.deallocate() }

    /// The body bytes.
    @inlinable
    public var body: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: bodyStart, count: bodyCount)
    }
}
