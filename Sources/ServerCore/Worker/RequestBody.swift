#if canImport(Glibc)
import Glibc
#endif

/// The input stream of one request (wsgi.input): the body de-chunked, read
/// on demand from the connection, never past its end. The request head
/// stays where it is in the connection's buffer: body bytes are refilled
/// only after it (`floor`), so everything built from the head (environ,
/// access log, error-log labels) reads the head, whatever the body does.
final class RequestBody {
    enum Phase: Equatable {
        /// No body, or read to its end.
        case done
        case length(remaining: Int)
        case chunked
        /// FastCGI STDIN records (RequestBody+FastCGI.swift).
        case records
        /// Received whole into a file by the loop (BodySpool): read from
        /// there, `offset` of `length`.
        case spooled(offset: Int, length: Int)
        /// Refused by the server: `error` says why (400, 408, 413).
        case failed
        /// The client closed the connection or reset it.
        case clientGone
    }

    /// Expect: 100-continue.
    enum Continue { case notExpected, owed, sent }

    var phase = Phase.done
    private(set) var continuePhase = Continue.notExpected
    private(set) var error: HTTPError?
    var bytesIn = 0
    var decoder = ChunkedDecoder()
    var stdin = FastCGIStdinDecoder(requestId: 0)
    /// FastCGI: the web server sent ABORT_REQUEST.
    var aborted = false
    var connection: Connection!
    /// Where body bytes may be refilled in the buffer: just past the head.
    var floor = 0
    let limits: HTTPLimits
    /// GET_VALUES' answer, for one that arrives among the STDIN records.
    var fastcgiCapacity = FastCGIRecord.Capacity()
    let timeoutMs: Int32

    static let continueLine: StaticString = "HTTP/1.1 100 Continue\r\n\r\n"
    /// Room a chunked refill needs after the head before the buffer grows.
    static let minimumRefill = 4096

    init(limits: HTTPLimits, timeoutMs: Int32) {
        self.limits = limits
        self.timeoutMs = timeoutMs
    }

    @inline(__always)
    func begin(_ head: RequestHead, connection: Connection) {
        self.connection = connection
        floor = connection.start
        error = nil
        bytesIn = 0
        continuePhase = head.expectContinue ? .owed : .notExpected
        if let spool = connection.spool {
            // The loop has it all, and sent 100 Continue if it was asked for.
            phase = spool.length > 0 ? .spooled(offset: 0, length: spool.length) : .done
            continuePhase = .notExpected
        } else if connection.conformance.bodyFraming == .records {
            beginRecords(connection)
        } else if head.chunked {
            phase = .chunked
            decoder = ChunkedDecoder()
        } else if head.contentLength > 0 {
            phase = .length(remaining: head.contentLength)
        } else {
            phase = .done
        }
    }

    var isDone: Bool { phase == .done }
    /// The server refused the body or the client left: the app's response is moot.
    var isBroken: Bool { phase == .failed || phase == .clientGone }

    /// Up to `len` body bytes into `dest`: the count, 0 at the end, -1 when
    /// refused (`phase` says why). `output` sends the 100 Continue first.
    func read(_ dest: UnsafeMutableRawPointer, _ len: Int, output: SocketOutput, responseStarted: Bool) -> Int {
        if len == 0 { return 0 }
        switch phase {
        case .done: return 0
        case .failed, .clientGone: return -1
        case .records: return readRecords(dest, len, output: output)
        case .spooled(let offset, let length): return readSpooled(dest, len, offset, length)
        case .length, .chunked: break
        }
        if continuePhase == .owed {
            continuePhase = .sent
            // After the response started, the client's wait is over anyway.
            if !responseStarted {
                let line = Self.continueLine
                guard output.send(UnsafeRawPointer(line.utf8Start), line.utf8CodeUnitCount) else { return gone() }
            }
        }
        if case .length(let remaining) = phase { return readLength(dest, min(len, remaining), remaining) }
        return readChunked(dest, len)
    }

