/// uwsgi (nginx's uwsgi_pass): one packet of variables (UWSGIDecoder), the
/// body after it, one request per connection. nginx reads the response as
/// an HTTP head: a status line, no Server or Date (the proxy makes the
/// client's head), never chunked: the body ends with the connection.
public enum UWSGIConformance {
    public static var name: String { "uwsgi" }

    @inlinable public static var dialect: ResponseDialect {
        ResponseDialect(status: .statusLine, framing: .connectionClose, serverHeaders: false)
    }
    @inlinable public static var headDecoding: ProtocolConformance.HeadDecoding { .variables(.uwsgi) }
    @inlinable public static var bodyFraming: ProtocolConformance.BodyFraming { .head }
    @inlinable public static var fieldSource: ProtocolConformance.FieldSource { .variables }
    @inlinable public static var requestEnd: ProtocolConformance.RequestEnd { .lastByte }
    @inlinable public static var peerWritesFirst: Bool { true }
    @inlinable public static var headLimitApplies: Bool { false }
    @inlinable public static var defersResponseWrites: Bool { false }

    @inlinable
    public static func decodeVariables(_ buf: UnsafePointer<UInt8>, start: Int, end: Int, limits: ProtocolLimits,
                                       into vars: inout ProtocolVars) -> ProtocolDecode {
        UWSGIDecoder.decode(buf, start: start, end: end, limits: limits, into: &vars)
    }
}
