#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gateway
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Request {
    /// Reads the body (at most `limit` bytes) and decodes it as JSON.
    /// Throws a `JSONProblem` the client gets as its answer: 400 for a body
    /// that is not the JSON expected, 415 for a Content-Type other than
    /// JSON (a request without one is read as JSON); a longer body is a 413.
    ///
    /// Without a `decoder`, the body is decoded by GatewayJSON's own
    /// decoder (a one-pass index of the bytes, no intermediate values),
    /// which gives what `JSONDecoder()` gives; whatever it does not read
    /// plainly, errors included, goes to `JSONDecoder()`. Pass a
    /// `JSONDecoder` for its strategies (dates, keys).
    public func decode<T: Decodable>(_ type: T.Type, limit: Int = 1 << 20,
                                     decoder: JSONDecoder? = nil) throws -> T {
        if let contentType = cString("CONTENT_TYPE"), !JSONMediaType.isJSON(contentType) {
            throw JSONProblem(.unsupportedMediaType, detail: "expected application/json, got \(String(cString: contentType))")
        }
        let body = try readAll(limit: limit)
        if decoder == nil, let value = body.withUnsafeBufferPointer({ TapeJSONDecoder.decode(T.self, from: $0) }) {
            return value
        }
        do {
            return try (decoder ?? JSONDecoder()).decode(T.self, from: Data(body))
        } catch let error as DecodingError {
            throw JSONProblem.badRequest(error)
        }
    }
}

extension ResponseWriter {
    /// Sends `value` encoded as JSON (`Content-Type: application/json`)
    /// as the whole response.
    ///
    /// Without an `encoder`, GatewayJSON's own encoder writes the bytes as
    /// the value encodes itself (no tree, no `Data`): the bytes
    /// `JSONEncoder()` writes. What it cannot stream goes to
    /// `JSONEncoder()`. Pass a `JSONEncoder` for its options (sorted keys,
    /// pretty printing, dates).
    public func respond<T: Encodable>(json value: T, status: Status = .ok, headers: Headers = [:],
                                      encoder: JSONEncoder? = nil) throws {
        try JSONBody.withEncoded(value, encoder: encoder) { body in
            if headers.isEmpty {
                try status.line.withCString { line in try start(status: line, headers: JSONBody.contentTypeHeader) }
            } else {
                var fields = headers
                fields.add("Content-Type", "application/json")
                try start(status: status, headers: fields)
            }
            try writeLast(body)
        }
    }

    /// Sends `value` as one JSON text of a stream (newline-delimited JSON):
    /// start the response with `Content-Type: application/x-ndjson` first.
    public func write<T: Encodable>(jsonLine value: T, encoder: JSONEncoder? = nil) throws {
        try JSONBody.withEncoded(value, encoder: encoder, newline: true) { try write($0) }
    }
}

/// The JSON text of a response body.
enum JSONBody {
    /// Calls `body` with `value`'s JSON text: GatewayJSON's encoder's
    /// without `encoder` (when it can stream the value), else the
    /// JSONEncoder's.
    static func withEncoded<T: Encodable>(_ value: T, encoder: JSONEncoder?, newline: Bool = false,
                                          _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        if encoder == nil, try StreamingJSONEncoder.withEncoded(value, newline: newline, body) { return }
        var data = try (encoder ?? JSONEncoder()).encode(value)
        if newline { data.append(UInt8(ascii: "\n")) }
        try data.withUnsafeBytes { try body($0) }
    }

/// `Content-Type: application/json` as C strings, made once.
    nonisolated(unsafe) static let contentTypeHeader: UnsafeBufferPointer<gateway_pair> = {
        let pair = UnsafeMutablePointer<gateway_pair>.allocate(capacity: 1)
        pair.initialize(to: gateway_pair(name: UnsafePointer(strdup("Content-Type")), value: UnsafePointer(strdup("application/json"))))
        return UnsafeBufferPointer(start: pair, count: 1)
    }()
}

enum JSONMediaType {
    /// application/json, or any type with a +json suffix, parameters
    /// ignored, ASCII case ignored. Reads the C string in place.
    static func isJSON(_ contentType: UnsafePointer<CChar>) -> Bool {
        let bytes = UnsafeRawPointer(contentType).assumingMemoryBound(to: UInt8.self)
        let length = strlen(contentType)
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(length, 1)) { type in
            var count = 0
            for index in 0..<length {
                let byte = bytes[index]
                if byte == UInt8(ascii: ";") { break }
                if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { continue }
                type[count] = byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
                count += 1
            }
            let text = UnsafeBufferPointer(rebasing: type[..<count])
            return text.elementsEqual("application/json".utf8) || (count >= 5 && text.suffix(5).elementsEqual("+json".utf8))
        }
    }

    static func isJSON(_ contentType: String) -> Bool { contentType.withCString { isJSON($0) } }
}
