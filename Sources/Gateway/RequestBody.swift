// The input stream (wsgi.input): the request body, de-chunked by the server.
extension Request {
    /// Reads up to `buffer.count` bytes of the body into `buffer`; returns
    /// how many, 0 at the end of the body. Blocks until some data is there.
    /// Throws why the server refused: `.clientGone`, `.requestBodyTooLarge`,
    /// `.malformedRequestBody`, `.requestBodyTimedOut` (`.readFailed` from a
    /// server that does not say).
    @inlinable
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let n = api.pointee.read.unsafelyUnwrapped(raw, base, buffer.count)
        guard n >= 0 else { throw GatewayError.refusal(raw, fallback: .readFailed) }
        return n
    }

    /// Reads up to `buffer.count` bytes into `buffer` (its count is kept);
    /// returns how many, 0 at the end of the body.
    public func read(into buffer: inout [UInt8]) throws -> Int {
        try buffer.withUnsafeMutableBytes { try read(into: $0) }
    }

    /// Reads the rest of the body. Throws `GatewayError.bodyTooLarge` when
    /// it is longer than `limit` bytes (the bytes read so far are lost).
    public func readAll(limit: Int = .max) throws -> [UInt8] {
        let chunk = 64 * 1024
        var body: [UInt8] = []
        body.reserveCapacity(min(contentLength ?? chunk, limit, 16 * 1024 * 1024) + 1)
        while true {
            let count = body.count
            let room = limit - count  // >= 0: count never passes limit here
            let want = room >= chunk ? chunk : room + 1  // one more byte tells "too large"
            body.append(contentsOf: repeatElement(0, count: want))
            let n = try body.withUnsafeMutableBytes { try read(into: UnsafeMutableRawBufferPointer(rebasing: $0[count...])) }
            body.removeLast(want - n)
            if n == 0 { return body }
            if body.count > limit { throw GatewayError.bodyTooLarge(limit: limit) }
        }
    }

    /// Reads the rest of the body as UTF-8 text (invalid bytes become U+FFFD).
    public func readText(limit: Int = .max) throws -> String {
        String(decoding: try readAll(limit: limit), as: UTF8.self)
    }
}
