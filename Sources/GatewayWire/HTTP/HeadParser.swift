/// Parses a complete request head (found by `HeadScanner`) per RFC 9112 and
/// RFC 9110, strictly: anything ambiguous for framing is refused, because a
/// proxy in front may read it differently (request smuggling).
public enum HeadParser {
    /// Parses `buf[start..<end]` (end is just past the blank line) into `head`.
    public static func parse(_ buf: UnsafePointer<UInt8>, start: Int, end: Int,
                             limits: HTTPLimits, into head: inout RequestHead) -> HTTPError? {
        head.reset()
        head.end = end
        let t = CharClass.table
        var lineEnd = 0
        var next = 0
        nextLine(buf, from: start, end: end, lineEnd: &lineEnd, next: &next)
        if let e = parseRequestLine(buf, start, lineEnd, &head) { return e }
        var sawTransferEncoding = false
        var connectionClose = false, connectionKeepAlive = false
        while true {
            let lineStart = next
            nextLine(buf, from: lineStart, end: end, lineEnd: &lineEnd, next: &next)
            if lineEnd == lineStart { break }
            if let e = checkLine(buf, lineStart, lineEnd) { return e }
            let first = buf[lineStart]
            if first == 0x20 || first == 0x09 { return HTTPError(400, "obsolete line folding in a header field") }
            // name
            var i = lineStart
            while i < lineEnd && CharClass.isToken(t, buf[i]) { i += 1 }
            if i == lineStart || i == lineEnd || buf[i] != 0x3A {
                if i < lineEnd && (buf[i] == 0x20 || buf[i] == 0x09) {
                    return HTTPError(400, "whitespace between a header field name and the colon")
                }
                return HTTPError(400, "invalid header field name")
            }
            let name = lineStart, nameLength = i - lineStart
            // value, trimmed
            var v = i + 1
            while v < lineEnd && (buf[v] == 0x20 || buf[v] == 0x09) { v += 1 }
            var ve = lineEnd
            while ve > v && (buf[ve - 1] == 0x20 || buf[ve - 1] == 0x09) { ve -= 1 }
            var k = v
            while k < ve {
                if !CharClass.isFieldValue(t, buf[k]) { return HTTPError(400, "control character in a header field value") }
                k += 1
            }
            if head.fieldCount >= head.fieldCapacity { return HTTPError(431, "too many header fields") }
            head.fields[head.fieldCount] = .init(name: name, nameLength: nameLength, value: v, valueLength: ve - v)
            let index = head.fieldCount
            head.fieldCount += 1
            // Fields that change framing or connection handling.
            switch nameLength {
            case 4 where equalsLower(buf, name, 4, "host"):
                if head.host >= 0 { return HTTPError(400, "more than one Host header") }
                if !validHost(buf, v, ve) { return HTTPError(400, "invalid Host header") }
                head.host = index
            case 14 where equalsLower(buf, name, 14, "content-length"):
                guard let n = parseContentLength(buf, v, ve) else {
                    return HTTPError(400, "invalid Content-Length")
                }
                if head.contentLength >= 0 && head.contentLength != n {
                    return HTTPError(400, "conflicting Content-Length headers")
                }
                head.contentLength = n
            case 17 where equalsLower(buf, name, 17, "transfer-encoding"):
                if let e = parseTransferEncoding(buf, v, ve, &head) { return e }
                sawTransferEncoding = true
            case 10 where equalsLower(buf, name, 10, "connection"):
                scanConnection(buf, v, ve, close: &connectionClose, keepAlive: &connectionKeepAlive)
            case 6 where equalsLower(buf, name, 6, "expect"):
                if ve - v == 12 && equalsLower(buf, v, 12, "100-continue") {
                    head.expectContinue = true
                } else {
                    return HTTPError(417, "unsupported Expect")
                }
            default:
                break
            }
        }
        if sawTransferEncoding {
            if head.version == .http10 { return HTTPError(400, "Transfer-Encoding in an HTTP/1.0 request") }
            if head.contentLength >= 0 { return HTTPError(400, "both Transfer-Encoding and Content-Length") }
            if !head.chunked { return HTTPError(400, "Transfer-Encoding whose final coding is not chunked") }
        }
        if head.version == .http11 && head.host < 0 { return missingHost }
        // RFC 9110 §10.1.1: a 100-continue expectation in HTTP/1.0 MUST be ignored.
        if head.version == .http10 { head.expectContinue = false }
        if head.version == .http11 {
            head.keepAlive = !connectionClose
        } else {
            head.keepAlive = connectionKeepAlive && !connectionClose
        }
        if limits.maxBody > 0 && head.contentLength > limits.maxBody {
            return HTTPError(413, "Content-Length above max_body_size")
        }
        return nil
    }

