#if canImport(Glibc)
import Glibc
#endif

extension RequestContext {
    static let continueLine: StaticString = "HTTP/1.1 100 Continue\r\n\r\n"

    /// The input stream: up to `len` de-chunked body bytes; 0 at the end,
    /// -1 on a client error (bodyError says which) or a timeout.
    func readBody(_ dest: UnsafeMutableRawPointer, _ len: Int) -> Int {
        if bodyDone || len == 0 { return 0 }
        if bodyError != nil || clientGone { return -1 }
        if head.expectContinue && !sentContinue && !committed {
            sentContinue = true
            let line = Self.continueLine
            if !sendAll(UnsafeRawPointer(line.utf8Start), line.utf8CodeUnitCount) { return -1 }
        }
        switch bodyMode {
        case .none:
            return 0
        case .length:
            return readLength(dest, len)
        case .chunked:
            return readChunked(dest, len)
        }
    }

    func readLength(_ dest: UnsafeMutableRawPointer, _ len: Int) -> Int {
        let want = min(len, bodyRemaining)
        let c = connection!
        if c.buffered > 0 {
            let n = min(want, c.buffered)
            dest.copyMemory(from: c.buffer + c.start, byteCount: n)
            c.start += n
            return consumed(n)
        }
        // Nothing buffered: read straight into the app's buffer, never past the body.
        guard let n = receive(into: dest, want) else { return -1 }
        return consumed(n)
    }

    @inline(__always)
    func consumed(_ n: Int) -> Int {
        bodyRemaining -= n
        bytesIn += n
        if bodyRemaining == 0 { bodyDone = true }
        return n
    }

    func readChunked(_ dest: UnsafeMutableRawPointer, _ len: Int) -> Int {
        let c = connection!
        while true {
            if c.buffered == 0 {
                c.start = 0; c.end = 0
                guard let n = receive(into: c.buffer, c.capacity) else { return -1 }
                c.end = n
            }
            let avail = min(c.buffered, max(len, 1))
            switch decoder.step(UnsafePointer(c.buffer + c.start), avail, limits: limits) {
            case .data(let n):
                dest.copyMemory(from: c.buffer + c.start, byteCount: n)
                c.start += n
                bytesIn += n
                return n
            case .framing(let n):
                c.start += n
            case .needMore:
                c.start += avail
            case .done(let n):
                c.start += n
                bodyDone = true
                return 0
            case .failed(let e):
                bodyError = e
                closeAfter = true
                return -1
            }
        }
    }

    /// recv() with a poll for the body timeout; nil on EOF, error or timeout.
    func receive(into dest: UnsafeMutableRawPointer, _ len: Int) -> Int? {
        let fd = connection.fd
        while true {
            do {
                if let n = try Sys.read(fd, dest, len) {
                    if n == 0 { clientGone = true; closeAfter = true; return nil }
                    return n
                }
                if try !Sys.poll(fd, events: Int16(POLLIN), timeoutMs: bodyTimeoutMs) {
                    bodyError = HTTPError(408, "request body timed out")
                    closeAfter = true
                    return nil
                }
            } catch {
                clientGone = true; closeAfter = true
                return nil
            }
        }
    }

    /// After the app returned: reads and drops what it left of the body so
    /// the next request on the connection starts at the right byte. Gives
    /// up (and closes) past 4 MB or when the client still waits for 100.
    func drainBody() {
        guard !bodyDone, bodyError == nil, !clientGone else { return }
        if head.expectContinue && !sentContinue { closeAfter = true; return }
        var budget = 4 << 20
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 16384, alignment: 8)
        defer { scratch.deallocate() }
        while !bodyDone && budget > 0 {
            let n = readBody(scratch, 16384)
            if n <= 0 { break }
            budget -= n
        }
        if !bodyDone { closeAfter = true }
    }
}
