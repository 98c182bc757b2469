@testable import GatewayWire

/// FastCGI request heads (records up to the empty PARAMS) and STDIN
/// streams, with what the decoders must make of them.
struct FastCGICase: CustomStringConvertible, Sendable {
    enum Expected: Equatable, Sendable {
        /// The request, its parameters in order, where its head ends, and the replies on the way.
        case request(id: UInt16, keep: Bool, vars: [[String]], end: Int, replies: [[UInt8]])
        case aborted(id: UInt16, end: Int, replies: [[UInt8]])
        case error(Int, id: UInt16)
    }

    let name: String
    let raw: [UInt8]
    let expected: Expected
    var limits = ProtocolLimits(vars: 16, nameSize: 32, valueSize: 64, total: 512)

    var description: String { name }
}

enum FastCGICases {
    typealias R = FastCGIRecord

    static func header(_ type: UInt8, _ id: UInt16, _ length: Int, padding: Int = 0, version: UInt8 = 1) -> [UInt8] {
        [version, type, UInt8(id >> 8), UInt8(id & 0xFF), UInt8(length >> 8), UInt8(length & 0xFF), UInt8(padding), 0]
    }

    static func record(_ type: UInt8, _ id: UInt16, _ content: [UInt8], padding: Int = 0) -> [UInt8] {
        header(type, id, content.count, padding: padding) + content + [UInt8](repeating: 0, count: padding)
    }

    static func begin(_ id: UInt16 = 1, role: Int = 1, keep: Bool = false) -> [UInt8] {
        record(1, id, [UInt8(role >> 8), UInt8(role & 0xFF), keep ? 1 : 0, 0, 0, 0, 0, 0])
    }

    static func pairs(_ list: [(String, String)]) -> [UInt8] {
        list.flatMap { R.pair(Array($0.0.utf8), Array($0.1.utf8)) }
    }

    static func params(_ id: UInt16 = 1, _ content: [UInt8], padding: Int = 0) -> [UInt8] { record(4, id, content, padding: padding) }
    static func endParams(_ id: UInt16 = 1) -> [UInt8] { record(4, id, []) }
    static func stdin(_ id: UInt16 = 1, _ content: [UInt8], padding: Int = 0) -> [UInt8] { record(5, id, content, padding: padding) }

    /// A whole head: BEGIN_REQUEST, the parameters in one PARAMS record, the empty PARAMS.
    static func head(_ list: [(String, String)], id: UInt16 = 1, keep: Bool = false) -> [UInt8] {
        begin(id, keep: keep) + params(id, pairs(list)) + endParams(id)
    }

    static let get: [(String, String)] = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/a?b=%C3%A9"), ("QUERY_STRING", "b=%C3%A9")]
    static func names(_ pairs: [(String, String)]) -> [[String]] { pairs.map { [$0.0, $0.1] } }

    static func ok(_ name: String, _ raw: [UInt8], _ vars: [(String, String)], end: Int? = nil, id: UInt16 = 1, keep: Bool = false,
                   replies: [[UInt8]] = [], limits: ProtocolLimits? = nil) -> FastCGICase {
        var c = FastCGICase(name: name, raw: raw, expected: .request(id: id, keep: keep, vars: names(vars), end: end ?? raw.count, replies: replies))
        if let limits { c.limits = limits }
        return c
    }

    static func bad(_ name: String, _ raw: [UInt8], _ status: Int, id: UInt16 = 1) -> FastCGICase {
        FastCGICase(name: name, raw: raw, expected: .error(status, id: id))
    }

