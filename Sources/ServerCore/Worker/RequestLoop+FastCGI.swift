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
                return reject(c, e, requestId: id)
            case .drop(let at, let length, let reply):
                c.dropRecord(at: at, length: length)
                if !reply.isEmpty && !sendRaw(c, reply) { return close(c) }
            case .aborted(let id, let keep, let end):
                c.start = end
                if !sendRaw(c, FastCGIRecord.endRequest(id)) || !keep { return close(c) }
            case .complete(let id, let keep, let end):
                // The PARAMS are gathered (in place) by the thread that
                // serves it (RequestLoop.prepare); the app's reads decode
                // the STDIN records that follow as they come (nginx has
                // buffered the body: fastcgi_request_buffering).
                c.fastcgi = FastCGISession(requestId: id, keepConn: keep)
                c.requestStart = c.start
                c.requestEnd = end
                c.start = end
                dispatch(c)
                return
            }
        }
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
