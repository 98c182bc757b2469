/// The rest of a response the socket would not take when the app wrote it
/// (response_buffer_size): the event loop sends it on EPOLLOUT while the
/// worker serves other requests. One per connection, made the first time
/// it is needed, reused by the connection's later requests and kept when
/// the connection is pooled, so a slow reader costs no allocation per request.
final class ResponseBuffer {
    private(set) var bytes: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    /// Unsent bytes are bytes[start..<end].
    private(set) var start = 0
    private(set) var end = 0

    init(capacity: Int) {
        self.capacity = capacity
        bytes = .allocate(capacity: capacity)
    }

    deinit { bytes.deallocate() }

    var count: Int { end - start }
    var unsent: UnsafeRawPointer { UnsafeRawPointer(bytes + start) }

    /// Keeps `n` more bytes after those already kept (the caller bounds the total).
    func append(_ p: UnsafeRawPointer, _ n: Int) {
        if end + n > capacity {
            if start > 0 {
                let kept = count
                if kept > 0 { bytes.update(from: bytes + start, count: kept) }
                start = 0; end = kept
            }
            if end + n > capacity {
                var grown = capacity * 2
                while grown < end + n { grown *= 2 }
                let b = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
                b.update(from: bytes, count: end)
                bytes.deallocate()
                bytes = b
                capacity = grown
            }
        }
        (UnsafeMutableRawPointer(bytes) + end).copyMemory(from: p, byteCount: n)
        end += n
    }

    /// `n` bytes were sent.
    func consume(_ n: Int) {
        start += n
        if start >= end { clear() }
    }

    func clear() { start = 0; end = 0 }
}