    static var heads: [FastCGICase] {
        let g = head(get)
        let body = stdin(1, Array("abc".utf8)) + stdin(1, [])
        let split = pairs(get)
        let long = String(repeating: "v", count: 200)
        let getValues = record(9, 0, pairs([("FCGI_MPXS_CONNS", ""), ("FCGI_NOPE", "")]))
        let mpxsAnswer = R.record(.getValuesResult, 0, pairs([("FCGI_MPXS_CONNS", "0")]))
        let allValues = record(9, 0, pairs([("FCGI_MAX_CONNS", ""), ("FCGI_MAX_REQS", ""), ("FCGI_MPXS_CONNS", "")]))
        // The capacity of one worker of 1000 connections (ProtocolLimits' default): one request at a time.
        let allAnswer = R.record(.getValuesResult, 0, pairs([("FCGI_MAX_CONNS", "1000"), ("FCGI_MAX_REQS", "1"), ("FCGI_MPXS_CONNS", "0")]))
        let fourByte: [UInt8] = [0x80, 0, 0, 1, 0x80, 0, 0, 2] + Array("Axy".utf8)
        return [
            ok("GET", g, get),
            ok("GET keep-conn", head(get, keep: true), get, keep: true),
            ok("GET then STDIN", g + body, get, end: g.count),
            ok("request id 65535", head(get, id: 65535), get, id: 65535),
            ok("no parameters", begin() + endParams(), []),
            ok("parameters over three records, a pair cut across them",
               begin() + params(1, Array(split[0..<5])) + params(1, Array(split[5..<20])) + params(1, Array(split[20...])) + endParams(), get),
            ok("padded PARAMS records", begin() + params(1, pairs(get), padding: 5) + params(1, [], padding: 0) , get),
            ok("255 bytes of padding", begin() + params(1, pairs(get), padding: 255) + endParams(), get,
               limits: ProtocolLimits(vars: 16, nameSize: 32, valueSize: 64, total: 1024)),
            ok("a 4-byte value length", head([("HTTP_X", long)]), [("HTTP_X", long)],
               limits: ProtocolLimits(vars: 16, nameSize: 32, valueSize: 256, total: 1024)),
            ok("4-byte lengths for short ones", begin() + params(1, fourByte) + endParams(), [("A", "xy")]),
            ok("an empty value", head([("CONTENT_LENGTH", ""), ("A", "")]), [("CONTENT_LENGTH", ""), ("A", "")]),
            ok("UTF-8 value", head([("REQUEST_URI", "/é")]), [("REQUEST_URI", "/é")]),
            ok("GET_VALUES first, answered for the names we know", getValues + g, get, replies: [mpxsAnswer]),
            ok("GET_VALUES for all three", allValues + g, get, replies: [allAnswer]),
            ok("GET_VALUES between PARAMS", begin() + params(1, pairs(get)) + getValues + endParams(), get, replies: [mpxsAnswer]),
            ok("an unknown management type", record(42, 0, [1, 2, 3]) + g, get, replies: [R.unknownType(42)]),
            ok("a second request is refused (no multiplexing), its records ignored",
               begin() + params(1, pairs(get)) + begin(2) + params(2, pairs([("X", "y")])) + endParams(),
               get, replies: [R.endRequest(2, .cantMultiplex, closingStdout: false)]),
            ok("records of an inactive request are ignored", stdin(7, [1, 2, 3]) + record(4, 9, []) + g, get),
            ok("an unknown role is refused, the next request served",
               begin(1, role: 2) + params(1, pairs(get)) + endParams(1) + head(get, id: 2), get, id: 2,
               replies: [R.endRequest(1, .unknownRole, closingStdout: false)]),
            FastCGICase(name: "ABORT_REQUEST before the parameters end", raw: begin() + params(1, pairs(get)) + record(2, 1, []),
                        expected: .aborted(id: 1, end: (begin() + params(1, pairs(get)) + record(2, 1, [])).count, replies: [])),
            bad("version 2", [2] + Array(g.dropFirst()), 400, id: 0),
            bad("version 0 in PARAMS", begin() + [0] + Array(params(1, pairs(get)).dropFirst()), 400),
            bad("BEGIN_REQUEST of 7 bytes", record(1, 1, [0, 1, 0, 0, 0, 0, 0]) + endParams(), 400, id: 0),
            bad("STDIN before the end of PARAMS", begin() + params(1, pairs(get)) + stdin(1, [1]), 400),
            bad("BEGIN_REQUEST twice", begin() + begin() + endParams(), 400),
            bad("an unknown type for the active request", begin() + record(42, 1, []) + endParams(), 400),
            bad("END_REQUEST from the web server", begin() + record(3, 1, [0, 0, 0, 0, 0, 0, 0, 0]), 400),
            bad("a pair past the end of PARAMS", begin() + params(1, [5, 1] + Array("AB".utf8)) + endParams(), 400),
            bad("a 4-byte length cut short", begin() + params(1, [0x80, 0]) + endParams(), 400),
            bad("an empty name", head([("", "x")]), 400),
            bad("a name with a space", head([("A B", "x")]), 400),
            bad("a name with =", head([("A=B", "x")]), 400),
            bad("NUL in a value", head([("A", "x\u{0}y")]), 400),
            bad("name too long", head([(String(repeating: "N", count: 33), "x")]), 431),
            bad("value too long", head([("A", String(repeating: "v", count: 65))]), 431),
            bad("too many parameters", head((0..<17).map { ("V\($0)", "") }), 431),
            bad("CONTENT_LENGTH not a number", head([("CONTENT_LENGTH", "1x")]), 400),
            bad("CONTENT_LENGTH negative", head([("CONTENT_LENGTH", "-1")]), 400),
            bad("a PARAMS record past the total", begin() + header(4, 1, 600), 431),
            bad("PARAMS records past the total together", begin() + params(1, pairs([("A", String(repeating: "v", count: 60))])) +
                (0..<8).flatMap { _ in params(1, pairs([("B\(0)", String(repeating: "w", count: 50))])) } + endParams(), 431),
            bad("a management record past the total", header(9, 0, 600), 431, id: 0),
        ] + [ok("parameters at the limit", head((0..<16).map { ("V\($0)", "x") }), (0..<16).map { ("V\($0)", "x") })]
    }

