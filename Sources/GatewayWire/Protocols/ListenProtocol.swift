/// The protocol a listener speaks: HTTP, or one of the protocols nginx has
/// built in for app servers (uwsgi_pass, fastcgi_pass, scgi_pass). Chosen per bind
/// address by a prefix ("uwsgi:127.0.0.1:3031"); decided once per
/// connection, never per byte: its rules are its conformance's
/// (Conformance/ProtocolConformance.swift).
public enum ListenProtocol: UInt8, Sendable, CustomStringConvertible {
    case http = 0
    case uwsgi = 1
    case scgi = 2
    case fastcgi = 3

    public var description: String { ProtocolConformance.conformance(for: self).description }

    /// The prefix of a bind entry ("uwsgi:"; HTTP has none).
    public var bindPrefix: String { ProtocolConformance.conformance(for: self).bindPrefix }
}
