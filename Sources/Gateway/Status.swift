import GatewayWire

/// An HTTP status line as gateway.h wants it: three digits, a space, a
/// reason phrase ("200 OK").
///
///     try response.respond(status: .notFound, body: "no such page")
///     try response.respond(status: 418, body: "")          // "418 I'm a teapot"
///     try response.respond(status: "299 Custom", body: "")
///
/// The static members are string literals: using them allocates nothing.
public struct Status: Hashable, Sendable, CustomStringConvertible,
    ExpressibleByStringLiteral, ExpressibleByIntegerLiteral
{
    /// The whole line, e.g. "404 Not Found".
    public let line: String

    /// A status from its whole line ("404 Not Found"); not validated here
    /// (the server checks it).
    public init(_ line: String) { self.line = line }

    /// A status from a code; the reason defaults to the standard phrase.
    public init(code: Int, reason: String? = nil) {
        self.line = "\(code) \(reason ?? Status.reasonPhrase(for: code))"
    }

    public init(stringLiteral value: String) { self.line = value }
    public init(integerLiteral value: Int) { self.init(code: value) }

    /// The three-digit code, or 0 when the line does not start with digits.
    public var code: Int {
        var value = 0
        for byte in line.utf8.prefix(3) {
            guard byte >= 0x30, byte <= 0x39 else { return 0 }
            value = value * 10 + Int(byte - 0x30)
        }
        return value
    }

    /// The reason phrase: what follows the first space.
    public var reason: Substring {
        // Searched in the UTF-8 view: a Character search costs far more.
        guard let space = line.utf8.firstIndex(of: UInt8(ascii: " ")) else { return "" }
        return line[line.utf8.index(after: space)...]
    }

    public var description: String { line }

    public static var `continue`: Status { "100 Continue" }
    public static var ok: Status { "200 OK" }
    public static var created: Status { "201 Created" }
    public static var accepted: Status { "202 Accepted" }
    public static var noContent: Status { "204 No Content" }
    public static var partialContent: Status { "206 Partial Content" }
    public static var movedPermanently: Status { "301 Moved Permanently" }
    public static var found: Status { "302 Found" }
    public static var seeOther: Status { "303 See Other" }
    public static var notModified: Status { "304 Not Modified" }
    public static var temporaryRedirect: Status { "307 Temporary Redirect" }
    public static var permanentRedirect: Status { "308 Permanent Redirect" }
    public static var badRequest: Status { "400 Bad Request" }
    public static var unauthorized: Status { "401 Unauthorized" }
    public static var forbidden: Status { "403 Forbidden" }
    public static var notFound: Status { "404 Not Found" }
    public static var methodNotAllowed: Status { "405 Method Not Allowed" }
    public static var conflict: Status { "409 Conflict" }
    public static var gone: Status { "410 Gone" }
    public static var lengthRequired: Status { "411 Length Required" }
    public static var payloadTooLarge: Status { "413 Content Too Large" }
    public static var unsupportedMediaType: Status { "415 Unsupported Media Type" }
    public static var tooManyRequests: Status { "429 Too Many Requests" }
    public static var internalServerError: Status { "500 Internal Server Error" }
    public static var notImplemented: Status { "501 Not Implemented" }
    public static var badGateway: Status { "502 Bad Gateway" }
    public static var serviceUnavailable: Status { "503 Service Unavailable" }
    public static var gatewayTimeout: Status { "504 Gateway Timeout" }

    /// The standard reason phrase for `code` (RFC 9110), "Unknown" otherwise:
    /// the server's own table (GatewayWire's StatusPhrase), so that an app
    /// and the server never name a status differently.
    public static func reasonPhrase(for code: Int) -> String {
        StatusPhrase.phrase(code).map { "\($0)" } ?? "Unknown"
    }
}
