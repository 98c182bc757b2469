#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gateway

/// An error answered as an RFC 9457 problem document
/// (`application/problem+json`):
///
///     {"type":"about:blank","title":"Bad Request","status":400,"detail":"title: the key is missing"}
///
/// `request.decode(_:)` throws it for a body that is not the JSON expected.
public struct JSONProblem: HTTPResponseError, Hashable, Sendable, CustomStringConvertible {
    public let status: Status
    /// What went wrong, for a person reading it.
    public let detail: String?
    public let headers: Headers

    public init(_ status: Status, detail: String? = nil, headers: Headers = [:]) {
        self.status = status
        self.detail = detail
        self.headers = headers
    }

    struct Document: Codable {
        var type = "about:blank"
        var title: String
        var status: Int
        var detail: String?
    }

    public var body: String {
        let document = Document(title: String(status.reason), status: status.code, detail: detail)
        let data = (try? JSONEncoder().encode(document)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    public func write(to response: ResponseWriter) throws {
        var fields = headers
        fields.add("Content-Type", "application/problem+json")
        try response.respond(status: status, headers: fields, body: body)
    }

    public var description: String { "\(status.line)" + (detail.map { ": " + $0 } ?? "") }

    public static func == (a: JSONProblem, b: JSONProblem) -> Bool { a.status == b.status && a.detail == b.detail }
    public func hash(into hasher: inout Hasher) { hasher.combine(status); hasher.combine(detail) }

    /// The 400 for a body that did not decode, saying where and why.
    static func badRequest(_ error: DecodingError) -> JSONProblem {
        func path(_ context: DecodingError.Context, _ key: CodingKey? = nil) -> String {
            let keys = context.codingPath + (key.map { [$0] } ?? [])
            let text = keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return text.isEmpty ? "the body" : text
        }
        switch error {
        case .keyNotFound(let key, let context):
            return JSONProblem(.badRequest, detail: "\(path(context, key)): the key is missing")
        case .typeMismatch(let type, let context):
            return JSONProblem(.badRequest, detail: "\(path(context)): expected \(type)")
        case .valueNotFound(let type, let context):
            return JSONProblem(.badRequest, detail: "\(path(context)): expected \(type), found null")
        case .dataCorrupted(let context):
            return JSONProblem(.badRequest, detail: context.codingPath.isEmpty
                ? "the body is not valid JSON" : "\(path(context)): \(context.debugDescription)")
        @unknown default:
            return JSONProblem(.badRequest, detail: "the body does not decode")
        }
    }
}
