/// SCGI (nginx's scgi_pass): a netstring of variables (SCGIDecoder), the
/// body after it, one request per connection. The response is a CGI
/// response ("Status: 200 OK"), no Server or Date, never chunked: the body
/// ends with the connection.
public enum SCGIConformance {
    public static var name: String { "scgi" }

    @inlinable public static var dialect: ResponseDialect {
        ResponseDialect(status: .cgi, framing: .connectionClose, serverHeaders: false)
    }
    @inlinable public static var headDecoding: ProtocolConformance.HeadDecoding { .variables(.scgi) }
    @inlinable public static var bodyFraming: ProtocolConformance.BodyFraming { .head }
    @inlinable public static var fieldSource: ProtocolConformance.FieldSource { .variables }
    @inlinable public static var requestEnd: ProtocolConformance.RequestEnd { .lastByte }
    @inlinable public static var peerWritesFirst: Bool { true }
    @inlinable public static var headLimitApplies: Bool { false }
    @inlinable public static var defersResponseWrites: Bool { false }

    @inlinable
    public static func decodeVariables(_ buf: UnsafePointer<UInt8>, start: Int, end: Int, limits: ProtocolLimits,
                                       into vars: inout ProtocolVars) -> ProtocolDecode {
        SCGIDecoder.decode(buf, start: start, end: end, limits: limits, into: &vars)
    }
}
