/// An error that knows the response it stands for. Thrown from a handler,
/// a middleware or a route, it is answered with its status, headers and
/// body instead of a 500, written through the response writer the code
/// that threw was given, so the headers of the middlewares around it
/// (a request ID) are on the error response too.
///
///     struct OutOfStock: HTTPResponseError {
///         let sku: String
///         var status: Status { .conflict }
///         var body: String { "\(sku) is out of stock\n" }
///     }
///
/// `HTTPError` is the ready-made one; `GatewayError`s map by default
/// (`ErrorResponse`).
public protocol HTTPResponseError: Error {
    /// The status of the response.
    var status: Status { get }
    /// Header fields besides Content-Type (default: none).
    var headers: Headers { get }
    /// The body, sent as text/plain (default: the reason phrase and a newline).
    var body: String { get }
    /// Writes the whole response; the default sends `status`, `headers`
    /// with `Content-Type: text/plain; charset=utf-8`, and `body`. Override
    /// for another content type (GatewayJSON's problem documents do).
    func write(to response: ResponseWriter) throws
}

extension HTTPResponseError {
    public var headers: Headers { [:] }
    public var body: String { "\(status.reason)\n" }

    public func write(to response: ResponseWriter) throws {
        var fields = headers
        if fields["Content-Type"] == nil { fields.add("Content-Type", "text/plain; charset=utf-8") }
        try response.respond(status: status, headers: fields, body: body)
    }
}
