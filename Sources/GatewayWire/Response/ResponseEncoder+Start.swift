#if canImport(Glibc)
import Glibc
#endif
import CGateway

// start_response: the status and the app's headers, validated before any
// byte is sent, so that nothing an app passes can break the framing.
extension ResponseEncoder {
    public func start(_ status: UnsafePointer<CChar>?, _ headers: UnsafePointer<gateway_pair>?, _ count: Int, _ flags: Int32) -> Int32 {
        if let e = bodyRefused { return refusedAfterBody(e, "start_response()") }
        switch phase {
        case .pending:
            break
        case .headersSet:
            guard flags & GATEWAY_REPLACE != 0 else {
                phase = .refused
                return refuse(.notNow, "start_response() called twice without GATEWAY_REPLACE")
            }
        case .committed, .finished:
            return refuse(.notNow, "start_response() after the response head was sent")
        case .aborted:
            return refuse(failure == .none ? .notNow : failure, "start_response() after the response was aborted")
        case .refused:
            return refuse(.notNow, "start_response() after a refused start_response(): the client gets a 500")
        }
        guard let status, let code = parseStatus(status) else {
            let text = status.map { String(cString: $0) } ?? "NULL"
            return refuseStart("start_response(): invalid status \"\(text)\" (want three digits 200-599 and a reason, as \"200 OK\")")
        }
        self.status = code
        appHeadersLength = 0
        appContentLength = -1
        appSetsDate = false
        appSetsServer = false
        for i in 0..<count {
            guard let h = headers?[i], let name = h.name, let value = h.value else {
                return refuseStart("start_response(): header \(i) has a NULL name or value")
            }
            if let problem = addHeader(name, value) {
                return refuseStart("start_response(): \(problem)")
            }
        }
        phase = .headersSet
        return GATEWAY_OK
    }

    /// A refused status or header: nothing of it is kept, and the response
    /// stays refused (a 500), whatever the app calls next.
    func refuseStart(_ message: String) -> Int32 {
        phase = .refused
        return refuse(.badResponse, message)
    }

    /// Once the server refused the request body, its error response is the answer.
    func refusedAfterBody(_ e: HTTPError, _ call: StaticString) -> Int32 {
        refuse(.notNow, "\(call) after the request body was refused (\(e.status) \(StatusPhrase.text(e.status)))")
    }

    /// "NNN Reason" or "NNN": a final status, 200 to 599 (a 1xx from the app
    /// would tell a proxy to switch protocols or wait). Sets statusLine.
    func parseStatus(_ s: UnsafePointer<CChar>) -> Int? {
        let n = strlen(s)
        guard n >= 3 else { return nil }
        let p = UnsafeRawPointer(s).assumingMemoryBound(to: UInt8.self)
        var code = 0
        for i in 0..<3 {
            guard p[i] >= 0x30 && p[i] <= 0x39 else { return nil }
            code = code * 10 + Int(p[i] - 0x30)
        }
        guard code >= 200 && code <= 599, n == 3 || p[3] == 0x20 else { return nil }
        for i in 0..<n where p[i] < 0x20 && p[i] != 0x09 || p[i] == 0x7F { return nil }
        if n <= 4 {
            // No reason phrase: the standard one, so the status line stays "NNN SP reason".
            setStatusLine(code, StatusPhrase.phrase(code))
            return code
        }
        let same = statusLine.count == n && statusLine.withUnsafeBufferPointer { memcmp($0.baseAddress!, p, n) == 0 }
        if !same { statusLine = Array(UnsafeBufferPointer(start: p, count: n)) }
        return code
    }

    func setStatusLine(_ code: Int, _ phrase: StaticString?) {
        statusLine.removeAll(keepingCapacity: true)
        statusLine.append(UInt8(0x30 + code / 100))
        statusLine.append(UInt8(0x30 + code / 10 % 10))
        statusLine.append(UInt8(0x30 + code % 10))
        statusLine.append(0x20)
        if let phrase { statusLine.append(contentsOf: UnsafeBufferPointer(start: phrase.utf8Start, count: phrase.utf8CodeUnitCount)) }
    }

