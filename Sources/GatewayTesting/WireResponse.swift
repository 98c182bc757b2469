/// A response read back from the bytes the encoder wrote, as a client reads
/// it: the status line, the header fields, and the body by its framing
/// (Content-Length, chunked, or up to the close).
struct WireResponse {
    var status: Status
    var headers: Headers
    var body: [UInt8]
    var framing: TestResponse.Framing

    /// `aborted`: the server gave up on the response after it started (the
    /// connection is reset): a body framed by the close is then incomplete.
    static func parse(_ bytes: [UInt8], isHead: Bool, aborted: Bool) -> WireResponse {
        let crlf2: [UInt8] = [13, 10, 13, 10]
        guard let headEnd = bytes.firstRange(of: crlf2)?.lowerBound else {
            // Nothing or a partial head: the client saw the connection reset.
            return WireResponse(status: Status(code: 0, reason: "no response"), headers: [:], body: [], framing: .aborted)
        }
        let lines = bytes[..<headEnd].split(separator: 10, omittingEmptySubsequences: false).map {
            String(decoding: $0.last == 13 ? $0.dropLast() : $0, as: UTF8.self)
        }
        // "HTTP/1.1 200 OK": the status is what follows the version.
        let statusLine = lines[0].split(separator: " ", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        let status = Status(statusLine)
        var headers = Headers()
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
            headers.add(String(line[..<colon]), String(value))
        }
        let rest = Array(bytes[(headEnd + 4)...])
        let code = status.code
        if isHead || code == 204 || code == 304 || (100...199).contains(code) {
            return WireResponse(status: status, headers: headers, body: [], framing: aborted ? .aborted : .none)
        }
        if let length = headers["Content-Length"].flatMap({ Int($0) }) {
            let complete = rest.count >= length && !(aborted && rest.count < length)
            return WireResponse(status: status, headers: headers, body: Array(rest.prefix(length)),
                                framing: complete ? .contentLength(length) : .aborted)
        }
        if headers["Transfer-Encoding"]?.lowercased() == "chunked" {
            let (body, complete) = dechunk(rest)
            return WireResponse(status: status, headers: headers, body: body, framing: complete ? .chunked : .aborted)
        }
        return WireResponse(status: status, headers: headers, body: rest, framing: aborted ? .aborted : .close)
    }

    /// The body of a chunked message, and whether its last chunk arrived.
    static func dechunk(_ bytes: [UInt8]) -> ([UInt8], complete: Bool) {
        var body: [UInt8] = []
        var i = 0
        while let lineEnd = bytes[i...].firstRange(of: [13, 10])?.lowerBound {
            let sizeText = String(decoding: bytes[i..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: " \t"), radix: 16) else { return (body, false) }
            if size == 0 { return (body, true) }
            let start = lineEnd + 2
            guard start + size + 2 <= bytes.count else {
                body += bytes[start..<min(start + size, bytes.count)]
                return (body, false)
            }
            body += bytes[start..<(start + size)]
            i = start + size + 2
        }
        return (body, false)
    }

    func testResponse(callResult: Int32, logs: [(level: LogLevel, message: String)]) -> TestResponse {
        TestResponse(status: status, headers: headers, body: body, framing: framing, callResult: callResult, logs: logs)
    }
}

private extension Substring {
    func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return s
    }
}
