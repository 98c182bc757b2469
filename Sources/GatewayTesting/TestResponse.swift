@_exported import Gateway

/// What the client of a `TestServer` request got, framed as gatewayd frames it.
public struct TestResponse {
    /// How the body went on the wire (docs/http.md).
    public enum Framing: Equatable, Sendable {
        /// Content-Length: the app's, or the server's for a body sent in one write_last.
        case contentLength(Int)
        /// Transfer-Encoding: chunked (HTTP/1.1, no Content-Length).
        case chunked
        /// Ended by closing the connection (HTTP/1.0, no Content-Length).
        case close
        /// No body: HEAD, 204, 304.
        case none
        /// The connection was aborted mid-response (an error after the head
        /// went out, a write past Content-Length, a short file).
        case aborted
    }

    public let status: Status
    public let headers: Headers
    /// The body bytes the client received.
    public let body: [UInt8]
    public let framing: Framing
    /// What the app returned: GATEWAY_OK (0) or GATEWAY_ERROR (-1).
    public let callResult: Int32
    /// The error-log lines the request wrote (api->log).
    public let logs: [(level: LogLevel, message: String)]

    /// The body as UTF-8 text.
    public var text: String { String(decoding: body, as: UTF8.self) }
}
