/// A middleware's view of a response on its way to the server: override
/// the calls to change them (add headers, transform the body), forward to
/// `next`. The default implementations forward unchanged.
///
///     final class NoSniff: ResponseFilter {
///         override func start(status: UnsafePointer<CChar>, headers: UnsafeBufferPointer<gateway_pair>,
///                             replacing: Bool) throws {
///             try next.start(status: status, headers: headers,
///                            appending: ["X-Content-Type-Options": "nosniff"], replacing: replacing)
///         }
///     }
///     ...
///     try next.respond(to: request, with: ResponseWriter(filter: NoSniff(next: response)))
///
/// For the common case of adding headers, `response.addingHeaders { ... }`
/// does this for you.
open class ResponseFilter {
    /// The writer downstream (towards the server).
    public let next: ResponseWriter

    public init(next: ResponseWriter) { self.next = next }

    open func start(status: UnsafePointer<CChar>, headers: UnsafeBufferPointer<gateway_pair>,
                    replacing: Bool) throws {
        try next.start(status: status, headers: headers, replacing: replacing)
    }

    open func write(_ bytes: UnsafeRawBufferPointer) throws {
        try next.write(bytes)
    }

    open func writeLast(_ bytes: UnsafeRawBufferPointer) throws {
        try next.writeLast(bytes)
    }

    open func sendFile(fd: Int32, offset: Int, count: Int) throws {
        try next.sendFile(fd: fd, offset: offset, count: count)
    }
}

extension ResponseWriter {
    /// Starts the response with `headers` followed by `extra`.
    public func start(status: UnsafePointer<CChar>, headers: UnsafeBufferPointer<gateway_pair>,
                      appending extra: Headers, replacing: Bool = false) throws {
        try CStrings.withPairs(headers, appending: extra) {
            try start(status: status, headers: $0, replacing: replacing)
        }
    }

    /// A writer that appends the fields `make` returns to the head, evaluated
    /// when the response starts (so they can depend on timing).
    public func addingHeaders(_ make: @escaping () -> Headers) -> ResponseWriter {
        ResponseWriter(filter: HeaderAppendingFilter(next: self, make: make))
    }
}

/// The filter behind `addingHeaders`.
final class HeaderAppendingFilter: ResponseFilter {
    let make: () -> Headers

    init(next: ResponseWriter, make: @escaping () -> Headers) {
        self.make = make
        super.init(next: next)
    }

    override func start(status: UnsafePointer<CChar>, headers: UnsafeBufferPointer<gateway_pair>,
                        replacing: Bool) throws {
        try next.start(status: status, headers: headers, appending: make(), replacing: replacing)
    }
}
