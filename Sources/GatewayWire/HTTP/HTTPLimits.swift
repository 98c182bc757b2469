/// The request limits, in the form the parser wants (ServerCore makes
/// them from the config: HTTPLimits+Config.swift).
public struct HTTPLimits: Sendable {
    public var requestLine: Int
    public var fields: Int
    public var fieldSize: Int
    /// 0: unlimited.
    public var maxBody: Int

    public init(requestLine: Int = 8190, fields: Int = 100, fieldSize: Int = 8190, maxBody: Int = 0) {
        self.requestLine = requestLine
        self.fields = fields
        self.fieldSize = fieldSize
        self.maxBody = maxBody
    }

    /// The largest head the limits allow, for sizing connection buffers.
    /// The empty lines allowed before the request line count too.
    public var maxHead: Int { 2 * HeadScanner.maxEmptyLines + requestLine + 2 + fields * (fieldSize + 2) + 2 }
}

/// Why a request was refused: the status to answer and a reason for the error log.
public struct HTTPError: Error, Equatable, CustomStringConvertible {
    public let status: Int
    public let reason: StaticString

    public init(_ status: Int, _ reason: StaticString) {
        self.status = status
        self.reason = reason
    }

    public var description: String { "\(status) \(reason)" }

    public static func == (a: HTTPError, b: HTTPError) -> Bool {
        a.status == b.status && a.reason.description == b.reason.description
    }
}