    /// RFC 9112 §3.2: an HTTP/1.1 request must have a Host field. Named, as
    /// the last check on the fields: the admin listener (which serves only
    /// itself) lets it pass.
    public static let missingHost = HTTPError(400, "HTTP/1.1 request without Host")

    /// The line starting at `from`: its end without CR/LF, and the next line's start.
    @inline(__always)
    static func nextLine(_ buf: UnsafePointer<UInt8>, from: Int, end: Int, lineEnd: inout Int, next: inout Int) {
        guard let lf = memchrLF(buf + from, end - from) else {
            lineEnd = end; next = end
            return
        }
        let at = lf - buf
        next = at + 1
        lineEnd = (at > from && buf[at - 1] == 0x0D) ? at - 1 : at
    }

    /// No bare CR and no NUL in a line.
    @inline(__always)
    static func checkLine(_ buf: UnsafePointer<UInt8>, _ s: Int, _ e: Int) -> HTTPError? {
        var i = s
        while i < e {
            let b = buf[i]
            if b == 0x0D { return HTTPError(400, "bare CR in the request head") }
            if b == 0 { return HTTPError(400, "NUL in the request head") }
            i += 1
        }
        return nil
    }

    static func parseRequestLine(_ buf: UnsafePointer<UInt8>, _ s: Int, _ e: Int, _ head: inout RequestHead) -> HTTPError? {
        if let err = checkLine(buf, s, e) { return err }
        let table = CharClass.table
        var i = s
        while i < e && CharClass.isToken(table, buf[i]) { i += 1 }
        if i == s || i >= e || buf[i] != 0x20 { return HTTPError(400, "invalid method") }
        head.method = s; head.methodLength = i - s
        head.isHead = head.methodLength == 4 && buf[s] == 0x48 && buf[s + 1] == 0x45 && buf[s + 2] == 0x41 && buf[s + 3] == 0x44
        i += 1
        let t = i
        while i < e && CharClass.isTarget(table, buf[i]) { i += 1 }
        if i == t || i >= e || buf[i] != 0x20 { return HTTPError(400, "invalid request target") }
        head.target = t; head.targetLength = i - t
        i += 1
        if let err = parseVersion(buf, i, e, &head) { return err }
        return parseTarget(buf, &head)
    }

    static func parseVersion(_ buf: UnsafePointer<UInt8>, _ s: Int, _ e: Int, _ head: inout RequestHead) -> HTTPError? {
        guard e - s == 8, buf[s] == 0x48, buf[s + 1] == 0x54, buf[s + 2] == 0x54, buf[s + 3] == 0x50,
              buf[s + 4] == 0x2F, buf[s + 6] == 0x2E else {
            return HTTPError(400, "invalid HTTP version")
        }
        let major = buf[s + 5], minor = buf[s + 7]
        guard major >= 0x30 && major <= 0x39 && minor >= 0x30 && minor <= 0x39 else {
            return HTTPError(400, "invalid HTTP version")
        }
        if major == 0x31 && minor == 0x31 { head.version = .http11; return nil }
        if major == 0x31 && minor == 0x30 { head.version = .http10; return nil }
        return HTTPError(505, "HTTP version not supported")
    }

