import Gateway

/// A request for `TestServer`: what a client sends.
///
///     TestRequest("POST", "/todos?notify=1", headers: ["Content-Type": "application/json"],
///                 body: #"{"title":"#, #""milk"}"#)      // the body in two pieces
public struct TestRequest {
    public var method: String
    /// The request target, as sent: path and query, percent-encoded.
    public var target: String
    public var headers: Headers
    /// The body as the app's reads will see it: one read never spans two pieces.
    public var body: [[UInt8]]
    /// Sends no Content-Length (as a chunked upload): CONTENT_LENGTH is absent.
    public var chunked: Bool
    /// "HTTP/1.1" or "HTTP/1.0".
    public var serverProtocol: String

    public init(_ method: String = "GET", _ target: String, headers: Headers = [:], body: [[UInt8]] = [],
                chunked: Bool = false, serverProtocol: String = "HTTP/1.1") {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.chunked = chunked
        self.serverProtocol = serverProtocol
    }

    public init(_ method: String = "GET", _ target: String, headers: Headers = [:], body: String...,
                chunked: Bool = false) {
        self.init(method, target, headers: headers, body: body.map { Array($0.utf8) }, chunked: chunked)
    }

    /// The environ gatewayd would give the app (docs/gateway-interface.md).
    func environ(workerID: Int) -> [(String, String)] {
        let query = target.firstIndex(of: "?")
        let rawPath = query.map { String(target[..<$0]) } ?? target
        var environ: [(String, String)] = [
            ("REQUEST_METHOD", method), ("SCRIPT_NAME", ""),
            ("PATH_INFO", TestRequest.percentDecoded(rawPath.isEmpty ? "/" : rawPath)),
            ("QUERY_STRING", query.map { String(target[target.index(after: $0)...]) } ?? ""),
            ("REQUEST_URI", target), ("SERVER_PROTOCOL", serverProtocol),
            ("SERVER_NAME", "localhost"), ("SERVER_PORT", "80"),
            ("REMOTE_ADDR", "127.0.0.1"), ("REMOTE_PORT", "40000"),
            ("SERVER_SOFTWARE", "gatewayd-testing"), ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("gateway.version", "1"), ("gateway.url_scheme", "http"), ("gateway.multithread", "0"),
            ("gateway.multiprocess", "1"), ("gateway.run_once", "0"),
            ("gateway.worker_id", String(workerID)), ("gateway.generation", "0"),
        ]
        var sawLength = false
        for field in headers {
            let key: String
            if Headers.sameName(field.name, "Content-Type") {
                key = "CONTENT_TYPE"
            } else if Headers.sameName(field.name, "Content-Length") {
                key = "CONTENT_LENGTH"
                sawLength = true
            } else {
                key = "HTTP_" + String(decoding: field.name.utf8.map { byte -> UInt8 in
                    byte == UInt8(ascii: "-") ? UInt8(ascii: "_") : (byte >= 0x61 && byte <= 0x7A ? byte - 0x20 : byte)
                }, as: UTF8.self)
            }
            if let index = environ.firstIndex(where: { $0.0 == key }) {
                environ[index].1 += ", " + field.value  // repeated headers arrive joined
            } else {
                environ.append((key, field.value))
            }
        }
        if !sawLength && !chunked && (!body.isEmpty || ["POST", "PUT", "PATCH"].contains(method)) {
            environ.append(("CONTENT_LENGTH", String(body.reduce(0) { $0 + $1.count })))
        }
        if headers["Host"] == nil { environ.append(("HTTP_HOST", "localhost")) }
        return environ
    }

    static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
               let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
