/// A FastCGI request's body: its STDIN records, de-framed as they are
/// read (FastCGIStdinDecoder). A large record's content is read straight
/// into the app's buffer, as a Content-Length body is.
extension RequestBody {
    func beginRecords(_ c: Connection) {
        phase = .records
        stdin = FastCGIStdinDecoder(requestId: c.fastcgi.requestId)
        aborted = false
        // No body (GET): the empty STDIN came with the parameters.
        if c.buffered >= FastCGIRecord.headerSize {
            let h = FastCGIRecord.Header(UnsafePointer(c.buffer + c.start))
            if h.version == FastCGIRecord.version && h.type == FastCGIRecord.RecordType.stdin.rawValue
                && h.requestId == c.fastcgi.requestId && h.contentLength == 0 && c.buffered >= h.size {
                c.start += h.size
                phase = .done
            }
        }
    }

    func readRecords(_ dest: UnsafeMutableRawPointer, _ len: Int, output: SocketOutput) -> Int {
        let c = connection!
        while true {
            if c.buffered == 0 && stdin.remaining > 0 {
                guard let got = receive(into: dest, min(len, stdin.remaining)) else { return -1 }
                stdin.consumed(got)
                bytesIn += got
                return got
            }
            if c.buffered == 0 {
                guard refill(c) else { return -1 }
            }
            let avail = min(c.buffered, max(len, 1))
            switch stdin.step(UnsafePointer(c.buffer + c.start), avail, maxBody: limits.maxBody) {
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
                phase = .done
                return 0
            case .aborted(let n):
                c.start += n
                aborted = true
                return gone()
            case .reply(let n, let reply):
                c.start += n
                let bytes = reply.bytes(fastcgiCapacity)
                guard bytes.withUnsafeBytes({ output.send($0.baseAddress!, $0.count) }) else { return gone() }
            case .failed(let e):
                return fail(e)
            }
        }
    }
}

extension RequestBody {
    /// How much of a FastCGI body is read ahead before the first response
    /// byte (the drain budget: what we would read and drop anyway).
    static let prereadLimit = 4 << 20

    /// Before the first STDOUT record: reads the rest of the STDIN records
    /// into the buffer (up to `prereadLimit`), undecoded, for the app to
    /// read from there. nginx stops sending a request body once the
    /// response has begun, so an app that answers while it reads (an
    /// echo) would otherwise wait for bytes that never come. A dry run of
    /// a copy of the decoder finds the empty STDIN that ends the body.
    func prereadRecords() {
        guard phase == .records, let c = connection else { return }
        var probe = stdin
        var pos = c.start
        while true {
            while pos < c.end {
                switch probe.step(UnsafePointer(c.buffer + pos), c.end - pos, maxBody: limits.maxBody) {
                case .data(let n), .framing(let n), .reply(let n, _): pos += n
                case .needMore: pos = c.end
                case .done, .aborted, .failed: return
                }
            }
            if c.end == c.capacity {
                guard c.end - floor < Self.prereadLimit, c.grow(limit: floor + Self.prereadLimit) else { return }
            }
            // EOF, an error or body_timeout: the app's next read says so.
            guard let n = receive(into: c.buffer + c.end, c.capacity - c.end) else { return }
            c.end += n
        }
    }
}