    static func parseTarget(_ buf: UnsafePointer<UInt8>, _ head: inout RequestHead) -> HTTPError? {
        let s = head.target, e = head.target + head.targetLength
        let isConnect = head.methodLength == 7 && equalsLower(buf, head.method, 7, "connect")
        if isConnect { return HTTPError(405, "CONNECT is not supported: gatewayd is not a proxy") }
        var pathStart = s
        if buf[s] == 0x2F {
            // origin-form
        } else if head.targetLength == 1 && buf[s] == 0x2A {
            // Methods are case-sensitive (RFC 9110 §9.1): only OPTIONS, not "options".
            let isOptions = head.methodLength == 7 && equals(buf, head.method, 7, "OPTIONS")
            if !isOptions { return HTTPError(400, "asterisk-form target outside OPTIONS") }
            head.path = s; head.pathLength = 1
            return nil
        } else if let afterScheme = schemeEnd(buf, s, e) {
            // absolute-form: http(s)://authority/path?query
            var a = afterScheme
            while a < e && buf[a] != 0x2F && buf[a] != 0x3F && buf[a] != 0x23 { a += 1 }
            // RFC 9110 §4.2.1: an http(s) URI with an empty host MUST be rejected.
            if a == afterScheme || buf[afterScheme] == 0x3A { return HTTPError(400, "absolute-form target without a host") }
            if !validHost(buf, afterScheme, a) { return HTTPError(400, "invalid authority in the request target") }
            head.authority = afterScheme; head.authorityLength = a - afterScheme
            pathStart = a
        } else {
            return HTTPError(400, "invalid request target")
        }
        var q = pathStart
        while q < e && buf[q] != 0x3F && buf[q] != 0x23 {
            if buf[q] == 0x25 && isEncodedNUL(buf, q, e) { return nulInPath }
            q += 1
        }
        head.path = pathStart; head.pathLength = q - pathStart
        if q < e && buf[q] == 0x3F {
            var f = q + 1
            while f < e && buf[f] != 0x23 { f += 1 }
            head.query = q + 1; head.queryLength = f - q - 1
        }
        return nil
    }

    /// PATH_INFO is a C string: a path that decodes to NUL is refused, on
    /// every listener (the proxied ones check REQUEST_URI with `hasEncodedNUL`).
    package static let nulInPath = HTTPError(400, "%00 in the request path")

    /// "%00" at `at` (before `e`).
    @inline(__always)
    static func isEncodedNUL(_ buf: UnsafePointer<UInt8>, _ at: Int, _ e: Int) -> Bool {
        at + 2 < e && buf[at] == 0x25 && buf[at + 1] == 0x30 && buf[at + 2] == 0x30
    }

    /// Whether `buf[s..<e]` holds "%00".
    package static func hasEncodedNUL(_ buf: UnsafePointer<UInt8>, _ s: Int, _ e: Int) -> Bool {
        var i = s
        while i < e {
            if buf[i] == 0x25 && isEncodedNUL(buf, i, e) { return true }
            i += 1
        }
        return false
    }

    /// For "http://" or "https://" (any case) at s, the offset after "//".
    static func schemeEnd(_ buf: UnsafePointer<UInt8>, _ s: Int, _ e: Int) -> Int? {
        if e - s >= 7 && equalsLower(buf, s, 7, "http://") { return s + 7 }
        if e - s >= 8 && equalsLower(buf, s, 8, "https://") { return s + 8 }
        return nil
    }

    /// uri-host [":" port] (RFC 3986 §3.2.2): an IP-literal in brackets, or
    /// reg-name / IPv4 characters (no userinfo); then only digits after ':'.
    static func validHost(_ buf: UnsafePointer<UInt8>, _ s: Int, _ e: Int) -> Bool {
        var i = s
        if i < e && buf[i] == 0x5B {
            i += 1
            while i < e && buf[i] != 0x5D {
                if !isHostChar(buf[i]) && buf[i] != 0x3A { return false }
                i += 1
            }
            if i == e { return false }
            i += 1
        } else {
            while i < e && buf[i] != 0x3A {
                if !isHostChar(buf[i]) { return false }
                i += 1
            }
        }
        if i == e { return true }
        if buf[i] != 0x3A { return false }
        i += 1
        while i < e {
            if buf[i] < 0x30 || buf[i] > 0x39 { return false }
            i += 1
        }
        return true
    }

