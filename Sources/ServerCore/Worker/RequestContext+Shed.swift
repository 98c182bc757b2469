#if canImport(Glibc)
import Glibc
#endif
import CGateway
import CSupport

/// max_queue_wait: a request that waited longer than that in front of us
/// (its X-Request-Start, from a trusted proxy; over uwsgi, SCGI and FastCGI
/// the HTTP_X_REQUEST_START variable) is answered 503 with
/// Retry-After before the app is called: its client has likely given up,
/// and serving it would only make the requests behind it wait longer.
/// The 503 goes out in the protocol's own form (a status line, or a CGI
/// Status: in FastCGI records). The connection stays open: the 503 is cheap, and closing would cost the
/// proxy a new connection per retry when it is busiest.
extension RequestContext {
    /// Seconds the request waited before this worker took it, or nil when it
    /// says nothing believable (no field, an untrusted peer, garbage).
    func queueWait() -> Double? {
        let buf = UnsafePointer(connection.buffer)
        // uwsgi, SCGI, FastCGI: the proxy passes the field on as the
        // HTTP_X_REQUEST_START variable; the trusted peer is the proxy, as over HTTP.
        if connection.conformance.fieldSource == .variables {
            guard let v = proxiedHeader("x-request-start") else { return nil }
            guard peerIsTrusted, let start = RequestStart.seconds(buf + v.value, v.valueLength) else { return nil }
            return max(0, Sys.wallClockSeconds() - start)
        }
        for i in 0..<head.fieldCount {
            let f = head.fields[i]
            guard f.nameLength == 15 && HeadParser.equalsLower(buf, f.name, 15, "x-request-start") else { continue }
            guard peerIsTrusted, let start = RequestStart.seconds(buf + f.value, f.valueLength) else { return nil }
            // a proxy whose clock runs ahead: no wait rather than a negative one
            return max(0, Sys.wallClockSeconds() - start)
        }
        return nil
    }

    /// Whether the request was shed (answered 503 here, counted in the
    /// slot). Without X-Request-Start, the time it waited in this worker
    /// for an app thread, since `since` (its request complete) to `now`.
    func shedIfWaited(longerThan limit: Double, inWorkerSince since: UInt64, now: UInt64) -> Bool {
        let inWorker = Double(now > since ? now - since : 0) / 1e9
        guard let waited = queueWait() ?? (inWorker > 0 ? inWorker : nil), waited > limit else { return false }
        let ms = Int(waited * 1000)
        _ = response.start(ShedReply.status, ShedReply.headers, 2, 0)
        _ = response.write(ShedReply.body, ShedReply.bodyLength, last: true)
        // Each one is in the access log and the metric; under overload an
        // error-log line per request would be a flood.
        errorLog(GATEWAY_LOG_DEBUG, "503 shed: waited \(ms) ms in the queue, above max_queue_wait (\(limit)s)")
        if let slot = scoreboard { slot.pointee.shed &+= 1 }
        return true
    }
}

/// The shed response's parts, made once per process.
enum ShedReply {
    static let status = CKey.make("503 Service Unavailable")
    static let text = "503 Service Unavailable: the request waited too long in the queue; retry\n"
    static let body = CKey.make(text)
    static let bodyLength = text.utf8.count
    static let headers: UnsafePointer<gateway_pair> = {
        let p = UnsafeMutablePointer<gateway_pair>.allocate(capacity: 2)
        p[0] = gateway_pair(name: CKey.make("Retry-After"), value: CKey.make("1"))
        p[1] = gateway_pair(name: CKey.make("Content-Type"), value: CKey.make("text/plain; charset=utf-8"))
        return UnsafePointer(p)
    }()
}
