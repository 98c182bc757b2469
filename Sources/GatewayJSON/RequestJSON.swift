#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gateway

extension Request {
    /// Reads the body (at most `limit` bytes) and decodes it as JSON.
    /// Throws a `JSONProblem` the client gets as its answer: 400 for a body
    /// that is not the JSON expected, 415 for a Content-Type other than
    /// JSON (a request without one is read as JSON); a longer body is a 413.
    public func decode<T: Decodable>(_ type: T.Type, limit: Int = 1 << 20,
                                     decoder: JSONDecoder = JSONDecoder()) throws -> T {
        if let contentType, !JSONMediaType.isJSON(contentType) {
            throw JSONProblem(.unsupportedMediaType, detail: "expected application/json, got \(contentType)")
        }
        let body = try readAll(limit: limit)
        do {
            return try body.withUnsafeBytes { try decoder.decode(T.self, from: Data($0)) }
        } catch let error as DecodingError {
            throw JSONProblem.badRequest(error)
        }
    }
}

extension ResponseWriter {
    /// Sends `value` encoded as JSON (`Content-Type: application/json`)
    /// as the whole response.
    public func respond<T: Encodable>(json value: T, status: Status = .ok, headers: Headers = [:],
                                      encoder: JSONEncoder = JSONEncoder()) throws {
        let data = try encoder.encode(value)
        var fields = headers
        fields.add("Content-Type", "application/json")
        try start(status: status, headers: fields)
        try data.withUnsafeBytes { try writeLast($0) }
    }

    /// Sends `value` as one JSON text of a stream (newline-delimited JSON):
    /// start the response with `Content-Type: application/x-ndjson` first.
    public func write<T: Encodable>(jsonLine value: T, encoder: JSONEncoder = JSONEncoder()) throws {
        var data = try encoder.encode(value)
        data.append(UInt8(ascii: "\n"))
        try data.withUnsafeBytes { try write($0) }
    }
}

enum JSONMediaType {
    /// application/json, or any type with a +json suffix, parameters ignored.
    static func isJSON(_ contentType: String) -> Bool {
        let type = (contentType.split(separator: ";", maxSplits: 1).first ?? "")
            .filter { $0 != " " && $0 != "\t" }.lowercased()
        return type == "application/json" || type.hasSuffix("+json")
    }
}
