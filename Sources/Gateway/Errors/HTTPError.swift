/// An error with a status and a message: `throw HTTPError(.notFound, "no todo 7")`.
public struct HTTPError: HTTPResponseError, Hashable, Sendable, CustomStringConvertible {
    public let status: Status
    /// The body's text; nil sends the reason phrase.
    public let message: String?
    public let headers: Headers

    public init(_ status: Status, _ message: String? = nil, headers: Headers = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public var body: String { message.map { $0 + "\n" } ?? "\(status.reason)\n" }

    public var description: String { "\(status.line)" + (message.map { ": " + $0 } ?? "") }

    public static func == (a: HTTPError, b: HTTPError) -> Bool {
        a.status == b.status && a.message == b.message
            && a.headers.elementsEqual(b.headers) { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(status)
        hasher.combine(message)
    }
}
