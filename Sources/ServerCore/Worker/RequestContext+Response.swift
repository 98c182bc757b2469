#if canImport(Glibc)
import Glibc
#endif
import CGateway

extension RequestContext {
    // MARK: start_response

    func startResponse(_ status: UnsafePointer<CChar>?, _ headers: UnsafePointer<gateway_pair>?, _ count: Int, _ flags: Int32) -> Int32 {
        if committed {
            errorLog(GATEWAY_LOG_ERROR, "start_response() after the first body byte was sent")
            return GATEWAY_ERROR
        }
        if started && (flags & GATEWAY_REPLACE) == 0 {
            errorLog(GATEWAY_LOG_ERROR, "start_response() called twice without GATEWAY_REPLACE")
            failed = true
            return GATEWAY_ERROR
        }
        guard let status, let code = parseStatus(status) else {
            errorLog(GATEWAY_LOG_ERROR, "start_response(): invalid status line (want \"200 OK\")")
            failed = true
            return GATEWAY_ERROR
        }
        self.status = code
        appHeadersLength = 0
        appContentLength = -1
        for i in 0..<count {
            guard let h = headers?[i], let name = h.name, let value = h.value else {
                errorLog(GATEWAY_LOG_ERROR, "start_response(): header \(i) has a NULL name or value")
                failed = true
                return GATEWAY_ERROR
            }
            if let problem = addAppHeader(name, value) {
                errorLog(GATEWAY_LOG_ERROR, "start_response(): \(problem)")
                failed = true
                return GATEWAY_ERROR
            }
        }
        started = true
        failed = false
        return GATEWAY_OK
    }

