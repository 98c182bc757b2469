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
        }
    }
}
