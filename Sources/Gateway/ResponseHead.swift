/// The status and header fields of a response as Swift values, for a
/// middleware that reads or changes them before the head is sent.
///
///     struct NoSniff: Middleware {
///         func respond(to request: Request, with response: ResponseWriter, next: some Responder) throws {
///             try next.respond(to: request, with: response.filteringHead { head in
///                 head.headers.add("X-Content-Type-Options", "nosniff")
///                 if head.status.code >= 500 { head.headers.add("Retry-After", "1") }
///             })
///         }
///     }
///
/// The filter converts the head from C strings and back once per response:
/// a few allocations. For the hot path, the C-level `ResponseFilter` stays.
public struct ResponseHead: Sendable {
    public var status: Status
    public var headers: Headers

    public init(status: Status, headers: Headers = [:]) {
        self.status = status
        self.headers = headers
    }
}

extension ResponseWriter {
    /// A writer that hands the head to `transform` when the response
    /// starts; what `transform` leaves is what the server gets. Throwing
    /// from `transform` refuses the start (the error goes to the app).
    public func filteringHead(_ transform: @escaping (inout ResponseHead) throws -> Void) -> ResponseWriter {
        ResponseWriter(filter: HeadFilter(next: self, transform: transform))
    }
}

/// The filter behind `filteringHead`.
final class HeadFilter: ResponseFilter {
    let transform: (inout ResponseHead) throws -> Void

    init(next: ResponseWriter, transform: @escaping (inout ResponseHead) throws -> Void) {
        self.transform = transform
        super.init(next: next)
    }

    override func start(status: UnsafePointer<CChar>, headers: UnsafeBufferPointer<gateway_pair>,
                        replacing: Bool) throws {
        var head = ResponseHead(
            status: Status(String(cString: status)),
            headers: Headers(headers.map { (String(cString: $0.name), String(cString: $0.value)) }))
        try transform(&head)
        try next.start(status: head.status, headers: head.headers, replacing: replacing)
    }
}