    /// unreserved / sub-delims / "%" (of pct-encoded).
    @inline(__always)
    static func isHostChar(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A,
             0x2D, 0x2E, 0x5F, 0x7E,                                          // - . _ ~
             0x21, 0x24, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x3B, 0x3D, // ! $ & ' ( ) * + , ; =
             0x25:                                                            // %
            return true
        default:
            return false
        }
    }

    /// 1*DIGIT, or a list of identical values ("5, 5") as RFC 9110 §8.6 allows.
    static func parseContentLength(_ buf: UnsafePointer<UInt8>, _ s: Int, _ e: Int) -> Int? {
        var result = -1
        var i = s
        while i < e {
            var n = 0
            let digitsStart = i
            while i < e, buf[i] >= 0x30, buf[i] <= 0x39 {
                if n > (Int.max - 9) / 10 { return nil }
                n = n * 10 + Int(buf[i] - 0x30)
                i += 1
            }
            if i == digitsStart { return nil }
            if result >= 0 && result != n { return nil }
            result = n
            while i < e && (buf[i] == 0x20 || buf[i] == 0x09) { i += 1 }
            if i < e {
                if buf[i] != 0x2C { return nil }
                i += 1
                while i < e && (buf[i] == 0x20 || buf[i] == 0x09) { i += 1 }
                if i == e { return nil }
            }
        }
        return result >= 0 ? result : nil
    }

    /// Transfer-Encoding: a list of codings; we decode only chunked, which
    /// must come last and once.
    static func parseTransferEncoding(_ buf: UnsafePointer<UInt8>, _ s: Int, _ e: Int, _ head: inout RequestHead) -> HTTPError? {
        var i = s
        var sawAny = false
        while i <= e {
            while i < e && (buf[i] == 0x20 || buf[i] == 0x09 || buf[i] == 0x2C) { i += 1 }
            if i >= e { break }
            let ts = i
            while i < e && CharClass.isToken(buf[i]) { i += 1 }
            let te = i
            if ts == te { return HTTPError(400, "invalid Transfer-Encoding") }
            // OWS, then the end, a comma, or parameters (";q=...", not allowed on
            // chunked): skip those to the next comma. Anything else is not a list.
            while i < e && (buf[i] == 0x20 || buf[i] == 0x09) { i += 1 }
            let hasParameters = i < e && buf[i] == 0x3B
            if i < e && buf[i] != 0x2C && !hasParameters { return HTTPError(400, "invalid Transfer-Encoding") }
            while i < e && buf[i] != 0x2C { i += 1 }
            sawAny = true
            let isChunked = te - ts == 7 && equalsLower(buf, ts, 7, "chunked") && !hasParameters
            if head.chunked { return HTTPError(400, "chunked is not the final transfer coding") }
            if isChunked {
                head.chunked = true
            } else {
                let known = (te - ts == 4 && equalsLower(buf, ts, 4, "gzip")) || (te - ts == 7 && equalsLower(buf, ts, 7, "deflate"))
                    || (te - ts == 8 && equalsLower(buf, ts, 8, "compress")) || (te - ts == 6 && equalsLower(buf, ts, 6, "x-gzip"))
                if !known { return HTTPError(501, "unknown transfer coding") }
                return HTTPError(501, "transfer codings other than chunked are not implemented")
            }
        }
        if !sawAny { return HTTPError(400, "empty Transfer-Encoding") }
        return nil
    }

    static func scanConnection(_ buf: UnsafePointer<UInt8>, _ s: Int, _ e: Int, close: inout Bool, keepAlive: inout Bool) {
        var i = s
        while i < e {
            while i < e && (buf[i] == 0x20 || buf[i] == 0x09 || buf[i] == 0x2C) { i += 1 }
            let ts = i
            while i < e && buf[i] != 0x2C && buf[i] != 0x20 && buf[i] != 0x09 { i += 1 }
            let n = i - ts
            if n == 5 && equalsLower(buf, ts, 5, "close") { close = true }
            if n == 10 && equalsLower(buf, ts, 10, "keep-alive") { keepAlive = true }
        }
    }

    /// Case-sensitive compare of `n` bytes at `at` with an ASCII literal.
    @inline(__always)
    static func equals(_ buf: UnsafePointer<UInt8>, _ at: Int, _ n: Int, _ literal: StaticString) -> Bool {
        let l = literal.utf8Start
        var i = 0
        while i < n {
            if buf[at + i] != l[i] { return false }
            i += 1
        }
        return true
    }

    /// Case-insensitive compare of `n` bytes at `at` with a lowercase ASCII literal.
    @inline(__always)
    public static func equalsLower(_ buf: UnsafePointer<UInt8>, _ at: Int, _ n: Int, _ literal: StaticString) -> Bool {
        let l = literal.utf8Start
        var i = 0
        while i < n {
            if CharClass.lower(buf[at + i]) != l[i] { return false }
            i += 1
        }
        return true
    }
}
