#if canImport(Glibc)
import Glibc
#endif

/// A request body bigger than body_buffer_size, received by the event loop
/// into an unlinked file under body_temp_path (nginx's
/// client_body_temp_path) before the app is called; the app then reads it
/// from the file (RequestBody's `.spooled`). A chunked body is written
/// de-chunked, so the app reads plain bytes either way. A client that
/// announces a big body and sends nothing holds a connection and a file
/// descriptor, not an app thread.
final class BodySpool {
    enum Step: Equatable {
        /// All of buffer[from..<to] was body: wait for more.
        case more
        /// The body ended at this offset of the buffer; what follows is the
        /// next request (pipelined).
        case done(at: Int)
        case failed(HTTPError)
    }

    let fd: Int32
    /// Body bytes written so far.
    private(set) var length = 0
    /// Content-Length: what is still to come; nil: chunked.
    private var remaining: Int?
    private var decoder = ChunkedDecoder()
    /// The largest body spooled (body_spool_max_size).
    let maxSize: Int
    /// Why the last write failed, for the error log.
    private(set) var failure: String?

    init(fd: Int32, contentLength: Int?, maxSize: Int) {
        self.fd = fd
        remaining = contentLength
        self.maxSize = maxSize
    }

    deinit { Sys.close(fd) }

    /// Takes the body bytes of buffer[from..<to] into the file.
    func take(_ buf: UnsafePointer<UInt8>, from: Int, to: Int, limits: HTTPLimits) -> Step {
        do {
            if let left = remaining {
                let n = min(left, to - from)
                if n > 0 { try Sys.writeFile(fd, buf + from, n) }
                length += n
                remaining = left - n
                return left - n == 0 ? .done(at: from + n) : .more
            }
            var i = from
            while i < to {
                switch decoder.step(buf + i, to - i, limits: limits) {
                case .data(let n):
                    guard length + n <= maxSize else {
                        return .failed(HTTPError(413, "chunked request body larger than body_spool_max_size"))
                    }
                    try Sys.writeFile(fd, buf + i, n)
                    length += n
                    i += n
                case .framing(let n): i += n
                case .needMore: return .more
                case .done(let n): return .done(at: i + n)
                case .failed(let e): return .failed(e)
                }
            }
            return .more
        } catch {
            // A full disk, a quota: the server's fault, not the client's.
            failure = "\(error)"
            return .failed(HTTPError(500, "cannot write the request body to body_temp_path"))
        }
    }

    /// A chunked decoder stops at a chunk's boundary only: the bytes of an
    /// unfinished chunk-size line stay in the buffer until the rest comes.
    /// (ChunkedDecoder keeps its own state across calls, so none do.)
}
