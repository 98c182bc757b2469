#if canImport(Glibc)
import Glibc
#endif
import CSupport
import ServerCore

/// The self-pipe: signal handlers (in C) only write the signal number to
/// it; the loop that owns the queue reads them and does the work.
public final class SignalQueue {
    public let readFD: Int32
    let writeFD: Int32

    public init(catching signals: [Int32], ignoring ignored: [Int32] = [Signals.pipe]) throws {
        let p = try Sys.pipe(cloexec: true, nonblocking: true)
        readFD = p.read
        writeFD = p.write
        gw_signal_pipe(writeFD)
        for s in signals { _ = gw_signal_catch(s) }
        // Caught and unblocked: a mask inherited from whoever started us
        // (a spawn from a thread that blocks signals) must not leave the
        // master deaf to TERM, HUP or TTIN.
        for s in signals { _ = gw_signal_unblock(s) }
        for s in ignored { _ = gw_signal_ignore(s) }
    }

    /// The signals received since the last call, in order.
    public func drain() -> [Int32] {
        var out: [Int32] = []
        var buf = [UInt8](repeating: 0, count: 64)
        while true {
            let n = buf.withUnsafeMutableBytes { (try? Sys.read(readFD, $0.baseAddress!, 64)) ?? nil }
            guard let n, n > 0 else { break }
            out.append(contentsOf: buf[0..<n].map { Int32($0) })
        }
        return out
    }

    /// For a forked child: forget the parent's pipe.
    public func closeInChild() {
        Sys.close(readFD)
        Sys.close(writeFD)
    }
}
