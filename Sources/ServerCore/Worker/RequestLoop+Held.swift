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

    /// Edge-triggered: an app thread may hold a connection while the loop
    /// waits on the others (RequestLoop+Threads.swift).
    static let readEvents = UInt32(EPOLLIN.rawValue) | UInt32(EPOLLRDHUP.rawValue) | UInt32(EPOLLET.rawValue)
    static let writeEvents = UInt32(EPOLLOUT.rawValue)

    // MARK: the request body

    /// The head just parsed (`headStart..<c.start`) has a body: hold the
    /// request in the loop until the body is all in, in the buffer up to
    /// body_buffer_size and in a spool file beyond (up to
    /// body_spool_max_size; a bigger one is a 413). True when held (or
    /// refused); false when the body is in the buffer already or is to
    /// stream to the app (spooling off).
    func holdBody(_ c: Connection, headStart: Int) -> Bool {
        let h = context.head
        let inMemory = settings.bodyBufferSize
        let spoolMax = settings.bodySpoolMaxSize
        var hold = BodyHold(headStart: headStart, headEnd: c.start, contentLength: h.contentLength,
                            chunked: h.chunked, limit: inMemory)
        switch hold.check(UnsafePointer(c.buffer), end: c.end, limits: limits) {
        case .wait: break
        case .failed(let e): reject(c, e); return true
        case .complete: return false
        case .stream:
            // Too big for the buffer: to a file, or to the app as it comes.
            guard spoolMax > 0 else { return false }
            if !h.chunked && h.contentLength > spoolMax {
                reject(c, HTTPError(413, "request body larger than body_spool_max_size"))
                return true
            }
        }
        if h.expectContinue {
            // The client sends the body only after this.
            let line = RequestBody.continueLine
            let sent = (try? Sys.send(c.fd, UnsafeRawPointer(line.utf8Start), line.utf8CodeUnitCount)) ?? 0
            if sent < line.utf8CodeUnitCount { close(c); return true }  // a new connection's socket is never full
            c.continueSent = true
        }
        c.bodyHold = hold
        c.phase = .bufferingBody
        c.lastActive = Sys.monotonicNanos()
        if hold.bodyEnd == -2 || (hold.bodyEnd == -1 && hold.scanned >= hold.limitEnd) {
            return startSpool(c) || true
        }
        if hold.bodyEnd >= 0 { c.reserve(hold.bodyEnd) }
        return true
    }

    /// The body goes on past the buffer: into an unlinked file. What the
    /// buffer holds of it moves there first. False when it was refused.
    @discardableResult
    func startSpool(_ c: Connection) -> Bool {
        let h = c.bodyHold
        let directory = settings.bodyTempPath.isEmpty ? ((Glibc.getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }) ?? "/tmp") : settings.bodyTempPath
        let fd: Int32
        do {
            fd = try Sys.openTempFile(in: directory)
        } catch {
            logger.error("cannot spool a request body: \(error) (body_temp_path)")
            rejectHeld(c, HTTPError(500, "cannot open a file in body_temp_path for the request body"))
            return false
        }
        let spool = BodySpool(fd: fd, contentLength: h.bodyEnd == -1 ? nil : context.head.contentLength, maxSize: settings.bodySpoolMaxSize)
        c.spool = spool
        return spoolBuffered(c)
    }

    /// Moves the body bytes in the buffer (after the head) into the spool;
    /// the buffer keeps the head and whatever follows the body.
    func spoolBuffered(_ c: Connection) -> Bool {
        guard let spool = c.spool else { return false }
        let from = c.bodyHold.headEnd
        switch spool.take(UnsafePointer(c.buffer), from: from, to: c.end, limits: limits) {
        case .more:
            c.end = from
            return true
        case .done(let at):
            // What follows the body (a pipelined request) moves up to the head's end.
            let rest = c.end - at
            if rest > 0 { memmove(c.buffer + from, c.buffer + at, rest) }
            c.end = from + rest
            c.start = from
            releaseHeldBody(c)
            return true
        case .failed(let e):
            if let why = spool.failure { logger.error("cannot spool a request body: \(why) (body_temp_path)") }
            rejectHeld(c, e)
            return false
        }
    }

    /// More of a held body arrived (or the client left). Edge-triggered:
    /// read until a short read.
    func readHeldBody(_ c: Connection) {
        var filled = false
        defer {
            // The body completed on a read that filled the buffer: more (a
            // pipelined request) may wait in the socket, and no new edge comes.
            if filled && c.isWithApp { c.pendingInput = true }
        }
        while c.phase == .bufferingBody {
            if c.spool != nil {
                // The buffer past the head is a scratch area for the spool.
                if c.capacity - c.end < 16384 { c.reserve(c.end + 65536) }
            } else if c.end == c.capacity {
                c.reserve(min(c.capacity * 2, c.bodyHold.capacityNeeded))
            }
            guard c.end < c.capacity else { return releaseHeldBody(c) }
            let room = c.capacity - c.end
            let n: Int
            do {
                guard let r = try Sys.read(c.fd, c.buffer + c.end, room) else { return }
                n = r
            } catch {
                return abandonedBody(c)
            }
            // The client left before its body was whole: nobody to answer.
            if n == 0 { return abandonedBody(c) }
            c.end += n
            filled = n == room
            c.lastActive = Sys.monotonicNanos()
            if c.spool != nil {
                guard spoolBuffered(c) else { return }
            } else {
                switch c.bodyHold.check(UnsafePointer(c.buffer), end: c.end, limits: limits) {
                case .wait: break
                case .failed(let e): return rejectHeld(c, e)
                case .complete: return releaseHeldBody(c)
                case .stream:
                    guard settings.bodySpoolMaxSize > 0 else { return releaseHeldBody(c) }
                    guard startSpool(c) else { return }
                }
            }
            if n < room { return }
        }
    }

    /// The client left (or reset) before its body was whole: the app was
    /// never called; one line at info, as when an app reads a body whose
    /// client goes away.
    func abandonedBody(_ c: Connection) {
        let got = (c.spool?.length ?? 0) + (c.spool == nil ? max(0, c.end - c.bodyHold.headEnd) : 0)
        logger.info("client went away before the whole request body was received (\(got) bytes of it): connection closed")
        close(c)
    }

    /// A held body refused (malformed, too big, the spool failed).
    func rejectHeld(_ c: Connection, _ e: HTTPError) {
        c.phase = .open
        c.continueSent = false
        c.spool = nil
        reject(c, e)
    }

    /// The held body is all in (the buffer or the spool), or streams after
    /// all: the request goes to an app thread.
    func releaseHeldBody(_ c: Connection) {
        let hold = c.bodyHold
        c.phase = .open
        if c.spool == nil { c.start = hold.headEnd }
        c.requestStart = hold.headStart
        c.requestEnd = hold.headEnd
        // Other requests used this thread's parsed head meanwhile: the
        // serving thread parses it again (RequestLoop.prepare).
        context.headOf = nil
        dispatch(c)
    }

    /// A held body stalled for body_timeout: 408, as when the app reads it.
    func timeOutHeldBody(_ c: Connection) {
        rejectHeld(c, HTTPError(408, "request body not received within body_timeout"))
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
                    if let slot = workerSlot { gw_score_add_bytes_out(slot, UInt64(n)) }
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
        resume(c)
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
        ctx.headOf = nil
        ctx.connection = c
        ctx.rejectedLine = nil
        ctx.response.status = held.status
        ctx.response.bodySent = max(0, held.bodySent - (c.responseBuffer?.count ?? 0))
        log.write(ctx, durationNs: Sys.monotonicNanos() &- held.started)
    }
}
