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
        // Reads straight into uninitialized array storage (no zero-filling):
        // with a Content-Length, one allocation of that size plus one byte,
        // room for the read that returns 0 or tells "too large".
        let most = limit == .max ? Int.max : limit + 1
        var want = min((contentLength ?? 16 * 1024) + 1, most, 16 * 1024 * 1024 + 1)
        var body: [UInt8] = []
        while true {
            var ended = false
            let chunk = try [UInt8](unsafeUninitializedCapacity: want) { buffer, count in
                (count, ended) = try fill(buffer)
            }
            if body.isEmpty { body = chunk } else { body.append(contentsOf: chunk) }
            if body.count > limit { throw GatewayError.bodyTooLarge(limit: limit) }
            if ended { return body }
            want = min(max(body.count, 16 * 1024), most - body.count)
        }
    }

    /// Reads into `buffer` until it is full or the body ends: how many
    /// bytes, and whether a read returned 0 (the end).
    private func fill(_ buffer: UnsafeMutableBufferPointer<UInt8>) throws -> (Int, Bool) {
        var count = 0
        while count < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[count...])))
            if n == 0 { return (count, true) }
            count += n
        }
        return (count, false)
    }

    /// Reads the rest of the body as UTF-8 text (invalid bytes become U+FFFD).
    public func readText(limit: Int = .max) throws -> String {
        String(decoding: try readAll(limit: limit), as: UTF8.self)
    }
}
