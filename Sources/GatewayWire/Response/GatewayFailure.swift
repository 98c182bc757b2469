import CGateway

/// Why a call of the gateway interface was refused: what
/// `api->last_error(r)` returns (the GATEWAY_E_* values of gateway.h).
public enum GatewayFailure: Int32, Equatable {
    case none = 0
    case clientGone = 1
    case bodyTooLarge = 2
    case badBody = 3
    case bodyTimeout = 4
    case notNow = 5
    case badResponse = 6
    case length = 7
    case file = 8
    case timeout = 9
    case argument = 10

    /// The reason a refused body read gives, from the status the server answers.
    package static func body(_ e: HTTPError) -> GatewayFailure {
        switch e.status {
        case 413: return .bodyTooLarge
        case 408: return .bodyTimeout
        default: return .badBody
        }
    }
}

/// How a connection ends after a response, from least to most abrupt.
public enum ConnectionEnd: Int, Comparable {
    /// Keep-alive: the next request may follow.
    case keepOpen
    /// Close after the response; unread input is drained first (lingering
    /// close) so the client reads the response instead of a reset.
    case close
    /// Close at once: the client is gone or the response was aborted.
    case drop
    /// The master answers the client (a timeout): close our descriptor
    /// without shutdown() or lingering, and send nothing more.
    case handOver

    public static func < (a: ConnectionEnd, b: ConnectionEnd) -> Bool { a.rawValue < b.rawValue }
}
