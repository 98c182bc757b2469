/// The protocol a connection speaks, as the request loop sees it: chosen
/// once at accept (`conformance(for:)`), then asked, never tested. Each
/// case's rules live in one file (HTTPConformance.swift,
/// UWSGIConformance.swift, SCGIConformance.swift, FastCGIConformance.swift);
/// this enum is the table that forwards to them, as nginx's upstream calls
/// a protocol module's create_request / process_header / abort / finalize
/// without asking which module it is. Nothing outside these files asks
/// which protocol a connection speaks.
///
/// Static dispatch: each member is a small switch over four cases whose
/// arms are constants or direct calls, inlined into the request loop.
public enum ProtocolConformance: UInt8, Sendable, CustomStringConvertible {
    // The raw values are ListenProtocol's: the scoreboard slot carries them
    // to the master (its timeout response).
    case http = 0
    case uwsgi = 1
    case scgi = 2
    case fastcgi = 3

    /// The conformance of a listener's protocol.
    @inlinable
    public static func conformance(for proto: ListenProtocol) -> ProtocolConformance {
        ProtocolConformance(rawValue: proto.rawValue) ?? .http
    }

    /// How the request's head arrives: what the loop decodes it with.
    public enum HeadDecoding: Equatable, Sendable {
        /// An HTTP/1.1 request head (HeadScanner, HeadParser); requests may
        /// follow on the connection.
        case httpHead
        /// One packet of variables from the proxy (uwsgi, SCGI), one
        /// request per connection.
        case variables(VariablesPacket)
        /// FastCGI records: management records between requests, a request
        /// id, FCGI_KEEP_CONN (FastCGIDecoder).
        case records
    }

    /// The packet of variables a proxy sends in place of a head.
    public enum VariablesPacket: Equatable, Sendable {
        case uwsgi, scgi

        @inlinable
        public func decode(_ buf: UnsafePointer<UInt8>, start: Int, end: Int, limits: ProtocolLimits,
                           into vars: inout ProtocolVars) -> ProtocolDecode {
            switch self {
            case .uwsgi: return UWSGIConformance.decodeVariables(buf, start: start, end: end, limits: limits, into: &vars)
            case .scgi: return SCGIConformance.decodeVariables(buf, start: start, end: end, limits: limits, into: &vars)
            }
        }
    }

    /// How the request body is delimited.
    public enum BodyFraming: Equatable, Sendable {
        /// By the head: Content-Length or chunked (HTTP), CONTENT_LENGTH
        /// (uwsgi, SCGI: the bytes that follow the variables).
        case head
        /// STDIN records, up to the empty one (FastCGI).
        case records
    }

    /// Where the request's header fields and the client's address come from.
    public enum FieldSource: Equatable, Sendable {
        /// The request head; the client is the peer of the socket.
        case head
        /// The proxy's variables (HTTP_* per field, REMOTE_ADDR).
        case variables
    }

    /// How a request ends once its response is out.
    public enum RequestEnd: Equatable, Sendable {
        /// With the response's last byte (and the close, when the response
        /// is delimited by it).
        case lastByte
        /// With an END_REQUEST record; an aborted response closes without
        /// one, so the proxy truncates what its client gets (FastCGI).
        case endRequestRecord
    }

    public var description: String {
        switch self {
        case .http: return HTTPConformance.name
        case .uwsgi: return UWSGIConformance.name
        case .scgi: return SCGIConformance.name
        case .fastcgi: return FastCGIConformance.name
        }
    }

    /// The response dialect (ResponseDialect).
    @inlinable
    public var dialect: ResponseDialect {
        switch self {
        case .http: return HTTPConformance.dialect
        case .uwsgi: return UWSGIConformance.dialect
        case .scgi: return SCGIConformance.dialect
        case .fastcgi: return FastCGIConformance.dialect
        }
    }

