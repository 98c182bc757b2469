/// How a protocol's responses look on the wire, decided by the protocol
/// alone (its conformance, ProtocolConformance.swift): the status line or a
/// CGI `Status:`, how a body without a length is framed, and whether the
/// server names itself (Server, Date). The client's own version is not part
/// of it: that is the request's (ResponseEncoder.Request.clientHTTP10).
public struct ResponseDialect: Equatable, Sendable {
    /// The first line of the head.
    public enum Status: Equatable, Sendable {
        /// "HTTP/1.1 200 OK" (HTTP, uwsgi: nginx reads an HTTP head).
        case statusLine
        /// "Status: 200 OK", a CGI response (SCGI, FastCGI).
        case cgi
    }

    /// How a body whose length the app did not give is delimited.
    public enum BodyFraming: Equatable, Sendable {
        /// Chunked when the client speaks HTTP/1.1; an HTTP/1.0 client's
        /// body ends with the connection.
        case chunkedUnlessHTTP10
        /// Never chunked: the body ends with the connection (uwsgi, SCGI:
        /// one request per connection, the proxy reads to EOF).
        case connectionClose
        /// The protocol's records frame the body (FastCGI STDOUT, then
        /// END_REQUEST): no chunked coding, no Connection header, and the
        /// end of the body is not the end of the connection.
        case records
    }

    public var status: Status
    public var framing: BodyFraming
    /// Server and Date from us. Not behind a proxy that makes the client's
    /// head itself (uwsgi, SCGI, FastCGI): nginx passes ours on in place of
    /// its own, and `server_tokens off` could not hide them; PHP-FPM and
    /// uWSGI send neither.
    public var serverHeaders: Bool

    @inlinable
    public init(status: Status, framing: BodyFraming, serverHeaders: Bool) {
        self.status = status
        self.framing = framing
        self.serverHeaders = serverHeaders
    }
}
