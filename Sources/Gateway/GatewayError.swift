import CGateway

/// The errors the SDK throws. Apps may throw them too (`.message` for a
/// one-off text); any Swift error thrown from `respond(to:with:)` makes the
/// call return GATEWAY_ERROR, and from `init(arguments:)` fails the boot with
/// the error's description as the reason.
public enum GatewayError: Error, Hashable, Sendable, CustomStringConvertible {
    /// api->start_response refused: a hop-by-hop header, a second start
    /// without `replacing: true`, or a replace after the body started.
    case startResponseFailed
    /// api->write or api->write_last failed: start was not called, the
    /// client went away, or the bytes exceed the declared Content-Length.
    case writeFailed
    /// api->sendfile failed: as `writeFailed`, or the file is shorter.
    case sendFileFailed
    /// api->read failed: the client went away, timed out or sent a
    /// malformed body.
    case readFailed
    /// `readAll(limit:)`: the body is longer than `limit` bytes.
    case bodyTooLarge(limit: Int)
    /// `Arguments.require(_:)`: no app_arg of that name.
    case missingArgument(String)
    /// `Arguments.value(_:as:)`: the app_arg does not parse as the type.
    case invalidArgument(name: String, value: String)
    /// The server speaks another ABI version than this SDK.
    case abiMismatch(server: UInt32, sdk: UInt32)
    /// A free-form error message.
    case message(String)

    // Why the server refused a call (api->last_error; a server without it
    // gives the generic cases above).

    /// The client closed the connection or stopped reading: nothing more reaches it.
    case clientGone
    /// The request body is above the server's max_body_size: the client gets 413.
    case requestBodyTooLarge
    /// The request body is malformed (chunked framing): the client gets 400.
    case malformedRequestBody
    /// The request body did not arrive within body_timeout: the client gets 408.
    case requestBodyTimedOut
    /// The call is not allowed now: a write before start or after writeLast,
    /// a second start without `replacing`, a response after a refused body.
    case notAllowedNow
    /// start_response refused the status (200-599 only) or a header.
    case invalidResponse
    /// More body bytes than the declared Content-Length: nothing was sent.
    case contentLengthExceeded
    /// sendfile: the file is shorter than the count, or unreadable.
    case fileError
    /// The server timed the request out and answered 504 itself.
    case timedOut
    /// A NULL pointer or an impossible argument was passed to the server.
    case badArgument

    /// The typed reason of a refused call on `request`, or `fallback` when
    /// the server does not say (an older server, or no reason recorded).
    @usableFromInline
    static func refusal(_ request: UnsafeMutablePointer<gateway_request>, fallback: GatewayError) -> GatewayError {
        guard let api = request.pointee.api,
              Int(api.pointee.size) >= MemoryLayout<gateway_api>.offset(of: \.last_error)! + MemoryLayout<Int>.size,
              let lastError = api.pointee.last_error else { return fallback }
        switch lastError(request) {
        case GATEWAY_E_CLIENT_GONE: return .clientGone
        case GATEWAY_E_BODY_TOO_LARGE: return .requestBodyTooLarge
        case GATEWAY_E_BAD_BODY: return .malformedRequestBody
        case GATEWAY_E_BODY_TIMEOUT: return .requestBodyTimedOut
        case GATEWAY_E_NOT_NOW: return .notAllowedNow
        case GATEWAY_E_BAD_RESPONSE: return .invalidResponse
        case GATEWAY_E_LENGTH: return .contentLengthExceeded
        case GATEWAY_E_FILE: return .fileError
        case GATEWAY_E_TIMEOUT: return .timedOut
        case GATEWAY_E_ARGUMENT: return .badArgument
        default: return fallback
        }
    }

    public var description: String {
        switch self {
        case .startResponseFailed:
            return "start_response refused (hop-by-hop header, second start without replacing, or body already started)"
        case .writeFailed:
            return "write failed (start not called, client gone, or more bytes than Content-Length)"
        case .sendFileFailed:
            return "sendfile failed (start not called, client gone, file too short, or more bytes than Content-Length)"
        case .readFailed:
            return "read failed (client gone, timed out, or malformed body)"
        case .bodyTooLarge(let limit):
            return "request body larger than \(limit) bytes"
        case .missingArgument(let name):
            return "missing app_arg \"\(name)\""
        case .invalidArgument(let name, let value):
            return "invalid app_arg \(name) = \"\(value)\""
        case .abiMismatch(let server, let sdk):
            return "gateway ABI mismatch: server speaks version \(server), the app's Swift SDK version \(sdk)"
        case .message(let text):
            return text
        case .clientGone: return "the client went away"
        case .requestBodyTooLarge: return "the request body is larger than the server's max_body_size"
        case .malformedRequestBody: return "the request body is malformed"
        case .requestBodyTimedOut: return "the request body did not arrive within body_timeout"
        case .notAllowedNow: return "the call is not allowed at this point of the response"
        case .invalidResponse: return "start_response refused the status or a header"
        case .contentLengthExceeded: return "more body bytes than the declared Content-Length"
        case .fileError: return "sendfile: the file is shorter than the count, or unreadable"
        case .timedOut: return "the request timed out: the server answered 504"
        case .badArgument: return "a NULL pointer or an impossible argument passed to the server"
        }
    }
}
