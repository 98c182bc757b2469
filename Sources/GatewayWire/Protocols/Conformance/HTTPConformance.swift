/// HTTP/1.1 (and 1.0) straight from the client: a request head, requests
/// one after another on the connection (keep-alive, pipelining), a status
/// line with Server and Date, chunked bodies for HTTP/1.1 clients.
/// The head's rules are HeadScanner and HeadParser's (docs/http.md).
public enum HTTPConformance {
    public static var name: String { "http" }

    @inlinable public static var dialect: ResponseDialect {
        ResponseDialect(status: .statusLine, framing: .chunkedUnlessHTTP10, serverHeaders: true)
    }
    @inlinable public static var headDecoding: ProtocolConformance.HeadDecoding { .httpHead }
    @inlinable public static var bodyFraming: ProtocolConformance.BodyFraming { .head }
    @inlinable public static var fieldSource: ProtocolConformance.FieldSource { .head }
    @inlinable public static var requestEnd: ProtocolConformance.RequestEnd { .lastByte }
    /// Only with TCP_DEFER_ACCEPT (the listener's flag).
    @inlinable public static var peerWritesFirst: Bool { false }
    @inlinable public static var headLimitApplies: Bool { true }
    @inlinable public static var defersResponseWrites: Bool { true }
}
