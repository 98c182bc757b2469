#if canImport(Glibc)
import Glibc
#endif

/// A FastCGI response on the wire: the bytes the encoder hands over (the
/// CGI head, the body) cut into STDOUT records of at most
/// FastCGIRecord.maxContent bytes, padded to 8, sent with sendmsg() from
/// where they are: the body is never copied to be framed.
extension ConnectionOutput {
    static let zeros = [UInt8](repeating: 0, count: 8)

    /// `a` then `b` as STDOUT records.
    func stdout(_ a: UnsafeRawPointer, _ an: Int, _ b: UnsafeRawPointer, _ bn: Int) -> Bool {
        let total = an + bn
        if total == 0 { return true }
        firstRecord()
        var offset = 0
        return Self.zeros.withUnsafeBytes { zeros in
            while offset < total {
                var records = 0, vectors = 0
                while offset < total && records < Self.recordsPerSend {
                    let n = min(FastCGIRecord.maxContent, total - offset)
                    let h = headers + records * FastCGIRecord.headerSize
                    FastCGIRecord.writeHeader(h, type: .stdout, requestId: fastcgiRequest, contentLength: n)
                    add(&vectors, UnsafeRawPointer(h), FastCGIRecord.headerSize)
                    // The slice [offset, offset + n) of a ++ b.
                    if offset < an { add(&vectors, a + offset, min(an - offset, n)) }
                    let fromB = max(0, offset - an)
                    let inB = offset + n - max(offset, an)
                    if inB > 0 { add(&vectors, b + fromB, inB) }
                    let pad = FastCGIRecord.padding(n)
                    if pad > 0 { add(&vectors, zeros.baseAddress!, pad) }
                    offset += n
                    records += 1
                }
                let ending = offset >= total && responseComplete()
                if ending { add(&vectors, UnsafeRawPointer(writeEnd()), Self.endSize) }
                guard sendAll(vectors) else { return false }
                if ending { endSent = true }
            }
            return true
        }
    }

    @inline(__always)
    func add(_ vectors: inout Int, _ p: UnsafeRawPointer, _ n: Int) {
        iov[vectors] = iovec(iov_base: UnsafeMutableRawPointer(mutating: p), iov_len: n)
        vectors += 1
    }

    @inline(__always)
    func firstRecord() {
        if let hook = beforeFirstRecord {
            beforeFirstRecord = nil
            hook()
        }
    }

    /// Sends iov[0..<count] whole, waiting (body_timeout) when the socket is full.
    func sendAll(_ count: Int) -> Bool {
        var first = 0
        while first < count {
            do {
                guard var n = try Sys.sendv(socket.fd, iov + first, count - first) else {
                    if !socket.waitWritable() { return false }
                    continue
                }
                socket.bytesOut += n
                while first < count && n >= iov[first].iov_len {
                    n -= iov[first].iov_len
                    first += 1
                }
                if n > 0 {
                    iov[first].iov_base += n
                    iov[first].iov_len -= n
                }
            } catch {
                return false
            }
        }
        return true
    }

    /// A file as STDOUT records: each record's header, then sendfile() for
    /// its content (a multiple of 8 but the last, whose padding follows).
    func stdoutFile(_ fd: Int32, offset: off_t, count: Int) -> (SendFileResult, sent: Int) {
        firstRecord()
        var sent = 0
        var header = [UInt8](repeating: 0, count: FastCGIRecord.headerSize)
        while sent < count {
            let n = min(FastCGIRecord.maxContent, count - sent)
            header.withUnsafeMutableBufferPointer {
                FastCGIRecord.writeHeader($0.baseAddress!, type: .stdout, requestId: fastcgiRequest, contentLength: n)
            }
            guard header.withUnsafeBytes({ socket.send($0.baseAddress!, $0.count) }) else { return (.clientGone, sent) }
            let (result, k) = socket.sendFile(fd, offset: offset + off_t(sent), count: n)
            sent += k
            // A short or failed file leaves a record short of its length:
            // the encoder aborts the response and the connection closes.
            guard result == .sent else { return (result, sent) }
            let pad = FastCGIRecord.padding(n)
            if pad > 0 && !Self.zeros.withUnsafeBytes({ socket.send($0.baseAddress!, pad) }) { return (.clientGone, sent) }
        }
        return (.sent, sent)
    }

    /// The empty STDOUT and END_REQUEST (appStatus 0, FCGI_REQUEST_COMPLETE) into `end`.
    func writeEnd() -> UnsafeMutablePointer<UInt8> {
        FastCGIRecord.writeHeader(end, type: .stdout, requestId: fastcgiRequest, contentLength: 0)
        FastCGIRecord.writeHeader(end + 8, type: .endRequest, requestId: fastcgiRequest, contentLength: 8)
        (end + 16).update(repeating: 0, count: 8)
        return end
    }

    /// The end of the request's response: the empty STDOUT and END_REQUEST,
    /// unless they went out with the last STDOUT record.
    func endRequest(appStatus: UInt32) -> Bool {
        let id = fastcgiRequest
        let sent = endSent
        fastcgiRequest = 0
        beforeFirstRecord = nil
        guard id != 0, !sent else { return true }
        let bytes = FastCGIRecord.endRequest(id, appStatus: appStatus)
        return bytes.withUnsafeBytes { socket.send($0.baseAddress!, $0.count) }
    }
}
