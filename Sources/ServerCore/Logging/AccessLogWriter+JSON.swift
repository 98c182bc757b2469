import CSupport

/// log_format = "json": one object per request with fixed keys (the
/// access_log_format string is for the text form). Every value that comes
/// from the client is a JSON string, escaped per RFC 8259; bytes that are
/// not UTF-8 become U+FFFD.
extension AccessLogWriter {
    func writeJSON(_ ctx: RequestContext, durationNs: UInt64) {
        line.removeAll(keepingCapacity: true)
        let buf = ctx.connection.buffer
        let h = ctx.head
        var first = true
        func key(_ k: StaticString) {
            line.append(first ? 0x7B : 0x2C)  // { or ,
            first = false
            line.append(0x22)
            line.append(contentsOf: UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
            line.append(contentsOf: [0x22, 0x3A])  // ":
        }
        func string(_ k: StaticString, _ s: String) { key(k); JSONText.appendQuoted(s.utf8, to: &line) }
        func bytes(_ k: StaticString, _ start: Int, _ n: Int) {
            key(k)
            JSONText.appendQuoted(UnsafeBufferPointer(start: buf + start, count: n), to: &line)
        }
        func number(_ k: StaticString, _ s: String) { key(k); line.append(contentsOf: s.utf8) }
        func header(_ k: StaticString, _ name: StaticString) {
            if ctx.connection.conformance.fieldSource == .variables {
                if let v = ctx.proxiedHeader(name) { bytes(k, v.value, v.valueLength) } else { key(k); line += Array("null".utf8) }
            } else if let f = field(h, UnsafePointer(buf), name) { bytes(k, f.value, f.valueLength) } else { key(k); line += Array("null".utf8) }
        }
        if file.isJournal {
            line += Array("<6>".utf8)
        } else {
            var t = [CChar](repeating: 0, count: 40)
            let n = gw_log_time(&t, 1)
            string("time", String(decoding: t[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        string("remote_addr", ctx.proxiedClient ?? ctx.connection.peerAddress?.host ?? "unix")
        if let raw = ctx.rejectedLine {
            key("request"); JSONText.appendQuoted(raw, to: &line)
        } else {
            bytes("method", h.method, h.methodLength)
            bytes("path", h.path, h.pathLength)
            if h.query >= 0 { bytes("query", h.query, h.queryLength) } else { key("query"); line += Array("null".utf8) }
            string("protocol", h.version == .http11 ? "HTTP/1.1" : "HTTP/1.0")
        }
        number("status", String(ctx.status))
        number("body_bytes_sent", String(ctx.bodySent))
        number("request_time_us", String(durationNs / 1000))
        header("referer", "referer")
        header("user_agent", "user-agent")
        header("host", "host")
        number("pid", pid)
        number("worker", worker)
        number("generation", generation)
        line.append(0x7D)
        line.append(0x0A)
        line.withUnsafeBytes { file.write($0.baseAddress!, $0.count) }
    }
}
