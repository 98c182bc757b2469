@testable import GatewayWire

/// One uwsgi or SCGI request head with what the decoder must make of it.
struct ProtocolCase: CustomStringConvertible, Sendable {
    enum Expected: Equatable, Sendable {
        /// The vars (name, value) in order, and where the body starts.
        case vars([[String]], end: Int)
        case error(Int)
    }

    let name: String
    let proto: ListenProtocol
    let raw: [UInt8]
    let expected: Expected
    var limits = ProtocolLimits(vars: 16, nameSize: 32, valueSize: 64, total: 512)

    var description: String { name }
}

enum ProtocolCases {
    /// A uwsgi packet: header, then the vars (each name and value with a u16 LE length).
    static func uwsgi(_ pairs: [(String, String)], modifier1: UInt8 = 0, modifier2: UInt8 = 0, sizeDelta: Int = 0) -> [UInt8] {
        var block: [UInt8] = []
        for (k, v) in pairs {
            for s in [k, v] {
                let b = Array(s.utf8)
                block += [UInt8(b.count & 0xFF), UInt8(b.count >> 8)] + b
            }
        }
        let size = block.count + sizeDelta
        return [modifier1, UInt8(size & 0xFF), UInt8((size >> 8) & 0xFF), modifier2] + block
    }

    /// An SCGI netstring of headers.
    static func scgi(_ pairs: [(String, String)], length: String? = nil, close: String = ",") -> [UInt8] {
        var block: [UInt8] = []
        for (k, v) in pairs { block += Array(k.utf8) + [0] + Array(v.utf8) + [0] }
        return Array((length ?? String(block.count)).utf8) + [0x3A] + block + Array(close.utf8)
    }

    static let get: [(String, String)] = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/a?b=%C3%A9"), ("QUERY_STRING", "b=%C3%A9")]
    static let scgiGet: [(String, String)] = [("CONTENT_LENGTH", "0"), ("SCGI", "1"), ("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/")]

    static func names(_ pairs: [(String, String)]) -> [[String]] { pairs.map { [$0.0, $0.1] } }