    /// "NNN Reason": the code, and statusLine set to the bytes.
    func parseStatus(_ s: UnsafePointer<CChar>) -> Int? {
        let n = strlen(s)
        guard n >= 3 else { return nil }
        let p = UnsafeRawPointer(s).assumingMemoryBound(to: UInt8.self)
        var code = 0
        for i in 0..<3 {
            guard p[i] >= 0x30 && p[i] <= 0x39 else { return nil }
            code = code * 10 + Int(p[i] - 0x30)
        }
        guard code >= 100 && code <= 999, n == 3 || p[3] == 0x20 else { return nil }
        for i in 0..<n where p[i] == 0x0D || p[i] == 0x0A || (p[i] < 0x20 && p[i] != 0x09) { return nil }
        let same = statusLine.count == n && statusLine.withUnsafeBufferPointer { memcmp($0.baseAddress!, p, n) == 0 }
        if !same { statusLine = Array(UnsafeBufferPointer(start: p, count: n)) }
        return code
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
    func addAppHeader(_ name: UnsafePointer<CChar>, _ value: UnsafePointer<CChar>) -> String? {
        let nl = strlen(name), vl = strlen(value)
        let np = UnsafeRawPointer(name).assumingMemoryBound(to: UInt8.self)
        let vp = UnsafeRawPointer(value).assumingMemoryBound(to: UInt8.self)
        guard nl > 0 else { return "empty header name" }
        let t = CharClass.table
        for i in 0..<nl where !CharClass.isToken(t, np[i]) { return "invalid header name \"\(String(cString: name))\"" }
        for i in 0..<vl where !CharClass.isFieldValue(t, vp[i]) {
            return "header \(String(cString: name)) has a control character (CR, LF or NUL) in its value"
        }
        if Self.isHopByHop(np, nl) {
            return "hop-by-hop header \(String(cString: name)) is the server's to set"
        }
        if nl == 14 && HeadParser.equalsLower(np, 0, 14, "content-length") {
            guard let n = HeadParser.parseContentLength(vp, 0, vl) else { return "invalid Content-Length \"\(String(cString: value))\"" }
            appContentLength = n
        }
        let need = nl + vl + 4
        if appHeadersLength + need > appHeadersCapacity {
            let cap = max(appHeadersCapacity * 2, appHeadersLength + need)
            let b = UnsafeMutablePointer<UInt8>.allocate(capacity: cap)
            b.update(from: appHeaders, count: appHeadersLength)
            appHeaders.deallocate()
            appHeaders = b
            appHeadersCapacity = cap
        }
        let o = appHeaders + appHeadersLength
        o.update(from: np, count: nl)
        o[nl] = 0x3A; o[nl + 1] = 0x20
        (o + nl + 2).update(from: vp, count: vl)
        o[nl + 2 + vl] = 0x0D; o[nl + 3 + vl] = 0x0A
        appHeadersLength += need
        return nil
    }

    // MARK: commit: status line and headers into `out`

    /// Writes the head into `out` (not sent yet). `knownLength`: the whole
    /// body's length when the app handed it all at once (write_last, or no body).
    func commit(knownLength: Int?) {
        committed = true
        noBody = status < 200 || status == 204 || status == 304
        var o = 0
        o = put("HTTP/1.1 ", at: o)
        statusLine.withUnsafeBufferPointer { (out + o).update(from: $0.baseAddress!, count: $0.count) }
        o += statusLine.count
        o = put("\r\nServer: gatewayd\r\nDate: ", at: o)
        date.withUnsafeBufferPointer { (out + o).update(from: $0.baseAddress!, count: 29) }
        o += 29
        o = put("\r\n", at: o)
        let headLimit = outCapacity - 128
        if o + appHeadersLength > headLimit {
            // Headers larger than the output buffer: send what we have first.
            outLength = o
            flush()
            o = 0
            var sent = 0
            while sent < appHeadersLength && !clientGone {
                let n = min(appHeadersLength - sent, headLimit)
                (out).update(from: appHeaders + sent, count: n)
                outLength = n
                flush()
                sent += n
            }
        } else {
            (out + o).update(from: appHeaders, count: appHeadersLength)
            o += appHeadersLength
        }
        if !noBody && appContentLength < 0 {
            if let n = knownLength {
                o = put("Content-Length: ", at: o)
                o = putDecimal(n, at: o)
                o = put("\r\n", at: o)
            } else if head.isHead {
                // HEAD: no body follows, so no framing is needed.
            } else if head.version == .http11 {
                chunkedResponse = true
                o = put("Transfer-Encoding: chunked\r\n", at: o)
            } else {
                closeAfter = true
            }
        }
        if closeAfter {
            o = put("Connection: close\r\n\r\n", at: o)
        } else if head.version == .http10 {
            o = put("Connection: keep-alive\r\n\r\n", at: o)
        } else {
            o = put("\r\n", at: o)
        }
        outLength = o
        scoreboard?.pointee.response_started = 1
        if head.isHead { noBody = true }
    }

    @inline(__always)
    func put(_ s: StaticString, at o: Int) -> Int {
        (out + o).update(from: s.utf8Start, count: s.utf8CodeUnitCount)
        return o + s.utf8CodeUnitCount
    }

    @inline(__always)
    func putDecimal(_ value: Int, at o: Int) -> Int {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = value, count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat { d[count] = UInt8(0x30 + n % 10); n /= 10; count += 1 } while n > 0
            for i in 0..<count { out[o + i] = d[count - 1 - i] }
        }
        return o + count
    }