    /// Connection, Keep-Alive, Transfer-Encoding, TE, Trailer, Upgrade,
    /// Proxy-Connection: the server's to set. Dispatch on length first.
    @inline(__always)
    static func isHopByHop(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        switch n {
        case 2: return HeadParser.equalsLower(p, 0, 2, "te")
        case 7: return HeadParser.equalsLower(p, 0, 7, "trailer") || HeadParser.equalsLower(p, 0, 7, "upgrade")
        case 10: return HeadParser.equalsLower(p, 0, 10, "connection") || HeadParser.equalsLower(p, 0, 10, "keep-alive")
        case 16: return HeadParser.equalsLower(p, 0, 16, "proxy-connection")
        case 17: return HeadParser.equalsLower(p, 0, 17, "transfer-encoding")
        default: return false
        }
    }

    /// Validates one header and appends "Name: value\r\n"; a message on refusal.
    func addHeader(_ name: UnsafePointer<CChar>, _ value: UnsafePointer<CChar>) -> String? {
        let nl = strlen(name), vl = strlen(value)
        let np = UnsafeRawPointer(name).assumingMemoryBound(to: UInt8.self)
        let vp = UnsafeRawPointer(value).assumingMemoryBound(to: UInt8.self)
        guard nl > 0 else { return "empty header name" }
        let t = CharClass.table
        for i in 0..<nl where !CharClass.isToken(t, np[i]) { return "invalid header name \"\(String(cString: name))\"" }
        for i in 0..<vl where !CharClass.isFieldValue(t, vp[i]) {
            return "header \(String(cString: name)) has a control character (CR, LF or NUL) in its value"
        }
        switch nl {
        case 4 where HeadParser.equalsLower(np, 0, 4, "date"):
            if appSetsDate { return "a second Date header (Date is a single field)" }
            appSetsDate = true
        case 6 where HeadParser.equalsLower(np, 0, 6, "server"):
            if appSetsServer { return "a second Server header" }
            appSetsServer = true
        case 6 where HeadParser.equalsLower(np, 0, 6, "status"):
            // Over SCGI and FastCGI a second CGI Status line, which nginx takes
            // for the status: refused on every protocol alike.
            return "header Status is the server's to set (pass the status to start_response())"
        case 14 where HeadParser.equalsLower(np, 0, 14, "content-length"):
            guard let n = Self.contentLength(vp, vl) else {
                return "invalid Content-Length \"\(String(cString: value))\" (want digits only)"
            }
            if appContentLength >= 0 {
                if appContentLength != n { return "two different Content-Length headers (\(appContentLength) and \(n))" }
                return nil  // the same value twice: sent once
            }
            // 204 has no body and must not say it has a length (RFC 9110 §8.6);
            // 205 says zero itself.
            if status == 204 || status == 205 { return nil }
            appContentLength = n
        default:
            if Self.isHopByHop(np, nl) { return "hop-by-hop header \(String(cString: name)) is the server's to set" }
        }
        let need = nl + vl + 4
        if appHeadersLength + need > appHeadersCapacity { growHeaders(appHeadersLength + need) }
        let o = appHeaders + appHeadersLength
        o.update(from: np, count: nl)
        o[nl] = 0x3A; o[nl + 1] = 0x20
        (o + nl + 2).update(from: vp, count: vl)
        o[nl + 2 + vl] = 0x0D; o[nl + 3 + vl] = 0x0A
        appHeadersLength += need
        return nil
    }

    /// An app's Content-Length: 1 to 18 digits, nothing else (no list, no sign, no spaces).
    static func contentLength(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int? {
        guard n > 0 && n <= 18 else { return nil }
        var v = 0
        for i in 0..<n {
            guard p[i] >= 0x30 && p[i] <= 0x39 else { return nil }
            v = v * 10 + Int(p[i] - 0x30)
        }
        return v
    }

    func growHeaders(_ need: Int) {
        let cap = max(appHeadersCapacity * 2, need)
        let b = UnsafeMutablePointer<UInt8>.allocate(capacity: cap)
        b.update(from: appHeaders, count: appHeadersLength)
        appHeaders.deallocate()
        appHeaders = b
        appHeadersCapacity = cap
    }
}