    static var uwsgiCases: [ProtocolCase] {
        let u = uwsgi(get)
        var cases: [ProtocolCase] = [
            .init(name: "uwsgi GET", proto: .uwsgi, raw: u, expected: .vars(names(get), end: u.count)),
            .init(name: "uwsgi GET then body", proto: .uwsgi, raw: uwsgi(get + [("CONTENT_LENGTH", "3")]) + Array("abc".utf8),
                  expected: .vars(names(get + [("CONTENT_LENGTH", "3")]), end: uwsgi(get + [("CONTENT_LENGTH", "3")]).count)),
            .init(name: "uwsgi empty vars block", proto: .uwsgi, raw: uwsgi([]), expected: .vars([], end: 4)),
            .init(name: "uwsgi empty value", proto: .uwsgi, raw: uwsgi([("CONTENT_LENGTH", ""), ("A", "")]),
                  expected: .vars([["CONTENT_LENGTH", ""], ["A", ""]], end: uwsgi([("CONTENT_LENGTH", ""), ("A", "")]).count)),
            .init(name: "uwsgi UTF-8 value", proto: .uwsgi, raw: uwsgi([("PATH_INFO", "/é")]),
                  expected: .vars([["PATH_INFO", "/é"]], end: uwsgi([("PATH_INFO", "/é")]).count)),
            .init(name: "uwsgi modifier1 5", proto: .uwsgi, raw: uwsgi(get, modifier1: 5), expected: .error(400)),
            // uWSGI ignores modifier2 for a WSGI request: a site that sets uwsgi_modifier2 keeps working when it moves.
            .init(name: "uwsgi modifier2 1 is ignored", proto: .uwsgi, raw: uwsgi(get, modifier2: 1), expected: .vars(names(get), end: u.count)),
            .init(name: "uwsgi modifier2 255 is ignored", proto: .uwsgi, raw: uwsgi(get, modifier2: 255), expected: .vars(names(get), end: u.count)),
            .init(name: "uwsgi size one short", proto: .uwsgi, raw: uwsgi(get, sizeDelta: -1), expected: .error(400)),
            .init(name: "uwsgi size one long", proto: .uwsgi, raw: uwsgi(get, sizeDelta: 1) + [0], expected: .error(400)),
            .init(name: "uwsgi size three short (cuts a name)", proto: .uwsgi, raw: uwsgi(get, sizeDelta: -3), expected: .error(400)),
            .init(name: "uwsgi block over total", proto: .uwsgi, raw: [0, 0x01, 0x02, 0], expected: .error(431)),
            .init(name: "uwsgi empty name", proto: .uwsgi, raw: uwsgi([("", "x")]), expected: .error(400)),
            .init(name: "uwsgi name with space", proto: .uwsgi, raw: uwsgi([("A B", "x")]), expected: .error(400)),
            .init(name: "uwsgi name with =", proto: .uwsgi, raw: uwsgi([("A=B", "x")]), expected: .error(400)),
            .init(name: "uwsgi name with NUL", proto: .uwsgi, raw: uwsgi([("A\u{0}", "x")]), expected: .error(400)),
            .init(name: "uwsgi name with DEL", proto: .uwsgi, raw: uwsgi([("A\u{7F}", "x")]), expected: .error(400)),
            .init(name: "uwsgi value with NUL", proto: .uwsgi, raw: uwsgi([("A", "x\u{0}y")]), expected: .error(400)),
            .init(name: "uwsgi name too long", proto: .uwsgi, raw: uwsgi([(String(repeating: "N", count: 33), "x")]), expected: .error(431)),
            .init(name: "uwsgi name at the limit", proto: .uwsgi, raw: uwsgi([(String(repeating: "N", count: 32), "x")]),
                  expected: .vars([[String(repeating: "N", count: 32), "x"]], end: uwsgi([(String(repeating: "N", count: 32), "x")]).count)),
            .init(name: "uwsgi value too long", proto: .uwsgi, raw: uwsgi([("A", String(repeating: "v", count: 65))]), expected: .error(431)),
            .init(name: "uwsgi too many vars", proto: .uwsgi, raw: uwsgi((0..<17).map { ("V\($0)", "") }), expected: .error(431)),
            .init(name: "uwsgi CONTENT_LENGTH not a number", proto: .uwsgi, raw: uwsgi([("CONTENT_LENGTH", "1x")]), expected: .error(400)),
            .init(name: "uwsgi CONTENT_LENGTH negative", proto: .uwsgi, raw: uwsgi([("CONTENT_LENGTH", "-1")]), expected: .error(400)),
            .init(name: "uwsgi CONTENT_LENGTH 19 digits", proto: .uwsgi, raw: uwsgi([("CONTENT_LENGTH", String(repeating: "9", count: 19))]), expected: .error(400)),
            .init(name: "uwsgi value length past the block", proto: .uwsgi, raw: [0, 5, 0, 0, 1, 0, 0x41, 9, 0], expected: .error(400)),
            .init(name: "uwsgi truncated value length", proto: .uwsgi, raw: [0, 4, 0, 0, 1, 0, 0x41, 1], expected: .error(400)),
        ]
        let sixteen = (0..<16).map { ("V\($0)", "x") }
        cases.append(.init(name: "uwsgi vars at the limit", proto: .uwsgi, raw: uwsgi(sixteen), expected: .vars(names(sixteen), end: uwsgi(sixteen).count)))
        return cases
    }

