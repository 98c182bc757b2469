import Testing
@testable import GatewayWire

// A data-driven table of raw HTTP/1.x requests and the outcome gatewayd must
// reach for each: an error status, or the parsed head (and, for a few, the
// decoded body and the bytes left after it). HeadParserTests feeds every case
// whole, split at every byte and byte by byte, and requires one outcome.
//
// Documented choices the table pins down:
// - bare LF is refused: every line of the head, as every line of chunked
//   framing, ends with CRLF (RFC 9112 §2.2 lets a recipient choose);
// - up to 8 empty lines (CRLF) before the request line are skipped, a 9th is 400;
// - bytes above 0x7F in the target are taken as they come (nginx does);
// - chunk extensions follow RFC 9112 §7.1.1 exactly (BWS around ";" and
//   "=", token names, token or quoted-string values), else 400;
// - a fragment in the target is not part of the path or the query;
// - %00 is refused in the path only;
// - "Content-Length: 5, 5" is 5 (RFC 9110 §8.6), "5, 6" is 400;
// - a transfer coding other than chunked (or chunked with parameters) is 501,
//   chunked not last or twice is 400; TE with CL, TE in HTTP/1.0: 400;
// - an Expect other than 100-continue is 417; Expect in HTTP/1.0 is ignored.

/// What a run produced (or a case expects).
enum Outcome: Equatable, Sendable, CustomStringConvertible {
    case error(Int)
    /// The head never completed.
    case incomplete
    case parsed(Parsed)

    var description: String {
        switch self {
        case .error(let s): return "error \(s)"
        case .incomplete: return "incomplete head"
        case .parsed(let p): return "\(p)"
        }
    }
}

struct Parsed: Equatable, Sendable {
    var method: String
    var path: String
    var query: String?
    var authority: String?
    var version: String
    var keepAlive: Bool
    var contentLength: Int?
    var chunked: Bool
    var expectContinue: Bool
    var fields: Int
    /// The body: Content-Length bytes (as many as there are) or the decoded chunks.
    var body: [UInt8]
    /// A chunked body reached its last chunk and trailers; always true otherwise.
    var bodyComplete: Bool
    /// Bytes after the body (the next pipelined request).
    var rest: Int
}

struct ExpectedHead: Sendable {
    var method = "GET"
    var path = "/"
    var query: String? = nil
    var authority: String? = nil
    var version = "1.1"
    var keepAlive: Bool? = nil      // nil: the version's default
    var contentLength: Int? = nil
    var chunked = false
    var expectContinue = false
    var fields: Int
    var body: String? = nil         // checked when set (with bodyComplete)
    var rest: Int? = nil            // checked when set

    func matches(_ p: Parsed) -> Bool {
        p.method == method && p.path == path && p.query == query && p.authority == authority
            && p.version == version && p.keepAlive == (keepAlive ?? (version == "1.1"))
            && p.contentLength == contentLength && p.chunked == chunked
            && p.expectContinue == expectContinue && p.fields == fields
            && (body == nil || (p.body == Array(body!.utf8) && p.bodyComplete))
            && (rest == nil || p.rest == rest!)
    }
}

enum Expectation: Sendable, CustomStringConvertible {
    case error(Int)
    case incomplete
    case head(ExpectedHead)

    func matches(_ o: Outcome) -> Bool {
        switch (self, o) {
        case let (.error(a), .error(b)): return a == b
        case (.incomplete, .incomplete): return true
        case let (.head(e), .parsed(p)): return e.matches(p)
        default: return false
        }
    }

    var description: String {
        switch self {
        case .error(let s): return "error \(s)"
        case .incomplete: return "incomplete head"
        case .head(let h): return "\(h)"
        }
    }
}

struct HTTPCase: Sendable, CustomTestStringConvertible {
    let name: String
    let raw: [UInt8]
    let expected: Expectation
    let limits: HTTPLimits

    var testDescription: String { name }
}

extension HTTPLimits {
    /// The defaults of gatewayd.conf, with no body limit.
    static let standard = HTTPLimits()
    /// Small limits, so limit cases stay short.
    static let small = HTTPLimits(requestLine: 64, fields: 4, fieldSize: 64, maxBody: 16)
}

// MARK: - building cases

/// Bytes of a string, with `\u{XX}` below 0x80 as single bytes.
func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func ok(_ name: String, _ raw: [UInt8], limits: HTTPLimits = .standard,
        method: String = "GET", path: String = "/", query: String? = nil, authority: String? = nil,
        version: String = "1.1", keepAlive: Bool? = nil, cl: Int? = nil, chunked: Bool = false,
        expect: Bool = false, fields: Int, body: String? = nil, rest: Int? = nil) -> HTTPCase {
    HTTPCase(name: name, raw: raw, expected: .head(ExpectedHead(
        method: method, path: path, query: query, authority: authority, version: version,
        keepAlive: keepAlive, contentLength: cl, chunked: chunked, expectContinue: expect,
        fields: fields, body: body, rest: rest)), limits: limits)
}

func ok(_ name: String, _ raw: String, limits: HTTPLimits = .standard,
        method: String = "GET", path: String = "/", query: String? = nil, authority: String? = nil,
        version: String = "1.1", keepAlive: Bool? = nil, cl: Int? = nil, chunked: Bool = false,
        expect: Bool = false, fields: Int, body: String? = nil, rest: Int? = nil) -> HTTPCase {
    ok(name, bytes(raw), limits: limits, method: method, path: path, query: query, authority: authority,
       version: version, keepAlive: keepAlive, cl: cl, chunked: chunked, expect: expect,
       fields: fields, body: body, rest: rest)
}

func bad(_ status: Int, _ name: String, _ raw: [UInt8], limits: HTTPLimits = .standard) -> HTTPCase {
    HTTPCase(name: name, raw: raw, expected: .error(status), limits: limits)
}

func bad(_ status: Int, _ name: String, _ raw: String, limits: HTTPLimits = .standard) -> HTTPCase {
    bad(status, name, bytes(raw), limits: limits)
}

func incomplete(_ name: String, _ raw: String, limits: HTTPLimits = .standard) -> HTTPCase {
    HTTPCase(name: name, raw: bytes(raw), expected: .incomplete, limits: limits)
}

/// A GET / HTTP/1.1 with Host and the given extra header lines.
func get(_ headers: String = "", target: String = "/") -> String {
    "GET \(target) HTTP/1.1\r\nHost: example.com\r\n\(headers)\r\n"
}

/// A chunked POST whose body is `body` (raw framing).
func chunkedPost(_ body: String, extraHeaders: String = "") -> String {
    "POST /upload HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\(extraHeaders)\r\n\(body)"
}

let longExtension = String(repeating: "a", count: 5000)

// MARK: - the table

enum HTTPCases {
    static let all: [HTTPCase] =
        requestLine + versions + targets + host + fieldSyntax + lineEndings
        + connection + contentLength + transferEncoding + chunkedBodies + expect + limits + smuggling

