/// The protocol a listener speaks: HTTP, or one of the protocols nginx has
/// built in for app servers (uwsgi_pass, fastcgi_pass, scgi_pass). Chosen per bind
/// address by a prefix ("uwsgi:127.0.0.1:3031"); decided once per
/// connection, never per byte.
public enum ListenProtocol: UInt8, Sendable, CustomStringConvertible {
    case http = 0
    case uwsgi = 1
    case scgi = 2
    case fastcgi = 3

    public var description: String {
        switch self {
        case .http: return "http"
        case .uwsgi: return "uwsgi"
        case .scgi: return "scgi"
        case .fastcgi: return "fastcgi"
        }
    }

    /// The response is a CGI response ("Status: 200 OK"), not an HTTP one.
    public var cgiResponse: Bool { self == .scgi || self == .fastcgi }

    /// The body is framed by the protocol's records (FastCGI STDOUT): never
    /// chunked, and its end is not the connection's.
    public var recordFramed: Bool { self == .fastcgi }
}
