#if canImport(Glibc)
import Glibc
#endif
import CGateway

/// The response output of a worker: the connection's non-blocking socket.
/// When it is full, up to `deferLimit` (response_buffer_size) bytes are kept
/// in the connection's `ResponseBuffer` for the event loop to send after the
/// app returned; past that it is waited on with poll() for at most
/// body_timeout (a client that stops reading for that long is gone).
final class SocketOutput: ResponseOutput {
    var fd: Int32 = -1
    let timeoutMs: Int32
    /// Bytes handed to the kernel for the current request.
    var bytesOut = 0
    var log: (Int32, String) -> Void = { _, _ in }
    /// response_buffer_size; 0: every byte is sent before the app goes on.
    var deferLimit = 0
    /// The connection of the current request, whose buffer keeps deferred bytes.
    unowned(unsafe) var connection: Connection?
    /// Bytes of the current response kept in the connection's buffer: what
    /// follows goes after them.
    var deferred = 0

    init(timeoutMs: Int32) {
        self.timeoutMs = timeoutMs
    }

    @inline(__always)
    func send(_ p: UnsafeRawPointer, _ n: Int) -> Bool {
        if deferred > 0 { return sendAfterDeferred(p, n) }
        var done = 0
        while done < n {
            do {
                if let sent = try Sys.send(fd, p + done, n - done) {
                    done += sent
                    bytesOut += sent
                } else if deferRest(p + done, n - done) {
                    return true
                } else if !waitWritable() {
                    return false
                }
            } catch {
                return false
            }
        }
        return true
    }

    func send(_ a: UnsafeRawPointer, _ an: Int, _ b: UnsafeRawPointer, _ bn: Int) -> Bool {
        if deferred > 0 { return send(a, an) && send(b, bn) }
        do {
            guard let n = try Sys.writev2(fd, a, an, b, bn) else {
                return send(a, an) && send(b, bn)
            }
            bytesOut += n
            if n >= an { return send(b + (n - an), bn - (n - an)) }
            return send(a + n, an - n) && send(b, bn)
        } catch {
            return false
        }
    }

    func sendFile(_ file: Int32, offset: off_t, count: Int) -> (SendFileResult, sent: Int) {
        // A file is never deferred: the bytes kept before it go out first.
        if deferred > 0 && !sendKept(wait: true) { return (.clientGone, 0) }
        var off = offset
        var left = count
        while left > 0 {
            do {
                if let n = try Sys.sendfile(fd, file, offset: &off, count: left) {
                    if n == 0 { return (.fileShort, count - left) }
                    left -= n
                    bytesOut += n
                } else if !waitWritable() {
                    return (.clientGone, count - left)
                }
            } catch let e as SystemError {
                // EPIPE/ECONNRESET are the client's; anything else is the file's.
                if e.errno == .brokenPipe || e.errno == .connectionReset { return (.clientGone, count - left) }
                return (.failed("\(e)"), count - left)
            } catch {
                return (.clientGone, count - left)
            }
        }
        return (.sent, count)
    }

    /// Keeps `n` bytes the socket would not take for the event loop, if
    /// the response's kept bytes stay within `deferLimit`. HTTP only: a
    /// uwsgi or SCGI response goes to a proxy that buffers anyway.
    func deferRest(_ p: UnsafeRawPointer, _ n: Int) -> Bool {
        guard deferLimit > 0, deferred + n <= deferLimit, let c = connection, c.conformance.defersResponseWrites else { return false }
        let buffer: ResponseBuffer
        if let b = c.responseBuffer { buffer = b } else {
            buffer = ResponseBuffer(capacity: min(deferLimit, 16384))
            c.responseBuffer = buffer
        }
        buffer.append(p, n)
        deferred += n
        return true
    }

    /// Bytes after deferred ones: the kept bytes go first, as many as the
    /// socket takes now (a stream's later writes must not sit behind them);
    /// then these are sent, or kept too while they fit; past that the kept
    /// bytes go out first, waiting as for any big response.
    func sendAfterDeferred(_ p: UnsafeRawPointer, _ n: Int) -> Bool {
        guard sendKept(wait: false) else { return false }
        if deferred == 0 { return send(p, n) }
        if deferRest(p, n) { return true }
        return sendKept(wait: true) && send(p, n)
    }

    /// Sends the kept bytes: what the socket takes now, or (`wait`) all of
    /// them, poll()ing for at most body_timeout per wait. False when the
    /// client is gone (the kept bytes are dropped).
    func sendKept(wait: Bool) -> Bool {
        guard let buffer = connection?.responseBuffer else { deferred = 0; return true }
        defer { deferred = buffer.count }
        while buffer.count > 0 {
            do {
                if let sent = try Sys.send(fd, buffer.unsent, buffer.count) {
                    buffer.consume(sent)
                    bytesOut += sent
                } else if !wait {
                    return true
                } else if !waitWritable() {
                    buffer.clear()
                    return false
                }
            } catch {
                buffer.clear()
                return false
            }
        }
        return true
    }

    func waitWritable() -> Bool {
        do {
            if try Sys.poll(fd, events: Int16(POLLOUT), timeoutMs: timeoutMs) { return true }
            log(GATEWAY_LOG_INFO, "client stopped reading the response for body_timeout: connection closed")
        } catch {}
        return false
    }
}