    // MARK: request line (RFC 9112 §3)
    static let requestLine: [HTTPCase] = [
        ok("simple GET", get(), fields: 1),
        ok("HEAD", "HEAD /index.html HTTP/1.1\r\nHost: a\r\n\r\n", method: "HEAD", path: "/index.html", fields: 1),
        ok("POST with empty body", "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
           method: "POST", path: "/submit", cl: 0, fields: 2, body: "", rest: 0),
        ok("PUT", "PUT /r HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", method: "PUT", path: "/r",
           cl: 2, fields: 2, body: "hi", rest: 0),
        ok("DELETE", "DELETE /r/1 HTTP/1.1\r\nHost: a\r\n\r\n", method: "DELETE", path: "/r/1", fields: 1),
        ok("PATCH", "PATCH /r HTTP/1.1\r\nHost: a\r\n\r\n", method: "PATCH", path: "/r", fields: 1),
        ok("extension method PURGE", "PURGE /cache HTTP/1.1\r\nHost: a\r\n\r\n", method: "PURGE", path: "/cache", fields: 1),
        ok("method with a dash", "M-SEARCH /upnp HTTP/1.1\r\nHost: a\r\n\r\n", method: "M-SEARCH", path: "/upnp", fields: 1),
        ok("method of every tchar", "!#$%&'*+-.^_`|~09azAZ / HTTP/1.1\r\nHost: a\r\n\r\n",
           method: "!#$%&'*+-.^_`|~09azAZ", fields: 1),
        ok("methods are case-sensitive tokens: lowercase get is another method", "get / HTTP/1.1\r\nHost: a\r\n\r\n",
           method: "get", fields: 1),
        bad(400, "method with @", "GE@T / HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad(400, "method with a colon", "GET: / HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad(400, "method with a non-ASCII byte", bytes("G") + [0xC9] + bytes("T / HTTP/1.1\r\nHost: a\r\n\r\n")),
        bad(400, "empty method (leading space)", " / HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad(400, "leading space before the method", " GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad(400, "double space after the method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad(400, "double space before the version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad(400, "HTAB as separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad(400, "HTAB before the version", "GET /\tHTTP/1.1\r\nHost: a\r\n\r\n"),
        bad(400, "missing target", "GET HTTP/1.1\r\nHost: a\r\n\r\n"),
        // Jetty CVE-2017-7656: an HTTP/0.9 style request line must not be read as a request.
        bad(400, "HTTP/0.9 request line without a version", "GET /\r\n\r\n"),
        bad(400, "method only", "GET\r\nHost: a\r\n\r\n"),
        bad(400, "trailing space after the version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n"),
        bad(400, "extra word after the version", "GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n"),
        bad(400, "space inside the target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad(400, "bare CR in the request line", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad(400, "NUL in the request line", "GET /\u{0} HTTP/1.1\r\nHost: a\r\n\r\n"),
        // Raw bytes above 0x7F are taken as they come, on every listener
        // (docs/http.md): curl sends them raw, nginx passes them on.
        ok("raw UTF-8 in the target, as curl sends it", bytes("GET /caf\u{E9}?q=zo\u{EB} HTTP/1.1\r\nHost: a\r\n\r\n"),
           path: "/caf\u{E9}", query: "q=zo\u{EB}", fields: 1),
        ok("a byte above 0x7F that is not UTF-8 in the target", bytes("GET /caf") + [0xE9] + bytes(" HTTP/1.1\r\nHost: a\r\n\r\n"),
           path: "/caf\u{FFFD}", fields: 1),
        bad(400, "DEL in the target", "GET /a\u{7F} HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad(400, "vertical tab in the target", "GET /a\u{0B} HTTP/1.1\r\nHost: a\r\n\r\n"),
    ]

    // MARK: HTTP-version (RFC 9112 §2.3)
    static let versions: [HTTPCase] = [
        ok("HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", version: "1.0", fields: 0),
        ok("HTTP/1.0 with Host", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", version: "1.0", fields: 1),
        bad(505, "HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
        bad(505, "HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n"),
        bad(505, "HTTP/0.9 with a version", "GET / HTTP/0.9\r\n\r\n"),
        bad(505, "HTTP/3.0", "GET / HTTP/3.0\r\nHost: a\r\n\r\n"),
        bad(505, "HTTP/9.9", "GET / HTTP/9.9\r\nHost: a\r\n\r\n"),
        bad(400, "lowercase http (HTTP-name is case-sensitive)", "GET / http/1.1\r\nHost: a\r\n\r\n"),
        bad(400, "HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n"),
        bad(400, "HTTP/11", "GET / HTTP/11\r\nHost: a\r\n\r\n"),
        bad(400, "HTTP/1", "GET / HTTP/1\r\nHost: a\r\n\r\n"),
        bad(400, "HTTP/a.b", "GET / HTTP/a.b\r\nHost: a\r\n\r\n"),
        bad(400, "HTTPS/1.1", "GET / HTTPS/1.1\r\nHost: a\r\n\r\n"),
        bad(400, "HTTP-1.1", "GET / HTTP-1.1\r\nHost: a\r\n\r\n"),
        bad(400, "HTTP/1,1", "GET / HTTP/1,1\r\nHost: a\r\n\r\n"),
        bad(400, "garbage version", "GET / XYZZY\r\nHost: a\r\n\r\n"),
        bad(400, "version with a leading space inside", "GET / HTTP/ 1.1\r\nHost: a\r\n\r\n"),
    ]

    // MARK: request-target forms (RFC 9112 §3.2)
    static let targets: [HTTPCase] = [
        ok("query string", get(target: "/search?q=swift&lang=en"), path: "/search", query: "q=swift&lang=en", fields: 1),
        ok("empty query", get(target: "/?"), query: "", fields: 1),
        ok("question mark inside the query", get(target: "/a?b?c"), path: "/a", query: "b?c", fields: 1),
        ok("fragment is not part of the path", get(target: "/page#frag"), path: "/page", fields: 1),
        ok("fragment after the query", get(target: "/p?x=1#frag"), path: "/p", query: "x=1", fields: 1),
        ok("question mark inside the fragment", get(target: "/a#b?c"), path: "/a", fields: 1),
        ok("double slash path", get(target: "//double"), path: "//double", fields: 1),
        ok("percent-encoded space", get(target: "/a%20b"), path: "/a%20b", fields: 1),
        ok("%2500 is a literal %00, not NUL", get(target: "/%2500"), path: "/%2500", fields: 1),
        ok("%00 in the query is the app's business", get(target: "/a?x=%00"), path: "/a", query: "x=%00", fields: 1),
        ok("sub-delims and colon in the path", get(target: "/a:b@c!$&'()*+,;=d"), path: "/a:b@c!$&'()*+,;=d", fields: 1),
        bad(400, "%00 at the end of the path", get(target: "/a%00")),
        bad(400, "%00 inside the path", get(target: "/a%00b")),
        ok("absolute-form", get(target: "http://example.com/x?y=1"), path: "/x", query: "y=1",
           authority: "example.com", fields: 1),
        ok("absolute-form, https, port, scheme in capitals", get(target: "HTTPS://Example.COM:8443/"),
           path: "/", authority: "Example.COM:8443", fields: 1),
        ok("absolute-form with an empty path", get(target: "http://example.com"), path: "", authority: "example.com", fields: 1),
        ok("absolute-form with a query and no path", get(target: "http://a?x=1"), path: "", query: "x=1",
           authority: "a", fields: 1),
        ok("absolute-form with an IPv6 literal", get(target: "http://[::1]:8080/v6"), path: "/v6",
           authority: "[::1]:8080", fields: 1),
        bad(400, "absolute-form with %00 in the path", get(target: "http://a/x%00")),
        bad(400, "absolute-form with userinfo", get(target: "http://user@example.com/")),
        bad(400, "absolute-form with another scheme", get(target: "ftp://example.com/")),
        bad(400, "absolute-form with an empty authority", get(target: "http:///path")),
        bad(400, "absolute-form with a bad authority char", get(target: "http://a<b/")),
        // RFC 9110 §4.2.1: an http URI with an empty host MUST be rejected.
        bad(400, "absolute-form with a port and no host", get(target: "http://:80/")),
        bad(400, "absolute-form with a non-numeric port", get(target: "http://a:b/")),
        ok("OPTIONS with an absolute-form target", "OPTIONS http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
           method: "OPTIONS", path: "", authority: "example.com", fields: 1),
        ok("asterisk-form in HTTP/1.0", "OPTIONS * HTTP/1.0\r\n\r\n", method: "OPTIONS", path: "*", version: "1.0", fields: 0),
        bad(400, "absolute-form, HTTP/1.1, without Host", "GET http://example.com/ HTTP/1.1\r\n\r\n"),
        ok("asterisk-form for OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", method: "OPTIONS", path: "*", fields: 1),
        bad(400, "asterisk-form outside OPTIONS", "GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
        // Methods are case-sensitive (RFC 9110 §9.1): "options" is not OPTIONS.
        bad(400, "asterisk-form with lowercase options", "options * HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad(400, "asterisk followed by more", "OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad(405, "CONNECT authority-form", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
        bad(405, "CONNECT with an origin-form target", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad(405, "CONNECT in HTTP/1.0", "CONNECT example.com:443 HTTP/1.0\r\n\r\n"),
        bad(505, "CONNECT in HTTP/2.0: the version is checked first", "CONNECT example.com:443 HTTP/2.0\r\n\r\n"),
        bad(400, "authority-form outside CONNECT", "GET example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n"),
        bad(400, "relative target", get(target: "index.html")),
        bad(400, "target starting with ?", get(target: "?q=1")),
        bad(400, "target starting with #", get(target: "#f")),
    ]

    // MARK: Host (RFC 9112 §3.2, RFC 9110 §7.2)
    static let host: [HTTPCase] = [
        bad(400, "HTTP/1.1 without Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"),
        bad(400, "two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
        bad(400, "two Host fields, different case", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"),
        bad(400, "two Host fields in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"),
        ok("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", fields: 1),
        ok("Host with a port", "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", fields: 1),
        ok("Host as an IPv6 literal", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", fields: 1),
        ok("Host with surrounding whitespace", "GET / HTTP/1.1\r\nHost: \t example.com \t\r\n\r\n", fields: 1),
        ok("host field name in lowercase", "GET / HTTP/1.1\r\nhOsT: a\r\n\r\n", fields: 1),
        bad(400, "Host with a space inside", "GET / HTTP/1.1\r\nHost: exa mple.com\r\n\r\n"),
        bad(400, "Host with userinfo", "GET / HTTP/1.1\r\nHost: user@example.com\r\n\r\n"),
        bad(400, "Host with a path", "GET / HTTP/1.1\r\nHost: example.com/x\r\n\r\n"),
        bad(400, "Host with a backslash", "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n"),
        bad(400, "Host with an unclosed bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"),
        bad(400, "Host with a stray closing bracket", "GET / HTTP/1.1\r\nHost: a]\r\n\r\n"),
        bad(400, "Host with a bracket in the middle", "GET / HTTP/1.1\r\nHost: a[::1]\r\n\r\n"),
        bad(400, "Host with obs-text", bytes("GET / HTTP/1.1\r\nHost: caf") + [0xE9] + bytes("\r\n\r\n")),
        bad(400, "Host with a quote", "GET / HTTP/1.1\r\nHost: \"a\"\r\n\r\n"),
        bad(400, "Host with a less-than sign", "GET / HTTP/1.1\r\nHost: a<b\r\n\r\n"),
        bad(400, "Host with a non-numeric port", "GET / HTTP/1.1\r\nHost: example.com:http\r\n\r\n"),
        bad(400, "Host with two ports", "GET / HTTP/1.1\r\nHost: example.com:80:90\r\n\r\n"),
        bad(400, "Host with junk after an IPv6 literal", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"),
        bad(400, "Host with a bracket inside an IPv6 literal", "GET / HTTP/1.1\r\nHost: [::[1]\r\n\r\n"),
        ok("Host as an IPv4 address and port", "GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n", fields: 1),
        ok("Host with an empty port", "GET / HTTP/1.1\r\nHost: example.com:\r\n\r\n", fields: 1),
        ok("Host with pct-encoding and sub-delims", "GET / HTTP/1.1\r\nHost: ex%41mple!$&'()*+,;=-._~\r\n\r\n", fields: 1),
    ]

    // MARK: field syntax (RFC 9112 §5, RFC 9110 §5.5)
    static let fieldSyntax: [HTTPCase] = [
        ok("several fields", get("Accept: */*\r\nUser-Agent: test/1.0\r\nX-A: 1\r\n"), fields: 4),
        ok("ten extra fields", get((0..<10).map { "X-\($0): \($0)\r\n" }.joined()), fields: 11),
        ok("field name of every tchar", get("!#$%&'*+-.^_`|~09azAZ: x\r\n"), fields: 2),
        ok("empty field value", get("X-Empty:\r\n"), fields: 2),
        ok("value with only whitespace", get("X-Empty: \t \r\n"), fields: 2),
        ok("no space after the colon", get("X-A:b\r\n"), fields: 2),
        ok("HTAB inside a value", get("X-A: a\tb\r\n"), fields: 2),
        ok("colon inside a value", get("X-A: a:b::c\r\n"), fields: 2),
        ok("obs-text in a value", Array(bytes(get("X-A: caf")).dropLast(2)) + [0xE9, 0xFF, 0x80] + bytes("\r\n\r\n"), fields: 2),
        ok("quotes and commas in a value", get("X-A: \"a, b\", c\r\n"), fields: 2),
        bad(400, "space before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
        bad(400, "HTAB before the colon", get("X-A\t: b\r\n")),
        bad(400, "obs-fold with SP", get("X-A: a\r\n b\r\n")),
        bad(400, "obs-fold with HTAB", get("X-A: a\r\n\tb\r\n")),
        bad(400, "first field line starts with whitespace", "GET / HTTP/1.1\r\n Host: a\r\n\r\n"),
        bad(400, "whitespace-only line among the fields", get("   \r\n")),
        bad(400, "bare CR inside a value", get("X-A: a\rb\r\n")),
        bad(400, "bare CR before CRLF", get("X-A: a\r\r\n")),
        bad(400, "NUL in a value", get("X-A: a\u{0}b\r\n")),
        bad(400, "NUL in a name", get("X-\u{0}A: b\r\n")),
        bad(400, "SOH in a value", get("X-A: a\u{1}b\r\n")),
        bad(400, "vertical tab in a value", get("X-A: a\u{0B}b\r\n")),
        bad(400, "form feed in a value", get("X-A: a\u{0C}b\r\n")),
        bad(400, "ESC in a value", get("X-A: \u{1B}[31m\r\n")),
        bad(400, "DEL in a value", get("X-A: a\u{7F}\r\n")),
        // HAProxy CVE-2023-25725: an empty field name.
        bad(400, "empty field name", get(": b\r\n")),
        bad(400, "line without a colon", get("NoColon\r\n")),
        bad(400, "name with a parenthesis", get("X(A): b\r\n")),
        bad(400, "name with a quote", get("X\"A: b\r\n")),
        bad(400, "name with a slash", get("X/A: b\r\n")),
        bad(400, "name with a non-ASCII byte", bytes("GET / HTTP/1.1\r\nHost: a\r\nX") + [0xC3, 0xA9] + bytes(": b\r\n\r\n")),
        bad(400, "name with a DEL", get("X\u{7F}: b\r\n")),
        bad(400, "name with a space inside", get("X A: b\r\n")),
        // Netty CVE-2021-43797: control characters around a field name.
        bad(400, "control character before a name", get("\u{1}Content-Length: 5\r\n")),
        bad(400, "control character after a name", get("Content-Length\u{1}: 5\r\n")),
    ]

    // MARK: line endings and empty lines (RFC 9112 §2.2)
    static let lineEndings: [HTTPCase] = [
        // Bare LF is refused (docs/http.md): a front end that does not end
        // lines at a bare LF would forward the field behind it unseen.
        bad(400, "bare LF line endings", "GET / HTTP/1.1\nHost: a\nX-A: b\n\n"),
        bad(400, "mixed CRLF and LF", "GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n"),
        bad(400, "CRLF lines and an LF blank line", "GET / HTTP/1.1\r\nHost: a\r\n\n"),
        bad(400, "bare LF ending the request line", "GET / HTTP/1.1\nHost: a\r\n\r\n"),
        // The held-out corpus's smuggling probe: a field hidden behind a bare LF frames the body.
        bad(400, "a Content-Length behind a bare LF", "POST / HTTP/1.1\r\nHost: a\r\nDummy: x\nContent-Length: 23\r\n\r\nGET /admin HTTP/1.1\r\n\r\n"),
        ok("one leading CRLF", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", fields: 1),
        ok("eight leading CRLFs", String(repeating: "\r\n", count: 8) + get(), fields: 1),
        bad(400, "a leading bare LF", "\n" + get()),
        bad(400, "leading mixed empty lines", "\r\n\n\r\n" + get()),
        bad(400, "nine leading CRLFs", String(repeating: "\r\n", count: 9) + get()),
        bad(400, "nine leading LFs", String(repeating: "\n", count: 9) + get()),
        bad(400, "a hundred leading CRLFs", String(repeating: "\r\n", count: 100) + get()),
        bad(400, "leading line of spaces", "  \r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        bad(400, "CR CR LF ending the request line", "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n"),
        incomplete("only empty lines", "\r\n\r\n"),
        incomplete("request line only", "GET / HTTP/1.1\r\n"),
        incomplete("head without the blank line", "GET / HTTP/1.1\r\nHost: a\r\n"),
        incomplete("head ending in CR", "GET / HTTP/1.1\r\nHost: a\r\n\r"),
        incomplete("CR-only line endings never end a head", "GET / HTTP/1.1\rHost: a\r\r"),
        ok("pipelined second request stays in the buffer", get() + get(), fields: 1, body: "",
           rest: get().utf8.count),
    ]

    // MARK: Connection (RFC 9112 §9.3)
    static let connection: [HTTPCase] = [
        ok("HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", version: "1.0", keepAlive: true, fields: 1),
        ok("HTTP/1.0 Keep-Alive, any case", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", version: "1.0", keepAlive: true, fields: 1),
        ok("HTTP/1.0 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", version: "1.0", keepAlive: false, fields: 1),
        ok("HTTP/1.0 close", "GET / HTTP/1.0\r\nConnection: close\r\n\r\n", version: "1.0", keepAlive: false, fields: 1),
        ok("HTTP/1.0 other token", "GET / HTTP/1.0\r\nConnection: Upgrade\r\n\r\n", version: "1.0", keepAlive: false, fields: 1),
        ok("HTTP/1.1 default keep-alive", get("Accept: */*\r\n"), keepAlive: true, fields: 2),
        ok("HTTP/1.1 close", get("Connection: close\r\n"), keepAlive: false, fields: 2),
        ok("HTTP/1.1 Close, any case", get("Connection: CLOSE\r\n"), keepAlive: false, fields: 2),
        ok("HTTP/1.1 close without a space", get("Connection:close\r\n"), keepAlive: false, fields: 2),
        ok("HTTP/1.1 keep-alive", get("Connection: keep-alive\r\n"), keepAlive: true, fields: 2),
        ok("HTTP/1.1 close in a list", get("Connection: Upgrade, close\r\n"), keepAlive: false, fields: 2),
        ok("HTTP/1.1 close in a list, no space", get("Connection: foo,close,bar\r\n"), keepAlive: false, fields: 2),
        ok("HTTP/1.1 close in a second Connection field", get("Connection: keep-alive\r\nConnection: close\r\n"),
           keepAlive: false, fields: 3),
        ok("HTTP/1.1 'closed' is not close", get("Connection: closed\r\n"), keepAlive: true, fields: 2),
        ok("HTTP/1.1 'close' inside another token is not close", get("Connection: x-close\r\n"), keepAlive: true, fields: 2),
    ]

    // MARK: Content-Length (RFC 9112 §6.3, RFC 9110 §8.6)
    static func post(_ cl: String, _ body: String = "") -> String {
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(cl)\r\n\r\n\(body)"
    }

    static let contentLength: [HTTPCase] = [
        ok("Content-Length with a body", post("5", "hello"), method: "POST", cl: 5, fields: 2, body: "hello", rest: 0),
        ok("Content-Length with a pipelined request after the body", post("5", "hello" + get()),
           method: "POST", cl: 5, fields: 2, body: "hello", rest: get().utf8.count),
        ok("Content-Length in HTTP/1.0", "POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", method: "POST",
           version: "1.0", cl: 3, fields: 1, body: "abc", rest: 0),
        ok("Content-Length on a GET", get("Content-Length: 2\r\n") + "xy", cl: 2, fields: 2, body: "xy", rest: 0),
        ok("Content-Length with OWS", post(" \t5 \t", "hello"), method: "POST", cl: 5, fields: 2, body: "hello"),
        ok("Content-Length with leading zeros", post("0005", "hello"), method: "POST", cl: 5, fields: 2, body: "hello"),
        ok("Content-Length list of equal values", post("5, 5", "hello"), method: "POST", cl: 5, fields: 2, body: "hello"),
        ok("Content-Length list without spaces", post("5,5,5"), method: "POST", cl: 5, fields: 2),
        ok("two equal Content-Length fields", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
           method: "POST", cl: 5, fields: 3, body: "hello"),
        ok("Content-Length field and list agree", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5, 5\r\n\r\n",
           method: "POST", cl: 5, fields: 3),
        ok("large Content-Length without max_body_size", post("1000000000000000000"), method: "POST",
           cl: 1_000_000_000_000_000_000, fields: 2),
        bad(400, "Content-Length list of different values", post("5, 6", "hello")),
        bad(400, "Content-Length with a trailing comma", post("5,")),
        bad(400, "Content-Length with a leading comma", post(",5")),
        bad(400, "Content-Length with an empty list element", post("5,,5")),
        // Go CVE-2015-5740, Jetty CVE-2017-7658: two different lengths.
        bad(400, "two different Content-Length fields", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        // hyper CVE-2021-32715, waitress CVE-2022-24761: a sign before the digits.
        bad(400, "Content-Length +5", post("+5", "hello")),
        bad(400, "Content-Length -5", post("-5", "hello")),
        bad(400, "Content-Length 0x5", post("0x5", "hello")),
        bad(400, "Content-Length in hex letters", post("a", "helloworld")),
        bad(400, "Content-Length 5a", post("5a", "hello")),
        bad(400, "Content-Length 5.0", post("5.0", "hello")),
        bad(400, "Content-Length 5;", post("5;", "hello")),
        bad(400, "Content-Length 5_0", post("5_0", "hello")),
        bad(400, "Content-Length 1e3", post("1e3", "hello")),
        // Puma CVE-2023-40175: an empty Content-Length.
        bad(400, "empty Content-Length", post("", "hello")),
        // Node CVE-2018-7159: spaces inside the digits.
        bad(400, "space inside Content-Length", post("1 2", "hello")),
        bad(400, "Content-Length overflowing Int", post("99999999999999999999999", "hello")),
        bad(400, "Content-Length of Int.max + 1", post("9223372036854775808", "hello")),
        bad(400, "Content-Length with a vertical tab", post("\u{0B}5", "hello")),
        bad(400, "Content-Length with non-ASCII digits", Array(bytes(post("")).dropLast(4)) + [0xD9, 0xA5] + bytes("\r\n\r\nhello")),
        bad(400, "space before the colon of Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello"),
        // Go CVE-2015-5739: "Content Length" must not be read as Content-Length.
        bad(400, "Content Length with a space in the name", "POST / HTTP/1.1\r\nHost: a\r\nContent Length: 5\r\n\r\nhello"),
        ok("Content_Length is just another field", "POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\n",
           method: "POST", fields: 2, body: "", rest: 0),
    ]

    // MARK: Transfer-Encoding (RFC 9112 §6.1, §6.3)
    static let transferEncoding: [HTTPCase] = [
        ok("chunked", chunkedPost("5\r\nhello\r\n0\r\n\r\n"), method: "POST", path: "/upload", chunked: true,
           fields: 2, body: "hello", rest: 0),
        ok("Chunked, any case", chunkedPost("0\r\n\r\n").replacingFirst("chunked", "ChUnKeD"), method: "POST",
           path: "/upload", chunked: true, fields: 2, body: ""),
        ok("transfer-encoding name in lowercase", chunkedPost("0\r\n\r\n").replacingFirst("Transfer-Encoding", "transfer-encoding"),
           method: "POST", path: "/upload", chunked: true, fields: 2, body: ""),
        ok("chunked with OWS", chunkedPost("0\r\n\r\n").replacingFirst(": chunked", ": \t chunked \t"),
           method: "POST", path: "/upload", chunked: true, fields: 2, body: ""),
        ok("chunked with HTAB as OWS", chunkedPost("0\r\n\r\n").replacingFirst(": chunked", ":\tchunked"),
           method: "POST", path: "/upload", chunked: true, fields: 2, body: ""),
        ok("empty list elements around chunked", chunkedPost("0\r\n\r\n").replacingFirst(": chunked", ": , chunked ,"),
           method: "POST", path: "/upload", chunked: true, fields: 2, body: ""),
        ok("chunked with OWS before a comma", chunkedPost("0\r\n\r\n").replacingFirst(": chunked", ": chunked , "),
           method: "POST", path: "/upload", chunked: true, fields: 2, body: ""),
        ok("chunked and a keep-alive HTTP/1.1", chunkedPost("0\r\n\r\n", extraHeaders: "Connection: keep-alive\r\n"),
           method: "POST", path: "/upload", keepAlive: true, chunked: true, fields: 3, body: ""),
        ok("chunked and close", chunkedPost("0\r\n\r\n", extraHeaders: "Connection: close\r\n"),
           method: "POST", path: "/upload", keepAlive: false, chunked: true, fields: 3, body: ""),
        bad(501, "gzip, chunked", chunkedPost("0\r\n\r\n").replacingFirst(": chunked", ": gzip, chunked")),
        bad(501, "deflate", chunkedPost("0\r\n\r\n").replacingFirst(": chunked", ": deflate")),
        bad(501, "identity (removed in RFC 9112)", chunkedPost("0\r\n\r\n").replacingFirst(": chunked", ": identity")),
        bad(501, "unknown coding", chunkedPost("0\r\n\r\n").replacingFirst(": chunked", ": foo")),
        bad(501, "chunked with a parameter", chunkedPost("0\r\n\r\n").replacingFirst(": chunked", ": chunked;q=1")),
        bad(501, "gzip then chunked on two lines", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        bad(400, "chunked, gzip", chunkedPost("0\r\n\r\n").replacingFirst(": chunked", ": chunked, gzip")),
        bad(400, "chunked, chunked", chunkedPost("0\r\n\r\n").replacingFirst(": chunked", ": chunked, chunked")),
        bad(400, "chunked twice on two lines", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        bad(400, "chunked then gzip on two lines", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n"),
        bad(400, "empty Transfer-Encoding", chunkedPost("0\r\n\r\n").replacingFirst(": chunked", ":")),
        bad(400, "Transfer-Encoding of only commas", chunkedPost("0\r\n\r\n").replacingFirst(": chunked", ": , ,")),
        bad(400, "garbage after chunked", chunkedPost("0\r\n\r\n").replacingFirst(": chunked", ": chunked x")),
        bad(400, "quoted chunked", chunkedPost("0\r\n\r\n").replacingFirst(": chunked", ": \"chunked\"")),
        // Tomcat CVE-2021-33037: Transfer-Encoding in an HTTP/1.0 request.
        bad(400, "Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        // gunicorn CVE-2024-1135, RFC 9112 §6.3: CL.TE.
        bad(400, "Content-Length then Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        // gunicorn CVE-2024-6827: TE.CL.
        bad(400, "Transfer-Encoding then Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
        bad(400, "Transfer-Encoding with Content-Length 0", chunkedPost("0\r\n\r\n", extraHeaders: "Content-Length: 0\r\n")),
        ok("Transfer_Encoding is just another field", "POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n",
           method: "POST", fields: 2, body: "", rest: 0),
    ]

    // MARK: chunked bodies (RFC 9112 §7.1)
    static let chunkedBodies: [HTTPCase] = [
        ok("several chunks", chunkedPost("3\r\nabc\r\n2\r\nde\r\n1\r\nf\r\n0\r\n\r\n"), method: "POST", path: "/upload",
           chunked: true, fields: 2, body: "abcdef", rest: 0),
        ok("hex sizes, both cases", chunkedPost("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n"), method: "POST",
           path: "/upload", chunked: true, fields: 2, body: "0123456789abcdefghij", rest: 0),
        ok("leading zeros in a size", chunkedPost("0005\r\nhello\r\n000\r\n\r\n"), method: "POST", path: "/upload",
           chunked: true, fields: 2, body: "hello", rest: 0),
        ok("chunk extension", chunkedPost("5;name=value\r\nhello\r\n0\r\n\r\n"), method: "POST", path: "/upload",
           chunked: true, fields: 2, body: "hello", rest: 0),
        ok("quoted chunk extension", chunkedPost("5;n=\"v; x\"\r\nhello\r\n0;last\r\n\r\n"), method: "POST",
           path: "/upload", chunked: true, fields: 2, body: "hello", rest: 0),
        // RFC 9112 §7.1.1 allows BWS before ";" (and around "="); RFC 9110 §5.6.3: a recipient MUST parse and remove it.
        ok("BWS before the semicolon of a chunk extension", chunkedPost("6 ; comment\r\nhello!\r\n0\r\n\r\n"), method: "POST",
           path: "/upload", chunked: true, fields: 2, body: "hello!", rest: 0),
        ok("BWS of tabs and spaces around ; and =", chunkedPost("5\t ;\t a \t= \t\"b\"\t; c\r\nhello\r\n0 ;x=y\r\n\r\n"), method: "POST",
           path: "/upload", chunked: true, fields: 2, body: "hello", rest: 0),
        ok("quoted-pair in a chunk extension value", chunkedPost("5;a=\"x\\\"y\"\r\nhello\r\n0\r\n\r\n"), method: "POST",
           path: "/upload", chunked: true, fields: 2, body: "hello", rest: 0),
        ok("trailer fields", chunkedPost("5\r\nhello\r\n0\r\nX-Checksum: 1\r\nX-B: 2\r\n\r\n"), method: "POST",
           path: "/upload", chunked: true, fields: 2, body: "hello", rest: 0),
        ok("body data holding CRLF and a fake last chunk", chunkedPost("7\r\n0\r\n\r\nab\r\n0\r\n\r\n"), method: "POST",
           path: "/upload", chunked: true, fields: 2, body: "0\r\n\r\nab", rest: 0),
        ok("pipelined request after a chunked body", chunkedPost("1\r\nx\r\n0\r\n\r\n" + get()), method: "POST",
           path: "/upload", chunked: true, fields: 2, body: "x", rest: get().utf8.count),
        ok("incomplete chunked body", chunkedPost("5\r\nhel"), method: "POST", path: "/upload", chunked: true, fields: 2),
        // waitress CVE-2022-24761: int(x, 16) took "0x", "+", "_" and spaces.
        bad(400, "chunk size 0x5", chunkedPost("0x5\r\nhello\r\n0\r\n\r\n")),
        bad(400, "chunk size +5", chunkedPost("+5\r\nhello\r\n0\r\n\r\n")),
        bad(400, "chunk size -5", chunkedPost("-5\r\nhello\r\n0\r\n\r\n")),
        bad(400, "chunk size with a leading space", chunkedPost(" 5\r\nhello\r\n0\r\n\r\n")),
        bad(400, "chunk size with a trailing space", chunkedPost("5 \r\nhello\r\n0\r\n\r\n")),
        bad(400, "chunk size 5_0", chunkedPost("5_0\r\nhello\r\n0\r\n\r\n")),
        bad(400, "chunk size with a non-hex letter", chunkedPost("5g\r\nhello\r\n0\r\n\r\n")),
        bad(400, "empty chunk size", chunkedPost("\r\nhello\r\n0\r\n\r\n")),
        bad(400, "extension without a size", chunkedPost(";x\r\n0\r\n\r\n")),
        // Malformed extensions (RFC 9112 §7.1.1: chunk-ext-name is a token, a value a token or a quoted-string).
        bad(400, "a semicolon and no extension name", chunkedPost("2;\r\nhi\r\n0\r\n\r\n")),
        bad(400, "an unterminated quoted extension value", chunkedPost("2;a=\"b\r\nhi\r\n0\r\n\r\n")),
        bad(400, "a space inside an extension (and a 57 MB chunk behind it)", chunkedPost("3735AB1;foo bar*\r\nhi\r\n0\r\n\r\n")),
        bad(400, "an extension name that is not a token", chunkedPost("2;a@b\r\nhi\r\n0\r\n\r\n")),
        bad(400, "an = without a value", chunkedPost("2;a=\r\nhi\r\n0\r\n\r\n")),
        bad(400, "two = in an extension", chunkedPost("2;a==b\r\nhi\r\n0\r\n\r\n")),
        bad(400, "text after a quoted value", chunkedPost("2;a=\"b\"c\r\nhi\r\n0\r\n\r\n")),
        bad(400, "whitespace before the CRLF of an extension", chunkedPost("2;a \r\nhi\r\n0\r\n\r\n")),
        bad(400, "BWS then no semicolon", chunkedPost("2 a\r\nhi\r\n0\r\n\r\n")),
        // hyper CVE-2021-32714, Jetty CVE-2017-7657, nginx CVE-2013-2028: chunk size overflow.
        bad(400, "chunk size overflow", chunkedPost("ffffffffffffffffff\r\nhello\r\n0\r\n\r\n")),
        bad(400, "chunk size of 2^64 + 5 wrapping to 5", chunkedPost("10000000000000005\r\nhello\r\n0\r\n\r\n")),
        bad(400, "sixteen hex digits", chunkedPost("0000000000000005\r\nhello\r\n0\r\n\r\n")),
        // h11 CVE-2025-43859: the two bytes after the data taken as CRLF unchecked.
        bad(400, "missing CRLF after chunk data", chunkedPost("5\r\nhelloXX0\r\n\r\n")),
        bad(400, "chunk data longer than its size", chunkedPost("3\r\nhello\r\n0\r\n\r\n")),
        bad(400, "LF only after chunk data", chunkedPost("5\r\nhello\n0\r\n\r\n")),
        bad(400, "CR only after chunk data", chunkedPost("5\r\nhello\r0\r\n\r\n")),
        // Go CVE-2025-22871: a bare LF ending a chunk-size line.
        bad(400, "LF only after the chunk size", chunkedPost("5\nhello\r\n0\r\n\r\n")),
        bad(400, "LF only after the last chunk size", chunkedPost("0\n\r\n")),
        bad(400, "CR not followed by LF after the chunk size", chunkedPost("5\rhello\r\n0\r\n\r\n")),
        // aiohttp CVE-2024-52304, Puma CVE-2021-41136: LF where CRLF is required, in extensions.
        bad(400, "LF inside a chunk extension", chunkedPost("5;a\nb\r\nhello\r\n0\r\n\r\n")),
        bad(400, "LF ending a chunk extension", chunkedPost("5;a\nhello\r\n0\r\n\r\n")),
        bad(400, "bare CR inside a chunk extension", chunkedPost("5;a\rb\r\nhello\r\n0\r\n\r\n")),
        bad(400, "NUL in a chunk extension", chunkedPost("5;a\u{0}\r\nhello\r\n0\r\n\r\n")),
        bad(400, "control character in a chunk extension", chunkedPost("5;a\u{1}\r\nhello\r\n0\r\n\r\n")),
        bad(400, "DEL in a chunk extension", chunkedPost("5;a\u{7F}\r\nhello\r\n0\r\n\r\n")),
        // Puma CVE-2024-21647, Go CVE-2023-39326, Node CVE-2024-22019: unbounded chunk extensions.
        bad(400, "huge chunk extension", chunkedPost("5;" + longExtension + "\r\nhello\r\n0\r\n\r\n")),
        bad(400, "LF only ending the trailer section", chunkedPost("5\r\nhello\r\n0\r\n\n")),
        bad(400, "LF only ending a trailer field", chunkedPost("0\r\nX-T: 1\n\r\n")),
        bad(400, "NUL in a trailer field", chunkedPost("0\r\nX-T: \u{0}\r\n\r\n")),
        bad(400, "bare CR in a trailer field", chunkedPost("0\r\nX-T: a\rb\r\n\r\n")),
        // A front end that ends the body at "0\r\n" would see a second request here.
        bad(400, "a request line as a trailer", chunkedPost("0\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n")),
        bad(400, "a trailer that is not a field", chunkedPost("5\r\nhello\r\n0\r\nnot a field\r\n\r\n")),
        bad(400, "obs-fold in the trailers", chunkedPost("0\r\nX-T: 1\r\n folded\r\n\r\n")),
        bad(400, "a trailer with an empty name", chunkedPost("0\r\n: v\r\n\r\n")),
        bad(400, "a trailer with a space before the colon", chunkedPost("0\r\nX-T : 1\r\n\r\n")),
        bad(400, "a control character in a trailer value", chunkedPost("0\r\nX-T: \u{1}\r\n\r\n")),
    ]

    // MARK: Expect (RFC 9110 §10.1.1)
    static let expect: [HTTPCase] = [
        ok("Expect: 100-continue", post("5").replacingFirst("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n"),
           method: "POST", cl: 5, expect: true, fields: 3),
        ok("Expect: 100-Continue, any case", get("Expect: 100-Continue\r\n"), expect: true, fields: 2),
        ok("Expect with OWS", get("Expect: \t100-continue \r\n"), expect: true, fields: 2),
        ok("Expect with a chunked body", chunkedPost("0\r\n\r\n", extraHeaders: "Expect: 100-continue\r\n"), method: "POST",
           path: "/upload", chunked: true, expect: true, fields: 3, body: ""),
        // RFC 9110 §10.1.1: a 100-continue expectation in HTTP/1.0 MUST be ignored.
        ok("Expect in HTTP/1.0 is ignored", "POST / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\nx",
           method: "POST", version: "1.0", cl: 1, expect: false, fields: 2, body: "x"),
        bad(417, "Expect: 100-continue and more", get("Expect: 100-continue, foo\r\n")),
        bad(417, "Expect: foo", get("Expect: foo\r\n")),
        bad(417, "Expect: 200-ok", get("Expect: 200-ok\r\n")),
        bad(417, "empty Expect", get("Expect:\r\n")),
        bad(417, "Expect: 100-continuex", get("Expect: 100-continuex\r\n")),
        bad(400, "space before the colon of Expect", get("Expect : 100-continue\r\n")),
    ]

    // MARK: limits (limit_request_line, limit_request_fields, limit_request_field_size, max_body_size)
    static let line64 = "GET /" + String(repeating: "a", count: 50) + " HTTP/1.1"    // 64 bytes
    static let field64 = "X-Long: " + String(repeating: "b", count: 56)               // 64 bytes

    static let limits: [HTTPCase] = [
        ok("request line at the limit", line64 + "\r\nHost: a\r\n\r\n", limits: .small,
           path: "/" + String(repeating: "a", count: 50), fields: 1),
        bad(400, "request line at the limit, LF only (bare LF is refused)", line64 + "\nHost: a\n\n", limits: .small),
        ok("request line at the limit after empty lines", "\r\n\r\n" + line64 + "\r\nHost: a\r\n\r\n", limits: .small,
           path: "/" + String(repeating: "a", count: 50), fields: 1),
        bad(414, "request line one byte over", "GET /a" + line64.dropFirst(5) + "\r\nHost: a\r\n\r\n", limits: .small),
        bad(414, "request line over the limit, no LF yet", "GET /" + String(repeating: "a", count: 100), limits: .small),
        bad(414, "long request line at the default limit", "GET /" + String(repeating: "a", count: 8200) + " HTTP/1.1\r\nHost: a\r\n\r\n"),
        ok("fields at the limit", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: .small, fields: 4),
        bad(431, "one field too many", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", limits: .small),
        bad(431, "many fields, no blank line yet", "GET / HTTP/1.1\r\n" + String(repeating: "A: 1\r\n", count: 10), limits: .small),
        ok("field line at the limit", "GET / HTTP/1.1\r\nHost: a\r\n" + field64 + "\r\n\r\n", limits: .small, fields: 2),
        bad(431, "field line one byte over", "GET / HTTP/1.1\r\nHost: a\r\n" + field64 + "b\r\n\r\n", limits: .small),
        bad(431, "field line over the limit, no LF yet", "GET / HTTP/1.1\r\nHost: a\r\n" + field64 + "bbbbbbbb", limits: .small),
        bad(431, "long field at the default limit", get("X-Long: " + String(repeating: "b", count: 8200) + "\r\n")),
        ok("Content-Length at max_body_size", post("16", "0123456789abcdef"), limits: .small, method: "POST", cl: 16,
           fields: 2, body: "0123456789abcdef", rest: 0),
        bad(413, "Content-Length above max_body_size", post("17", "0123456789abcdefg"), limits: .small),
        bad(413, "huge Content-Length above max_body_size", post("1000000000"), limits: .small),
        ok("chunked body at max_body_size", chunkedPost("8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n"), limits: .small,
           method: "POST", path: "/upload", chunked: true, fields: 2, body: "0123456789abcdef", rest: 0),
        bad(413, "chunked body above max_body_size", chunkedPost("8\r\n01234567\r\n9\r\n89abcdefg\r\n0\r\n\r\n"), limits: .small),
        bad(413, "one chunk above max_body_size", chunkedPost("ffff\r\nhello\r\n0\r\n\r\n"), limits: .small),
        ok("trailers at the field limit", chunkedPost("0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"), limits: .small,
           method: "POST", path: "/upload", chunked: true, fields: 2, body: "", rest: 0),
        bad(431, "one trailer too many", chunkedPost("0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n"), limits: .small),
        ok("trailer line at the limit", chunkedPost("0\r\n" + field64 + "\r\n\r\n"), limits: .small,
           method: "POST", path: "/upload", chunked: true, fields: 2, body: "", rest: 0),
        bad(431, "trailer line one byte over", chunkedPost("0\r\n" + field64 + "b\r\n\r\n"), limits: .small),
    ]

    // MARK: request smuggling seen in other servers
    static let smuggling: [HTTPCase] = [
        // gunicorn CVE-2024-1135: "chunked" along with Content-Length, the second request smuggled.
        bad(400, "CL.TE with a smuggled request", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n"),
        // gunicorn CVE-2024-1135: several Transfer-Encoding fields.
        bad(400, "chunked and a second Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n"),
        // gunicorn CVE-2024-6827: TE.CL with an invalid coding, gunicorn fell back to Content-Length.
        bad(501, "TE.CL with an invalid coding", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: xchunked\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n"),
        bad(400, "TE.CL with chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n"),
        // HAProxy CVE-2019-18277 (and Go net/http): "\x0bchunked".
        bad(400, "vertical tab before chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \u{0B}chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
        bad(400, "form feed before chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\u{0C}chunked\r\n\r\n0\r\n\r\n"),
        bad(400, "vertical tab after chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\u{0B}\r\n\r\n0\r\n\r\n"),
        // Netty CVE-2019-16869, Go net/http: whitespace before the colon.
        bad(400, "Transfer-Encoding : chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
        // Netty CVE-2020-7238: leading whitespace on the Transfer-Encoding line.
        bad(400, "leading space on Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
        // Node CVE-2024-27982: a space before the Content-Length name.
        bad(400, "leading space on Content-Length", "POST / HTTP/1.1\r\nHost: a\r\n Content-Length: 5\r\n\r\nhello"),
        // Node/llhttp CVE-2022-32215: multi-line (obs-fold) Transfer-Encoding.
        bad(400, "chunked folded onto gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n gzip\r\n\r\n0\r\n\r\n"),
        // Refused at its first line already (gzip is not implemented), before the fold is seen.
        bad(501, "gzip folded onto chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n0\r\n\r\n"),
        bad(400, "Transfer-Encoding value on a folded line", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"),
        // Node/llhttp CVE-2022-35256, CVE-2023-30589: a field ended by CR alone.
        bad(400, "field ended by a bare CR", "POST / HTTP/1.1\r\nHost: a\r\nX-A: b\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        bad(400, "Content-Length ended by a bare CR", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\rContent-Length: 5\r\n\r\nhello"),
        // Node/llhttp CVE-2022-32213: "chunked" prefix games.
        bad(501, "chunkedx", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n"),
        bad(501, "chunk", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunk\r\n\r\n0\r\n\r\n"),
        // Apache Traffic Server / Tomcat: chunked followed by another coding on the same line.
        bad(400, "chunked followed by identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
        // waitress CVE-2019-16786: gzip, chunked must not be taken as chunked.
        bad(501, "gzip, chunked with Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
        // Go CVE-2025-22871 / waitress CVE-2022-24761: a lenient chunk parser shifts the boundary.
        bad(400, "smuggled request behind a bare-LF chunk size", chunkedPost("2\nxx\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n")),
        // Jetty CVE-2017-7658 / httpd: Content-Length list hiding a second value.
        bad(400, "Content-Length list hiding another value", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0, 44\r\n\r\n"),
        // A chunk extension that looks like framing to a lax proxy.
        // Spaces inside an extension are not its grammar: refused, not skipped.
        bad(400, "chunk extension containing the text of a request", chunkedPost("0;GET /admin HTTP/1.1\r\n\r\n")),
    ]
}

extension String {
    func replacingFirst(_ target: String, _ replacement: String) -> String {
        let s = Array(self.utf8), t = Array(target.utf8)
        guard t.count <= s.count else { return self }
        for i in 0...(s.count - t.count) where Array(s[i..<(i + t.count)]) == t {
            return String(decoding: s[..<i] + Array(replacement.utf8) + s[(i + t.count)...], as: UTF8.self)
        }
        return self
    }
}

// MARK: - running a case

/// Runs the scanner, the parser and the body decoder over `raw` delivered in
/// `pieces` (consecutive ranges covering it), into a buffer starting at `offset`.
func run(_ raw: [UInt8], pieces: [Range<Int>], limits: HTTPLimits, offset: Int = 0) -> Outcome {
    var head = RequestHead(fieldCapacity: limits.fields)
    defer { head.fields.deallocate() }
    return run(raw, pieces: pieces, limits: limits, offset: offset, head: &head)
}

/// As above, parsing into `head` (which may hold a previous request).
func run(_ raw: [UInt8], pieces: [Range<Int>], limits: HTTPLimits, offset: Int = 0,
         head: inout RequestHead) -> Outcome {
    let capacity = offset + raw.count + 1
    let buf = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    defer { buf.deallocate() }
    buf.initialize(repeating: 0x5A, count: capacity)   // 'Z': junk before the request
    var scanner = HeadScanner()
    scanner.reset(at: offset)

    var headEnd = -1
    var pieceIndex = 0
    var avail = offset
    while pieceIndex < pieces.count {
        let piece = pieces[pieceIndex]
        pieceIndex += 1
        copy(raw, piece, to: buf + offset)
        avail = offset + piece.upperBound
        switch scanner.scan(UnsafePointer(buf), end: avail, limits: limits) {
        case .needMore: continue
        case .failed(let e): return .error(e.status)
        case .complete(let end): headEnd = end
        }
        break
    }
    if headEnd < 0 { return .incomplete }
    if let e = HeadParser.parse(UnsafePointer(buf), start: scanner.headStart, end: headEnd, limits: limits, into: &head) {
        return .error(e.status)
    }
    func text(_ at: Int, _ n: Int) -> String {
        String(decoding: UnsafeBufferPointer(start: buf + at, count: n), as: UTF8.self)
    }
    var parsed = Parsed(
        method: text(head.method, head.methodLength), path: text(head.path, head.pathLength),
        query: head.query >= 0 ? text(head.query, head.queryLength) : nil,
        authority: head.authority >= 0 ? text(head.authority, head.authorityLength) : nil,
        version: head.version == .http11 ? "1.1" : "1.0", keepAlive: head.keepAlive,
        contentLength: head.contentLength >= 0 ? head.contentLength : nil, chunked: head.chunked,
        expectContinue: head.expectContinue, fields: head.fieldCount, body: [], bodyComplete: true, rest: 0)
    let total = offset + raw.count
    if head.chunked {
        // The body arrives in the same pieces: what is buffered, then the rest.
        var bodyPieces: [Range<Int>] = []
        if avail > headEnd { bodyPieces.append(headEnd..<avail) }
        while pieceIndex < pieces.count {
            let p = pieces[pieceIndex]
            pieceIndex += 1
            copy(raw, p, to: buf + offset)
            if !p.isEmpty { bodyPieces.append((offset + p.lowerBound)..<(offset + p.upperBound)) }
        }
        switch decodeChunked(UnsafePointer(buf), pieces: bodyPieces, limits: limits) {
        case .failure(let e): return .error(e.status)
        case .success(let (body, end)):
            parsed.body = body
            parsed.bodyComplete = end >= 0
            parsed.rest = end >= 0 ? total - end : 0
        }
    } else {
        copy(raw, 0..<raw.count, to: buf + offset)
        let n = min(max(head.contentLength, 0), total - headEnd)
        parsed.body = Array(UnsafeBufferPointer(start: buf + headEnd, count: n))
        parsed.rest = total - headEnd - n
    }
    return .parsed(parsed)
}

func copy(_ raw: [UInt8], _ range: Range<Int>, to dest: UnsafeMutablePointer<UInt8>) {
    guard !range.isEmpty else { return }
    raw.withUnsafeBufferPointer { src in
        (dest + range.lowerBound).update(from: src.baseAddress! + range.lowerBound, count: range.count)
    }
}

/// Decodes a chunked body from `buf` given as consecutive `pieces`. On success:
/// the data, and the offset just past the body (-1 when it did not end).
func decodeChunked(_ buf: UnsafePointer<UInt8>, pieces: [Range<Int>], limits: HTTPLimits)
    -> Result<([UInt8], Int), HTTPError> {
    var decoder = ChunkedDecoder()
    var body: [UInt8] = []
    for piece in pieces {
        var at = piece.lowerBound
        while at < piece.upperBound {
            let n = piece.upperBound - at
            switch decoder.step(buf + at, n, limits: limits) {
            case .data(let k):
                guard k > 0 && k <= n else { return .failure(contractViolated) }
                body.append(contentsOf: UnsafeBufferPointer(start: buf + at, count: k))
                at += k
            case .framing(let k):
                guard k > 0 && k <= n else { return .failure(contractViolated) }
                at += k
            case .needMore:
                at = piece.upperBound
            case .done(let k):
                guard k >= 0 && k <= n else { return .failure(contractViolated) }
                return .success((body, at + k))
            case .failed(let e):
                return .failure(e)
            }
        }
    }
    return .success((body, -1))
}

/// A step result out of range (data, framing or done beyond the input).
let contractViolated = HTTPError(599, "ChunkedDecoder.step result out of range")

/// Ways to deliver `count` bytes: whole, split in two at every position, byte by byte.
func deliveries(_ count: Int) -> [(String, [Range<Int>])] {
    var result: [(String, [Range<Int>])] = [("whole", [0..<count])]
    if count > 1 {
        for k in 1..<count { result.append(("split at \(k)", [0..<k, k..<count])) }
        result.append(("byte by byte", (0..<count).map { $0..<($0 + 1) }))
        // Three pieces: a few positions, to exercise state kept over two calls.
        let a = count / 3, b = 2 * count / 3
        if a > 0 && b > a { result.append(("thirds", [0..<a, a..<b, b..<count])) }
    }
    return result
}
