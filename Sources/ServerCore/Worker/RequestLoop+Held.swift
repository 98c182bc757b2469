#if canImport(Glibc)
import Glibc
#endif
import CSupport

/// Slow clients pin nothing. A request body up to body_buffer_size is read
/// by the event loop before the app is called (`Connection.Phase.bufferingBody`),
/// and up to response_buffer_size of a response the socket would not take
/// is sent by the loop after the app returned (`.sendingResponse`), while
/// the worker serves other requests. Each wait is bounded by body_timeout.
extension RequestLoop {
    /// A closed connection whose buffer is at most this big is pooled (a
    /// held body grows the buffer; growing it again for each one would cost
    /// an allocation per request).
    static let pooledCapacity = 128 << 10

    static let readEvents = UInt32(EPOLLIN.rawValue) | UInt32(EPOLLRDHUP.rawValue)
    static let writeEvents = UInt32(EPOLLOUT.rawValue)

    // MARK: the request body

    /// The head just parsed (`headStart..<c.start`) has a body: hold the
    /// request in the loop while the body is not all in the buffer and fits
    /// body_buffer_size. True when held (or closed).
    func holdBody(_ c: Connection, headStart: Int) -> Bool {
        let h = context.head
        var hold = BodyHold(headStart: headStart, headEnd: c.start, contentLength: h.contentLength,
                            chunked: h.chunked, limit: settings.bodyBufferSize)
        switch hold.check(UnsafePointer(c.buffer), end: c.end, limits: limits) {
        case .wait: break
        case .failed(let e): reject(c, e); return true
        case .complete, .stream: return false
        }
        if h.expectContinue {
            // The client sends the body only after this.
            let line = RequestBody.continueLine
            let sent = (try? Sys.send(c.fd, UnsafeRawPointer(line.utf8Start), line.utf8CodeUnitCount)) ?? 0
            if sent == 0 { return false }  // the socket is full: the app's first read sends it, as without a hold
            if sent < line.utf8CodeUnitCount { close(c); return true }
            c.continueSent = true
        }
        if hold.bodyEnd >= 0 { c.reserve(hold.bodyEnd) }
        c.bodyHold = hold
        c.phase = .bufferingBody
        c.lastActive = Sys.monotonicNanos()
        return true
    }

    /// More of a held body arrived (or the client left).
    func readHeldBody(_ c: Connection) {
        if c.end == c.capacity { c.reserve(min(c.capacity * 2, c.bodyHold.capacityNeeded)) }
        guard c.end < c.capacity else { return releaseHeldBody(c) }
        let n: Int
        do {
            guard let r = try Sys.read(c.fd, c.buffer + c.end, c.capacity - c.end) else { return }
            n = r
        } catch {
            return close(c)
        }
        // The client left before its body was whole: nobody to answer.
        if n == 0 { return close(c) }
        c.end += n
        c.lastActive = Sys.monotonicNanos()
        switch c.bodyHold.check(UnsafePointer(c.buffer), end: c.end, limits: limits) {
        case .wait: break
        case .failed(let e):
            c.phase = .open
            c.continueSent = false
            reject(c, e)
        case .complete, .stream: releaseHeldBody(c)
        }
    }

    /// The held body is all in the buffer (or streams after all): the app
    /// is called, then the connection goes on as after any request.
    func releaseHeldBody(_ c: Connection) {
        let hold = c.bodyHold
        c.phase = .open
        // Other requests used the parsed head meanwhile: parse it again (it parsed before).
        guard HeadParser.parse(UnsafePointer(c.buffer), start: hold.headStart, end: hold.headEnd,
                               limits: limits, into: &context.head) == nil else { return close(c) }
        if c.continueSent {
            context.head.expectContinue = false  // sent already
            c.continueSent = false
        }
        serve(c)
        if nextRequest(c) { process(c) }
    }

    /// A held body stalled for body_timeout: 408, as when the app reads it.
    func timeOutHeldBody(_ c: Connection) {
        c.phase = .open
        c.continueSent = false
        reject(c, HTTPError(408, "request body not received within body_timeout"))
    }

    // MARK: the response

    /// The app returned with `context.output.deferred` bytes of its response
    /// kept: the loop sends them on EPOLLOUT; then the log line, and the
    /// connection ends as `end` says.
    func holdResponse(_ c: Connection, end: ConnectionEnd, unread: Bool, started: UInt64) {
        let ctx = context
        c.heldResponse = HeldResponse(headStart: c.scanner.headStart, headEnd: ctx.head.end, status: ctx.status,
                                      bodySent: ctx.bodySent, started: started, end: end, unread: unread)
        ctx.output.deferred = 0
        c.phase = .sendingResponse
        do {
            try Sys.epollModify(epoll, c.fd, events: Self.writeEvents, data: UInt64(c.fd))
        } catch {
            logger.error("\(error)")
            close(c)
        }
    }

    /// A held response's socket has room (or failed).
    func writable(_ c: Connection) {
        if let buffer = c.responseBuffer {
            while buffer.count > 0 {
                do {
                    guard let n = try Sys.send(c.fd, buffer.unsent, buffer.count) else { return }
                    buffer.consume(n)
                    bytesOut += n
                    // The metrics count bytes as they go out, these too.
                    if let slot = context.scoreboard { slot.pointee.bytes_out &+= UInt64(n) }
                    c.lastActive = Sys.monotonicNanos()
                } catch {
                    return close(c)  // the client is gone: close() logs the line
                }
            }
        }
        logHeldResponse(c)
        c.phase = .open
        do {
            try Sys.epollModify(epoll, c.fd, events: Self.readEvents, data: UInt64(c.fd))
        } catch {
            logger.error("\(error)")
            return close(c)
        }
        let held = c.heldResponse
        finish(c, held.end, unread: held.unread)
        if nextRequest(c) { process(c) }
    }

    /// The client stopped reading a held response for body_timeout.
    func abandonHeldResponse(_ c: Connection) {
        logger.info("client stopped reading the response for body_timeout: connection closed")
        close(c)
    }

    /// The access log line of a held response, once it is sent or abandoned:
    /// its duration runs to now, and its body bytes leave out those unsent.
    func logHeldResponse(_ c: Connection) {
        guard let log = accessLog else { return }
        let held = c.heldResponse
        let ctx = context
        guard HeadParser.parse(UnsafePointer(c.buffer), start: held.headStart, end: held.headEnd,
                               limits: limits, into: &ctx.head) == nil else { return }
        ctx.connection = c
        ctx.rejectedLine = nil
        ctx.response.status = held.status
        ctx.response.bodySent = max(0, held.bodySent - (c.responseBuffer?.count ?? 0))
        log.write(ctx, durationNs: Sys.monotonicNanos() &- held.started)
    }
}
