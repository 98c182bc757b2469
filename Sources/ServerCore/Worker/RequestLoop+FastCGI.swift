#if canImport(Glibc)
import Glibc
#endif

/// FastCGI connections (Responder role): records instead of an HTTP head.
/// Management records are answered between requests; one request at a
/// time; with FCGI_KEEP_CONN the connection then waits for the next one,
/// as an HTTP keep-alive connection does.
extension RequestLoop {
    func processFastCGI(_ c: Connection) {
        while !c.closed && c.phase == .open {
            let event = FastCGIDecoder.decode(UnsafePointer(c.buffer), start: c.start, end: c.end, limits: context.protocolLimits)
            switch event {
            case .needMore:
                if c.start == c.end { c.start = 0; c.end = 0; c.headSince = 0 }
                return
            case .failed(let e, let id):
                return rejectFastCGI(c, id, e)
            case .drop(let at, let length, let reply):
                c.dropRecord(at: at, length: length)
                if !reply.isEmpty && !sendRaw(c, reply) { return close(c) }
            case .aborted(let id, let keep, let end):
                c.start = end
                if !sendRaw(c, FastCGIRecord.endRequest(id)) || !keep { return close(c) }
            case .complete(let id, let keep, let end):
                c.fastcgi = FastCGISession(requestId: id, keepConn: keep)
                if let e = FastCGIDecoder.gatherParams(c.buffer, start: c.start, end: end, limits: context.protocolLimits,
                                                       into: &context.vars) {
                    return rejectFastCGI(c, id, e)
                }
                if let e = context.headFromVars(UnsafePointer(c.buffer), end: end) { return rejectFastCGI(c, id, e) }
                context.head.keepAlive = keep
                c.start = end
                serve(c)
                if c.phase != .open { return }
                c.headSince = c.start == c.end ? 0 : Sys.monotonicNanos()
                if stopReason != nil && c.start == c.end { return close(c) }
            }
        }
    }

    /// A request refused before the app: its error as a CGI response in
    /// STDOUT records and END_REQUEST; then the connection closes (what
    /// follows is unknown). Broken framing (no request to answer) just closes.
    func rejectFastCGI(_ c: Connection, _ id: UInt16, _ e: HTTPError) {
        guard id != 0 else {
            logger.info("fastcgi connection closed: \(e.status) \(e.reason)")
            return close(c)
        }
        c.fastcgi = FastCGISession(requestId: id, keepConn: false)
        context.reject(connection: c, listener: listeners[c.listener], line: Array("(fastcgi request)".utf8), e)
        _ = context.framedOutput.endRequest(appStatus: 0)
        c.fastcgi = FastCGISession()
        accessLog?.write(context, durationNs: 0)
        finish(c, context.response.end, unread: true)
    }

    /// Management answers and refusals go out as they are, between responses.
    func sendRaw(_ c: Connection, _ bytes: [UInt8]) -> Bool {
        context.output.fd = c.fd
        return bytes.withUnsafeBytes { context.output.send($0.baseAddress!, $0.count) }
    }
}

extension Connection {
    /// Removes the record at `at` from the unconsumed bytes: what precedes
    /// it moves up by `length`, so the rest stays in place.
    func dropRecord(at: Int, length: Int) {
        let before = at - start
        if before > 0 { memmove(buffer + start + length, buffer + start, before) }
        start += length
    }
}
