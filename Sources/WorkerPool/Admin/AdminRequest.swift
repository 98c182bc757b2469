import ServerCore

/// One request to the admin listener: a request line and a few headers,
/// no body kept (control verbs take their arguments in the query).
struct AdminRequest: Equatable {
    var method: String
    var path: String
    var query: [String: String]
    var accept: String

    enum Parsed: Equatable {
        /// The head is not complete yet.
        case incomplete
        case invalid(String)
        /// The request, and how many bytes of its body follow the head.
        case request(AdminRequest, bodyLength: Int)
    }

    /// The limit of a request head; the admin API needs no more.
    static let maxHead = 8192
    static let maxBody = 4096

    static func parse(_ bytes: [UInt8]) -> Parsed {
        guard let end = headEnd(bytes) else {
            return bytes.count > maxHead ? .invalid("request head over \(maxHead) bytes") : .incomplete
        }
        guard end <= maxHead else { return .invalid("request head over \(maxHead) bytes") }
        let head = String(decoding: bytes[..<end], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let parts = lines.removeFirst().split(separator: " ").map(String.init)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1."), parts[1].hasPrefix("/") else {
            return .invalid("malformed request line")
        }
        var accept = ""
        var length = 0
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { return .invalid("malformed header line") }
            let name = line[..<colon].lowercased()
            let value = String(line[line.index(after: colon)...]).trimmingCharacters()
            if name == "accept" { accept = value }
            if name == "content-length" {
                guard let n = Int(value), n >= 0 else { return .invalid("bad Content-Length") }
                length = n
            }
            if name == "transfer-encoding" { return .invalid("Transfer-Encoding is not accepted here") }
        }
        guard length <= maxBody else { return .invalid("body over \(maxBody) bytes") }
        let (path, query) = split(target: parts[1])
        return .request(AdminRequest(method: parts[0], path: path, query: query, accept: accept), bodyLength: length)
    }

    static func headEnd(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 {
            return i + 4
        }
        return nil
    }

    static func split(target: String) -> (String, [String: String]) {
        guard let q = target.firstIndex(of: "?") else { return (target, [:]) }
        var query: [String: String] = [:]
        for pair in target[target.index(after: q)...].split(separator: "&") {
            if let eq = pair.firstIndex(of: "=") {
                query[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
            } else {
                query[String(pair)] = ""
            }
        }
        return (String(target[..<q]), query)
    }
}

/// What the master answers to an admin request.
enum AdminReply: Equatable {
    case respond(status: Int, contentType: String, body: String)
    /// Held open until the reload it started is promoted or abandoned.
    case awaitReload
    /// Held open until the worker's stack dump is complete (StackDumps.grace at most).
    case awaitDump(pid: Int32)

    static func json(_ status: Int, _ body: String) -> AdminReply {
        .respond(status: status, contentType: "application/json", body: body + "\n")
    }

    static func text(_ status: Int, _ body: String) -> AdminReply {
        .respond(status: status, contentType: "text/plain; charset=utf-8", body: body + "\n")
    }

    /// A control verb's outcome, `{"result":...,"reason":...}` and more
    /// fields, built with the JSON type (nothing escaped by hand).
    static func outcome(_ status: Int, _ result: String, reason: String? = nil, _ more: [(String, JSON)] = []) -> AdminReply {
        var fields: [(String, JSON)] = [("result", .string(result))]
        if let reason { fields.append(("reason", .string(reason))) }
        return .json(status, JSON.object(fields + more).text)
    }

    static func bytes(status: Int, contentType: String, body: String, head: Bool = false) -> [UInt8] {
        let b = Array(body.utf8)
        let header = "HTTP/1.1 \(status) \(StatusPhrase.text(status))\r\nContent-Type: \(contentType)\r\nContent-Length: \(b.count)\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
        return Array(header.utf8) + (head ? [] : b)
    }
}
