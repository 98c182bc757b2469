// The head on the wire: status line, Server and Date (unless the app set
// them, or a proxy makes the client's head: uwsgi, SCGI, FastCGI), the app's headers, the framing the server chose, Connection.
extension ResponseEncoder {
    /// Encodes the head into `out` (sent with the first body bytes) and
    /// decides the framing. `knownLength`: the whole body's length when the
    /// app handed it all at once (write_last, or no body at all).
    func commit(knownLength: Int?) {
        phase = .committed
        closeIfBodyStaysUnread()
        var o = request.dialect.status == .cgi ? put("Status: ", at: 0) : put("HTTP/1.1 ", at: 0)
        statusLine.withUnsafeBufferPointer { (out + o).update(from: $0.baseAddress!, count: $0.count) }
        o += statusLine.count
        o = put("\r\n", at: o)
        if !appSetsServer && request.dialect.serverHeaders { o = put("Server: gatewayd\r\n", at: o) }
        if !appSetsDate && request.dialect.serverHeaders {
            freshDate()
            o = put("Date: ", at: o)
            date.withUnsafeBufferPointer { (out + o).update(from: $0.baseAddress!, count: 29) }
            o = put("\r\n", at: o + 29)
        }
        o = putAppHeaders(at: o)
        o = putFraming(knownLength, at: o)
        if request.recordFramed {
            o = put("\r\n", at: o)
        } else if end != .keepOpen {
            o = put("Connection: close\r\n\r\n", at: o)
        } else if request.saysKeepAlive {
            o = put("Connection: keep-alive\r\n\r\n", at: o)
        } else {
            o = put("\r\n", at: o)
        }
        outLength = o
    }

    /// Says Connection: close now when the rest of the request body will not
    /// be read: closing after a head that promised keep-alive would lose the
    /// client's next request.
    @inline(__always)
    func closeIfBodyStaysUnread() {
        if bodyStaysUnread { endAtLeast(.close) }
    }

    /// The app's headers; ones larger than `out` go out ahead in pieces.
    @inline(__always)
    func putAppHeaders(at start: Int) -> Int {
        let room = outCapacity - 128
        if start + appHeadersLength <= room {
            (out + start).update(from: appHeaders, count: appHeadersLength)
            return start + appHeadersLength
        }
        return putLargeAppHeaders(at: start)
    }

    func putLargeAppHeaders(at start: Int) -> Int {
        let room = outCapacity - 128
        outLength = start
        guard flush() else { return 0 }
        var sent = 0
        while sent < appHeadersLength {
            let n = min(appHeadersLength - sent, room)
            if sent + n == appHeadersLength {
                out.update(from: appHeaders + sent, count: n)
                return n
            }
            guard emit(appHeaders + sent, n) else { return 0 }
            sent += n
        }
        return 0
    }

    /// Decides `framing` and writes the header that announces it.
    @inline(__always)
    func putFraming(_ knownLength: Int?, at start: Int) -> Int {
        var o = start
        if status == 204 || status == 205 || status == 304 || request.isHead {
            // No body follows. A HEAD response says the length GET would
            // have, when it is known, and says nothing otherwise (RFC 9110 §8.6);
            // a 205 has no content and says so (RFC 9110 §15.3.6).
            framing = .none
            if status == 205 && !request.isHead {
                o = put("Content-Length: 0\r\n", at: o)
            } else if request.isHead && appContentLength < 0, let n = knownLength, n > 0 {
                o = put("Content-Length: ", at: o)
                o = putDecimal(n, at: o)
                o = put("\r\n", at: o)
            }
        } else if appContentLength >= 0 {
            framing = .length(remaining: appContentLength)
        } else if let n = knownLength {
            framing = .length(remaining: n)
            o = put("Content-Length: ", at: o)
            o = putDecimal(n, at: o)
            o = put("\r\n", at: o)
        } else if request.recordFramed {
            // FastCGI: END_REQUEST ends the body, not the connection.
            framing = .closeDelimited
        } else if request.chunkingAllowed {
            framing = .chunked
            o = put("Transfer-Encoding: chunked\r\n", at: o)
        } else {
            framing = .closeDelimited
            endAtLeast(.close)
        }
        return o
    }

    @inline(__always)
    func put(_ s: StaticString, at o: Int) -> Int {
        (out + o).update(from: s.utf8Start, count: s.utf8CodeUnitCount)
        return o + s.utf8CodeUnitCount
    }

    @inline(__always)
    func putDecimal(_ value: Int, at o: Int) -> Int {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
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
        repeat { tmp = tmp << 8 | UInt64(Self.hexDigit(n & 15)); n >>= 4; count += 1 } while n > 0
        for i in 0..<count { out[o + i] = UInt8(truncatingIfNeeded: tmp >> (8 * UInt64(i))) }
        return o + count
    }

    @inline(__always)
    static func hexDigit(_ v: Int) -> UInt8 { UInt8(v < 10 ? 0x30 + v : 0x57 + v) }
}