    func readLength(_ dest: UnsafeMutableRawPointer, _ want: Int, _ remaining: Int) -> Int {
        let c = connection!
        let n: Int
        if c.buffered > 0 {
            n = min(want, c.buffered)
            dest.copyMemory(from: c.buffer + c.start, byteCount: n)
            c.start += n
        } else {
            // Nothing buffered: read straight into the app's buffer, never past the body.
            guard let got = receive(into: dest, want) else { return -1 }
            n = got
        }
        bytesIn += n
        phase = n == remaining ? .done : .length(remaining: remaining - n)
        return n
    }

    func readSpooled(_ dest: UnsafeMutableRawPointer, _ len: Int, _ offset: Int, _ length: Int) -> Int {
        guard let spool = connection.spool else { return fail(HTTPError(500, "request body spool gone")) }
        let n = Sys.pread(spool.fd, dest, min(len, length - offset), offset)
        if n <= 0 { return n == 0 ? 0 : fail(HTTPError(500, "cannot read the spooled request body")) }
        bytesIn += n
        phase = offset + n == length ? .done : .spooled(offset: offset + n, length: length)
        return n
    }

    func readChunked(_ dest: UnsafeMutableRawPointer, _ len: Int) -> Int {
        let c = connection!
        while true {
            if c.buffered == 0 {
                guard refill(c) else { return -1 }
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
                phase = .done
                return 0
            case .failed(let e):
                return fail(e)
            }
        }
    }

    /// Reads more of a chunked body into the buffer after the head.
    func refill(_ c: Connection) -> Bool {
        if c.capacity - floor < Self.minimumRefill { _ = c.grow(limit: floor + 4 * Self.minimumRefill) }
        c.start = floor
        c.end = floor
        guard let n = receive(into: c.buffer + floor, c.capacity - floor) else { return false }
        c.end = floor + n
        return true
    }

    /// recv() with a poll for body_timeout; nil on EOF, error or timeout.
    func receive(into dest: UnsafeMutableRawPointer, _ len: Int) -> Int? {
        let fd = connection.fd
        while true {
            do {
                if let n = try Sys.read(fd, dest, len) {
                    if n == 0 { _ = gone(); return nil }
                    return n
                }
                if try !Sys.poll(fd, events: Int16(POLLIN), timeoutMs: timeoutMs) {
                    _ = fail(HTTPError(408, "request body not received within body_timeout"))
                    return nil
                }
            } catch {
                _ = gone()
                return nil
            }
        }
    }

    func fail(_ e: HTTPError) -> Int {
        error = e
        phase = .failed
        return -1
    }

    func gone() -> Int {
        phase = .clientGone
        return -1
    }

    /// Whether `drain(budget:)` is expected to read the rest of the body: a
    /// known length within the budget, or a chunked body (its size is
    /// unknown: apps that answer while reading, as an echo does, keep their
    /// connection); not when the client still waits for 100 Continue.
    func willDrain(budget: Int) -> Bool {
        switch phase {
        case .done: return true
        case .failed, .clientGone: return false
        case .chunked: return continuePhase != .owed
        case .records, .spooled: return true
        case .length(let remaining): return remaining <= budget && continuePhase != .owed
        }
    }

    /// After the app returned: reads and drops what it left of the body, up
    /// to `budget` bytes, so the next request starts at the right byte.
    /// False when the body was not read to its end (the connection then
    /// closes, lingering).
    func drain(budget: Int, output: SocketOutput, responseStarted: Bool) -> Bool {
        switch phase {
        case .done: return true
        case .failed, .clientGone: return false
        case .spooled:
            phase = .done  // in a file: nothing left on the wire
            return true
        case .length, .chunked, .records: break
        }
        // The client still waits for 100 Continue: it has not sent the body.
        if continuePhase == .owed { return false }
        var left = budget
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 16384, alignment: 8)
        defer { scratch.deallocate() }
        while left > 0 {
            let n = read(scratch, min(16384, left), output: output, responseStarted: responseStarted)
            if n <= 0 { break }
            left -= n
        }
        return phase == .done
    }
}