    @inlinable
    public var headDecoding: HeadDecoding {
        switch self {
        case .http: return HTTPConformance.headDecoding
        case .uwsgi: return UWSGIConformance.headDecoding
        case .scgi: return SCGIConformance.headDecoding
        case .fastcgi: return FastCGIConformance.headDecoding
        }
    }

    @inlinable
    public var bodyFraming: BodyFraming {
        switch self {
        case .http: return HTTPConformance.bodyFraming
        case .uwsgi: return UWSGIConformance.bodyFraming
        case .scgi: return SCGIConformance.bodyFraming
        case .fastcgi: return FastCGIConformance.bodyFraming
        }
    }

    @inlinable
    public var fieldSource: FieldSource {
        switch self {
        case .http: return HTTPConformance.fieldSource
        case .uwsgi: return UWSGIConformance.fieldSource
        case .scgi: return SCGIConformance.fieldSource
        case .fastcgi: return FastCGIConformance.fieldSource
        }
    }

    @inlinable
    public var requestEnd: RequestEnd {
        switch self {
        case .http: return HTTPConformance.requestEnd
        case .uwsgi: return UWSGIConformance.requestEnd
        case .scgi: return SCGIConformance.requestEnd
        case .fastcgi: return FastCGIConformance.requestEnd
        }
    }

    /// The peer writes as soon as it has connected (a proxy): the loop
    /// reads at accept instead of waiting for another epoll round. HTTP
    /// clients do too behind TCP_DEFER_ACCEPT, which the listener says.
    @inlinable
    public var peerWritesFirst: Bool {
        switch self {
        case .http: return HTTPConformance.peerWritesFirst
        case .uwsgi: return UWSGIConformance.peerWritesFirst
        case .scgi: return SCGIConformance.peerWritesFirst
        case .fastcgi: return FastCGIConformance.peerWritesFirst
        }
    }

    /// limit_request_head bounds an unfinished head (HTTP; the proxied
    /// protocols' packets are bounded by their own limits).
    @inlinable
    public var headLimitApplies: Bool {
        switch self {
        case .http: return HTTPConformance.headLimitApplies
        case .uwsgi: return UWSGIConformance.headLimitApplies
        case .scgi: return SCGIConformance.headLimitApplies
        case .fastcgi: return FastCGIConformance.headLimitApplies
        }
    }

    /// What the socket would not take yet may wait for the event loop
    /// (HTTP: slow clients). Behind a proxy, which buffers anyway, the
    /// worker waits instead.
    @inlinable
    public var defersResponseWrites: Bool {
        switch self {
        case .http: return HTTPConformance.defersResponseWrites
        case .uwsgi: return UWSGIConformance.defersResponseWrites
        case .scgi: return SCGIConformance.defersResponseWrites
        case .fastcgi: return FastCGIConformance.defersResponseWrites
        }
    }

    /// The prefix of its bind entries ("uwsgi:"; HTTP has none).
    public var bindPrefix: String {
        switch self {
        case .http: return ""
        case .uwsgi, .scgi, .fastcgi: return description + ":"
        }
    }

    /// The request line the logs show for a request refused before its
    /// variables were read; nil for HTTP, whose request line is in the buffer.
    public var rejectedLine: [UInt8]? {
        switch self {
        case .http: return nil
        case .uwsgi, .scgi, .fastcgi: return Array("(\(description) request)".utf8)
        }
    }

    /// The master's answer when a request ran past its timeout (504), in
    /// the protocol's dialect: `date` an IMF-fixdate, `requestId` the
    /// FastCGI request it answers.
    public func timeoutResponse(isHead: Bool, date: some Collection<UInt8>, requestId: UInt16) -> [UInt8] {
        let bytes = ServerResponse.bytes(status: 504, date: date, connection: .close, bodyless: isHead, dialect: dialect)
        switch self {
        case .http, .uwsgi, .scgi: return bytes
        case .fastcgi: return FastCGIConformance.frame(bytes, requestId: requestId)
        }
    }
}
