#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import ServerCore

/// SocketOutput over a real socketpair whose reader does not read: what the
/// kernel will not take is kept for the event loop (response_buffer_size),
/// in order, up to the limit; past it the output waits as before.
@Suite(.serialized) struct SocketOutputTests {
    final class Pair {
        var fds: [Int32] = [-1, -1]
        init() {
            _ = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds)
            var small: Int32 = 4096
            setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        }
        deinit { close(fds[0]); close(fds[1]) }

        /// Everything readable now on the reading end.
        func drain() -> [UInt8] {
            var out: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(fds[1], &buf, buf.count)
                if n <= 0 { return out }
                out += buf[0..<n]
            }
        }
    }

    /// The output and its connection (keep the connection alive: the output holds it unowned, as the loop does).
    func output(_ pair: Pair, limit: Int) -> (SocketOutput, Connection) {
        let o = SocketOutput(timeoutMs: 200)
        let c = Connection(fd: pair.fds[0], listener: 0, capacity: 64, now: 0)
        o.fd = pair.fds[0]
        o.connection = c
        o.deferLimit = limit
        return (o, c)
    }

    static func bytes(_ n: Int, from start: Int = 0) -> [UInt8] { (start..<(start + n)).map { UInt8(truncatingIfNeeded: $0 * 7) } }

    @Test func whatTheSocketWillNotTakeIsKeptInOrder() {
        let pair = Pair()
        let (o, c) = output(pair, limit: 1 << 20)
        let a = Self.bytes(100_000), b = Self.bytes(5000, from: 100_000)
        #expect(o.send(a, a.count))
        #expect(o.deferred > 0 && o.bytesOut + o.deferred == a.count)
        var seen = pair.drain()
        #expect(seen.count == o.bytesOut)
        // Later bytes go after the kept ones.
        #expect(o.send(b, b.count))
        #expect(o.bytesOut + o.deferred == a.count + b.count)
        #expect(c.responseBuffer!.count == o.deferred)
        // What the loop does: send the buffer as the socket has room.
        let buffer = c.responseBuffer!
        while buffer.count > 0 {
            seen += pair.drain()
            let n = Glibc.send(pair.fds[0], buffer.unsent, buffer.count, 0)
            if n > 0 { buffer.consume(n) }
        }
        seen += pair.drain()
        #expect(seen == a + b)
    }

    @Test func keptBytesGoOutAtTheNextWriteWhenTheSocketHasRoom() {
        // A stream (small writes, a reader that catches up) must not sit behind kept bytes.
        let pair = Pair()
        let (o, c) = output(pair, limit: 1 << 20)
        defer { withExtendedLifetime(c) {} }
        let a = Self.bytes(30_000)
        #expect(o.send(a, a.count))
        #expect(o.deferred > 0)
        var seen: [UInt8] = []
        var sent = a
        for i in 0..<200 where o.deferred > 0 {
            seen += pair.drain()
            let one = [UInt8(truncatingIfNeeded: i)]
            #expect(o.send(one, 1))
            sent += one
        }
        #expect(o.deferred == 0)
        seen += pair.drain()
        #expect(seen == sent)
    }

    @Test func pastTheLimitItWaitsAndGivesUpAfterTheTimeout() {
        let pair = Pair()
        let (o, c) = output(pair, limit: 1000)
        let a = Self.bytes(200_000)
        #expect(!o.send(a, a.count))  // nobody reads: body_timeout (200 ms here)
        #expect(o.deferred == 0)
        withExtendedLifetime(c) {}
    }

    @Test func withNoLimitNothingIsKept() {
        let pair = Pair()
        let (o, c) = output(pair, limit: 0)
        let a = Self.bytes(100_000)
        #expect(!o.send(a, a.count))
        #expect(o.deferred == 0 && c.responseBuffer == nil)
    }

    @Test func keptBytesGoOutBeforeMoreThanTheLimit() {
        let pair = Pair()
        let (o, c) = output(pair, limit: 300_000)
        let a = Self.bytes(100_000)
        #expect(o.send(a, a.count))
        let kept = o.deferred
        #expect(kept > 0)
        // A reader that keeps up: the kept bytes are flushed, then the rest sent.
        let reader = Thread { var all: [UInt8] = []; for _ in 0..<400 { all += pair.drain(); usleep(1000) } }
        reader.start()
        let big = Self.bytes(400_000, from: 100_000)
        #expect(o.send(big, big.count))
        #expect(c.responseBuffer!.count == o.deferred)
        #expect(o.deferred <= 300_000)
        reader.join()
    }
}

/// A POSIX thread running `body`, for a reader beside the test.
final class Thread {
    var id = pthread_t()
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
    func start() {
        let box = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&id, nil, { p in
            let t = Unmanaged<Thread>.fromOpaque(p!).takeRetainedValue()
            t.body()
            return nil
        }, box)
    }
    func join() { pthread_join(id, nil) }
}
