import ServerCore

/// One request to the admin listener: a request line and a few headers,
/// no body kept (control verbs take their arguments in the query). The head
/// is found and parsed by the server's own HeadScanner and HeadParser
/// (GatewayWire), so a head the workers refuse is refused here too, with
/// the same status.
struct AdminRequest: Equatable {
    var method: String
    var path: String
    var query: [String: String]
    var accept: String

    enum Parsed: Equatable {
        /// The head is not complete yet.
        case incomplete
        /// Refused: the status to answer (400, 414, 431, ...) and why.
        case invalid(status: Int, reason: String)
        /// The request, and how many bytes of its body follow the head.
        case request(AdminRequest, bodyLength: Int)
    }

    /// The limit of a request head; the admin API needs no more.
    static let maxHead = 8192
    static let maxBody = 4096
    /// The workers' default limits (line, fields, field size), within maxHead.
    static let limits = HTTPLimits()

    static func parse(_ bytes: [UInt8]) -> Parsed {
        bytes.withUnsafeBufferPointer { buf in
            guard let base = buf.baseAddress else { return .incomplete }
            var scanner = HeadScanner()
            switch scanner.scan(base, end: buf.count, limits: limits) {
            case .needMore:
                return buf.count > maxHead ? .invalid(status: 431, reason: "request head over \(maxHead) bytes") : .incomplete
            case .failed(let e):
                return .invalid(status: e.status, reason: e.reason.description)
            case .complete(let end):
                guard end <= maxHead else { return .invalid(status: 431, reason: "request head over \(maxHead) bytes") }
                return parse(base, start: scanner.headStart, end: end)
            }
        }
    }

    static func parse(_ buf: UnsafePointer<UInt8>, start: Int, end: Int) -> Parsed {
        var head = RequestHead(fieldCapacity: limits.fields)
        defer { head.fields.deallocate() }
        // The one rule of the server's not kept: an admin listener serves
        // one host, itself, and a request typed by hand (printf | socat)
        // often has no Host.
        if let e = HeadParser.parse(buf, start: start, end: end, limits: limits, into: &head), e != HeadParser.missingHost {
            return .invalid(status: e.status, reason: e.reason.description)
        }
        // No body is decoded here: control verbs take no body to speak of.
        if head.chunked { return .invalid(status: 400, reason: "Transfer-Encoding is not accepted here") }
        let length = max(head.contentLength, 0)
        guard length <= maxBody else { return .invalid(status: 413, reason: "body over \(maxBody) bytes") }
        func text(_ at: Int, _ count: Int) -> String { String(decoding: UnsafeBufferPointer(start: buf + at, count: count), as: UTF8.self) }
        var accept: [String] = []
        for f in UnsafeBufferPointer(start: head.fields, count: head.fieldCount)
        where f.nameLength == 6 && HeadParser.equalsLower(buf, f.name, 6, "accept") {
            accept.append(text(f.value, f.valueLength))
        }
        let query = head.query >= 0 ? split(query: text(head.query, head.queryLength)) : [:]
        let request = AdminRequest(method: text(head.method, head.methodLength), path: text(head.path, head.pathLength),
                                   query: query, accept: accept.joined(separator: ", "))
        return .request(request, bodyLength: length)
    }

    /// Where the head ends (just past its blank line), once it is complete.
    static func headEnd(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { buf in
            guard let base = buf.baseAddress else { return nil }
            var scanner = HeadScanner()
            if case let .complete(end) = scanner.scan(base, end: buf.count, limits: limits) { return end }
            return nil
        }
    }

    static func split(query: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in query.split(separator: "&") {
            if let eq = pair.firstIndex(of: "=") {
                fields[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
            } else {
                fields[String(pair)] = ""
            }
        }
        return fields
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