    /// STDIN streams: what the body is, the replies on the way, how it ends.
    struct Stdin: CustomStringConvertible, Sendable {
        enum End: Equatable, Sendable { case done, aborted, error(Int) }
        let name: String
        let raw: [UInt8]
        let body: [UInt8]
        let replies: [[UInt8]]
        let end: End
        /// Bytes of `raw` the body takes (done or aborted).
        let consumed: Int
        var maxBody = 0
        var description: String { name }
    }

    static var stdins: [Stdin] {
        let abc = stdin(1, Array("abc".utf8)) + stdin(1, [])
        let padded = stdin(1, Array("hello".utf8), padding: 3) + stdin(1, Array(" world".utf8), padding: 2) + stdin(1, [], padding: 4)
        let big = [UInt8](repeating: 0x61, count: 1000)
        let getValues = record(9, 0, pairs([("FCGI_MPXS_CONNS", "")]))
        let next = head(get)
        return [
            Stdin(name: "no body", raw: stdin(1, []), body: [], replies: [], end: .done, consumed: 8),
            Stdin(name: "one record", raw: abc, body: Array("abc".utf8), replies: [], end: .done, consumed: abc.count),
            Stdin(name: "the next request follows", raw: abc + next, body: Array("abc".utf8), replies: [], end: .done, consumed: abc.count),
            Stdin(name: "padded records", raw: padded, body: Array("hello world".utf8), replies: [], end: .done, consumed: padded.count),
            Stdin(name: "a 1000-byte record", raw: stdin(1, big) + stdin(1, []), body: big, replies: [], end: .done, consumed: 1016),
            Stdin(name: "GET_VALUES on the way", raw: stdin(1, [1]) + getValues + stdin(1, [2]) + stdin(1, []), body: [1, 2],
                  replies: [R.valuesResult(nil, .init())], end: .done, consumed: 9 + getValues.count + 9 + 8),
            Stdin(name: "an unknown management type on the way", raw: record(77, 0, [9, 9]) + stdin(1, []), body: [],
                  replies: [R.unknownType(77)], end: .done, consumed: 18),
            Stdin(name: "a second BEGIN_REQUEST on the way", raw: begin(3) + stdin(3, [5]) + stdin(1, [6]) + stdin(1, []), body: [6],
                  replies: [R.endRequest(3, .cantMultiplex, closingStdout: false)], end: .done, consumed: 16 + 9 + 9 + 8),
            Stdin(name: "ABORT_REQUEST", raw: stdin(1, [1, 2]) + record(2, 1, []) + stdin(1, [3]), body: [1, 2], replies: [], end: .aborted, consumed: 18),
            Stdin(name: "a bad version", raw: stdin(1, [1]) + [3, 5, 0, 1, 0, 0, 0, 0], body: [1], replies: [], end: .error(400), consumed: 0),
            Stdin(name: "PARAMS in the body", raw: stdin(1, [1]) + params(1, [1, 1, 65, 66]), body: [1], replies: [], end: .error(400), consumed: 0),
            Stdin(name: "over max_body_size", raw: stdin(1, [1, 2, 3]) + stdin(1, [4, 5]), body: [1, 2, 3], replies: [], end: .error(413),
                  consumed: 0, maxBody: 4),
            Stdin(name: "at max_body_size", raw: stdin(1, [1, 2]) + stdin(1, [3, 4]) + stdin(1, []), body: [1, 2, 3, 4], replies: [], end: .done,
                  consumed: 28, maxBody: 4),
        ]
    }
}
