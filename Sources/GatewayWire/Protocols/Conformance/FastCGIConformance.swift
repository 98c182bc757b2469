/// FastCGI, Responder role (nginx's fastcgi_pass): records (FastCGIDecoder),
/// management records answered between requests, one request at a time,
/// FCGI_KEEP_CONN keeps the connection for the next. The body comes in
/// STDIN records; the response is a CGI response ("Status: 200 OK"), no
/// Server or Date, in STDOUT records, never chunked, ended by END_REQUEST.
/// An aborted response closes without END_REQUEST, so nginx truncates its
/// client's response instead of completing it.
public enum FastCGIConformance {
    public static var name: String { "fastcgi" }

    @inlinable public static var dialect: ResponseDialect {
        ResponseDialect(status: .cgi, framing: .records, serverHeaders: false)
    }
    @inlinable public static var headDecoding: ProtocolConformance.HeadDecoding { .records }
    @inlinable public static var bodyFraming: ProtocolConformance.BodyFraming { .records }
    @inlinable public static var fieldSource: ProtocolConformance.FieldSource { .variables }
    @inlinable public static var requestEnd: ProtocolConformance.RequestEnd { .endRequestRecord }
    @inlinable public static var peerWritesFirst: Bool { true }
    @inlinable public static var headLimitApplies: Bool { false }
    @inlinable public static var defersResponseWrites: Bool { false }

    /// A whole response the server made (the master's 504) in STDOUT
    /// records, then END_REQUEST.
    public static func frame(_ response: [UInt8], requestId: UInt16) -> [UInt8] {
        FastCGIRecord.wrap(response, requestId: requestId)
    }
}