    @inline(__always)
    func putHex(_ value: Int, at o: Int) -> Int {
        var n = value, count = 0
        var tmp: UInt64 = 0
        repeat { tmp = tmp << 8 | UInt64(Self.hexDigits[n & 15]); n >>= 4; count += 1 } while n > 0
        for i in 0..<count { out[o + i] = UInt8(truncatingIfNeeded: tmp >> (8 * UInt64(i))) }
        return o + count
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    // MARK: body

    func writeBody(_ data: UnsafeRawPointer?, _ len: Int, last: Bool) -> Int32 {
        guard started, !failed else {
            if !started { errorLog(GATEWAY_LOG_ERROR, "write() before start_response()") }
            failed = true
            return GATEWAY_ERROR
        }
        if finished {
            errorLog(GATEWAY_LOG_ERROR, "write() after write_last()")
            return GATEWAY_ERROR
        }
        if clientGone { return GATEWAY_ERROR }
        if !committed { commit(knownLength: last ? len : nil) }
        if last { finished = true }
        let (len, result) = clampToContentLength(len, "write()")
        bodySent += len
        if noBody || len == 0 {
            if last { endChunked() }
            flushPending()
            return clientGone ? GATEWAY_ERROR : result
        }
        if chunkedResponse {
            if outLength + 20 > outCapacity { flush() }
            outLength = putHex(len, at: outLength)
            outLength = put("\r\n", at: outLength)
        }
        sendWithPending(data!, len)
        if chunkedResponse {
            outLength = put("\r\n", at: outLength)
            if last { endChunked() }
            if last { flush() }
        }
        return clientGone ? GATEWAY_ERROR : result
    }

    /// Bytes past the app's own Content-Length are dropped (and the
    /// connection closed): the response cannot be framed otherwise.
    @inline(__always)
    func clampToContentLength(_ n: Int, _ call: StaticString) -> (Int, Int32) {
        guard appContentLength >= 0 && bodySent + n > appContentLength else { return (n, GATEWAY_OK) }
        errorLog(GATEWAY_LOG_ERROR, "\(call): the app sent more bytes than its Content-Length (\(appContentLength)): connection closed")
        closeAfter = true
        return (appContentLength - bodySent, GATEWAY_ERROR)
    }

    func endChunked() {
        guard chunkedResponse else { return }
        if outLength + 8 > outCapacity { flush() }
        outLength = put("0\r\n\r\n", at: outLength)
        chunkedResponse = false
    }

    /// Sends the pending bytes of `out` followed by `data`, in one call when it fits.
    func sendWithPending(_ data: UnsafeRawPointer, _ len: Int) {
        if outLength + len <= outCapacity && len <= 16384 {
            (UnsafeMutableRawPointer(out) + outLength).copyMemory(from: data, byteCount: len)
            outLength += len
            flush()
            return
        }
        if outLength > 0 {
            do {
                if let n = try Sys.writev2(connection.fd, out, outLength, data, len) {
                    bytesOut += n
                    if n >= outLength {
                        let done = n - outLength
                        outLength = 0
                        _ = sendAll(data + done, len - done)
                        return
                    }
                    // partial head: shift and fall through
                    memmove(out, out + n, outLength - n)
                    outLength -= n
                }
            } catch {
                clientGone = true; closeAfter = true
                return
            }
            flush()
        }
        _ = sendAll(data, len)
    }

    @inline(__always)
    func flushPending() { if outLength > 0 { flush() } }

    func flush() {
        let n = outLength
        outLength = 0
        if n > 0 { _ = sendAll(out, n) }
    }

    /// Sends every byte, waiting for the socket when it is full; false
    /// (and clientGone) when the client went away or stopped reading.
    @discardableResult
    func sendAll(_ p: UnsafeRawPointer, _ len: Int) -> Bool {
        if clientGone { return false }
        var done = 0
        let fd = connection.fd
        while done < len {
            do {
                if let n = try Sys.send(fd, p + done, len - done) {
                    done += n
                    continue
                }
                if try !Sys.poll(fd, events: Int16(POLLOUT), timeoutMs: bodyTimeoutMs) {
                    errorLog(GATEWAY_LOG_INFO, "client stopped reading the response: connection closed")
                    clientGone = true; closeAfter = true
                    return false
                }
            } catch {
                clientGone = true; closeAfter = true
                return false
            }
        }
        bytesOut += len
        return true
    }

    func sendFile(_ fd: Int32, _ offset: off_t, _ count: Int) -> Int32 {
        guard started, !failed, !finished else {
            errorLog(GATEWAY_LOG_ERROR, "sendfile() before start_response() or after write_last()")
            failed = !started ? true : failed
            return GATEWAY_ERROR
        }
        if !committed { commit(knownLength: nil) }
        if count == 0 { return GATEWAY_OK }
        let (count, result) = clampToContentLength(count, "sendfile()")
        bodySent += count
        if noBody { flushPending(); return result }
        if chunkedResponse {
            outLength = putHex(count, at: outLength)
            outLength = put("\r\n", at: outLength)
        }
        flushPending()
        var off = offset
        var left = count
        while left > 0 && !clientGone {
            do {
                if let n = try Sys.sendfile(connection.fd, fd, offset: &off, count: left) {
                    if n == 0 {
                        errorLog(GATEWAY_LOG_ERROR, "sendfile(): the file is shorter than the count given: connection closed")
                        clientGone = true; closeAfter = true
                        return GATEWAY_ERROR
                    }
                    left -= n
                    bytesOut += n
                } else if try !Sys.poll(connection.fd, events: Int16(POLLOUT), timeoutMs: bodyTimeoutMs) {
                    clientGone = true; closeAfter = true
                }
            } catch {
                errorLog(GATEWAY_LOG_ERROR, "\(error)")
                clientGone = true; closeAfter = true
                return GATEWAY_ERROR
            }
        }
        if chunkedResponse { outLength = put("\r\n", at: outLength) }
        return clientGone ? GATEWAY_ERROR : result
    }

    // MARK: the end of a request

    /// After the app returned `result`: completes, replaces with an error
    /// response, or aborts the connection.
    func finish(appResult: Int32) {
        let appFailed = appResult != GATEWAY_OK
        if !committed {
            if let e = bodyError {
                sendError(e.status, reason: "\(e.reason)")
                return
            }
            if appFailed || failed || !started {
                let why = appFailed ? "the app returned an error" : (!started ? "the app returned without calling start_response()" : "the app's response was refused")
                // The request itself was well framed: the connection stays usable.
                sendError(500, reason: why, close: false)
                return
            }
            commit(knownLength: 0)
            if !noBody && appContentLength > 0 {
                errorLog(GATEWAY_LOG_ERROR, "app declared Content-Length \(appContentLength) but sent no body: connection closed")
                closeAfter = true
            }
            flush()
            return
        }
        if appFailed || failed {
            errorLog(GATEWAY_LOG_ERROR, "\(appFailed ? "the app returned an error" : "the app's response failed") after the response started: connection aborted")
            outLength = 0
            closeAfter = true
            return
        }
        if chunkedResponse { endChunked() }
        if appContentLength >= 0 && bodySent < appContentLength && !noBody {
            errorLog(GATEWAY_LOG_ERROR, "app sent \(bodySent) of the \(appContentLength) bytes its Content-Length declared: connection aborted")
            closeAfter = true
        }
        flushPending()
    }

    /// A response the server makes itself (4xx/5xx), always closing the connection.
    /// `close: false` keeps the connection when the request was well framed
    /// (an app error); protocol errors always close it.
    func sendError(_ status: Int, reason: String, close: Bool = true) {
        self.status = status
        if close { closeAfter = true }
        errorLog(status >= 500 ? GATEWAY_LOG_ERROR : GATEWAY_LOG_INFO, "\(status) \(Self.reasonPhrase(status)): \(reason)")
        writeErrorResponse(status)
    }

    func writeErrorResponse(_ status: Int) {
        let phrase = Self.reasonPhrase(status)
        let body = "\(status) \(phrase)\n"
        var text = "HTTP/1.1 \(status) \(phrase)\r\nServer: gatewayd\r\nDate: "
        text += String(decoding: date, as: UTF8.self)
        text += "\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n"
        if status == 405 { text += "Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n" }
        if closeAfter {
            text += "Connection: close\r\n\r\n"
        } else {
            text += head.version == .http10 ? "Connection: keep-alive\r\n\r\n" : "\r\n"
        }
        if !head.isHead || connection == nil { text += body }
        committed = true
        outLength = 0
        var t = text
        t.withUTF8 { _ = sendAll($0.baseAddress!, $0.count) }
    }

    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 417: return "Expectation Failed"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Error"
        }
    }
}