    static var scgiCases: [ProtocolCase] {
        let s = scgi(scgiGet)
        let post = [("CONTENT_LENGTH", "5"), ("SCGI", "1"), ("REQUEST_METHOD", "POST")]
        return [
            .init(name: "scgi GET", proto: .scgi, raw: s, expected: .vars(names(scgiGet), end: s.count)),
            .init(name: "scgi POST then body", proto: .scgi, raw: scgi(post) + Array("hello".utf8), expected: .vars(names(post), end: scgi(post).count)),
            .init(name: "scgi the spec's example", proto: .scgi,
                  raw: Array("70:CONTENT_LENGTH\u{0}27\u{0}SCGI\u{0}1\u{0}REQUEST_METHOD\u{0}POST\u{0}REQUEST_URI\u{0}/deepthought\u{0},".utf8),
                  expected: .vars([["CONTENT_LENGTH", "27"], ["SCGI", "1"], ["REQUEST_METHOD", "POST"], ["REQUEST_URI", "/deepthought"]], end: 74)),
            .init(name: "scgi empty value", proto: .scgi, raw: scgi(scgiGet + [("HTTP_X", "")]), expected: .vars(names(scgiGet + [("HTTP_X", "")]), end: scgi(scgiGet + [("HTTP_X", "")]).count)),
            .init(name: "scgi CONTENT_LENGTH not first", proto: .scgi, raw: scgi([("SCGI", "1"), ("CONTENT_LENGTH", "0")]), expected: .error(400)),
            .init(name: "scgi no SCGI", proto: .scgi, raw: scgi([("CONTENT_LENGTH", "0")]), expected: .error(400)),
            .init(name: "scgi SCGI=2", proto: .scgi, raw: scgi([("CONTENT_LENGTH", "0"), ("SCGI", "2")]), expected: .error(400)),
            .init(name: "scgi empty CONTENT_LENGTH", proto: .scgi, raw: scgi([("CONTENT_LENGTH", ""), ("SCGI", "1")]), expected: .error(400)),
            .init(name: "scgi CONTENT_LENGTH with a sign", proto: .scgi, raw: scgi([("CONTENT_LENGTH", "+1"), ("SCGI", "1")]), expected: .error(400)),
            .init(name: "scgi empty netstring", proto: .scgi, raw: Array("0:,".utf8), expected: .error(400)),
            .init(name: "scgi no length", proto: .scgi, raw: Array(":,".utf8), expected: .error(400)),
            .init(name: "scgi leading zero", proto: .scgi, raw: scgi(scgiGet, length: "0" + String(scgi(scgiGet).count - 4)), expected: .error(400)),
            .init(name: "scgi letter in the length", proto: .scgi, raw: Array("1a:".utf8), expected: .error(400)),
            .init(name: "scgi length too long", proto: .scgi, raw: Array("12345678:".utf8), expected: .error(431)),
            .init(name: "scgi length over total", proto: .scgi, raw: Array("513:".utf8), expected: .error(431)),
            .init(name: "scgi not closed by comma", proto: .scgi, raw: scgi(scgiGet, close: ";"), expected: .error(400)),
            .init(name: "scgi length one short", proto: .scgi, raw: scgi(scgiGet, length: String(scgi(scgiGet).count - 5)), expected: .error(400)),
            .init(name: "scgi value without NUL", proto: .scgi, raw: Array("17:CONTENT_LENGTH\u{0}0,,".utf8), expected: .error(400)),
            .init(name: "scgi name without NUL", proto: .scgi, raw: Array("4:ABCD,".utf8), expected: .error(400)),
            .init(name: "scgi empty name", proto: .scgi, raw: scgi(scgiGet + [("", "x")]), expected: .error(400)),
            .init(name: "scgi name with space", proto: .scgi, raw: scgi(scgiGet + [("A B", "x")]), expected: .error(400)),
            .init(name: "scgi name too long", proto: .scgi, raw: scgi(scgiGet + [(String(repeating: "N", count: 33), "x")]), expected: .error(431)),
            .init(name: "scgi value too long", proto: .scgi, raw: scgi(scgiGet + [("A", String(repeating: "v", count: 65))]), expected: .error(431)),
            .init(name: "scgi too many vars", proto: .scgi, raw: scgi(scgiGet + (0..<13).map { ("V\($0)", "") }), expected: .error(431)),
            .init(name: "scgi vars at the limit", proto: .scgi, raw: scgi(scgiGet + (0..<12).map { ("V\($0)", "") }),
                  expected: .vars(names(scgiGet + (0..<12).map { ("V\($0)", "") }), end: scgi(scgiGet + (0..<12).map { ("V\($0)", "") }).count)),
        ]
    }

    static var all: [ProtocolCase] { uwsgiCases + scgiCases }
}
