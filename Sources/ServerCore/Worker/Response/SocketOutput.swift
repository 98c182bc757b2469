#if canImport(Glibc)
import Glibc
#endif
import CGateway

/// The response output of a worker: the connection's non-blocking socket,
/// waited on with poll() for at most body_timeout when it is full (a client
/// that stops reading for that long is gone).
final class SocketOutput: ResponseOutput {
    var fd: Int32 = -1
    let timeoutMs: Int32
    /// Bytes handed to the kernel for the current request.
    var bytesOut = 0
    var log: (Int32, String) -> Void = { _, _ in }

    init(timeoutMs: Int32) {
        self.timeoutMs = timeoutMs
    }

    @inline(__always)
    func send(_ p: UnsafeRawPointer, _ n: Int) -> Bool {
        var done = 0
        while done < n {
            do {
                if let sent = try Sys.send(fd, p + done, n - done) {
                    done += sent
                    bytesOut += sent
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

    func waitWritable() -> Bool {
        do {
            if try Sys.poll(fd, events: Int16(POLLOUT), timeoutMs: timeoutMs) { return true }
            log(GATEWAY_LOG_INFO, "client stopped reading the response for body_timeout: connection closed")
        } catch {}
        return false
    }
}

