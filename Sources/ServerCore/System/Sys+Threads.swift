#if canImport(Glibc)
import Glibc
#endif
import CSupport
import SystemPackage

/// Threads, the wake-up descriptor and spool files: the system calls a
/// worker's threads (RequestLoop+Threads.swift) and its body spool
/// (BodySpool.swift) make.
extension Sys {
    /// Starts a thread running `body`; it is never joined (a worker ends
    /// with _exit). The stack is the default (8 MiB of address space).
    public static func spawnThread(name: String, _ body: @escaping () -> Void) throws {
        final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { arg in
            let b = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            b.body()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            throw SystemError("pthread_create", errno: Errno(rawValue: rc))
        }
        pthread_detach(thread)
    }

    /// Names the calling thread (ps -L, top -H, gdb).
    public static func nameThread(_ name: String) { name.withCString { gw_thread_name($0) } }

    /// The calling thread's kernel id (gettid), for the scoreboard: the master aims signals at it.
    public static func threadID() -> Int32 { gw_gettid() }

    /// pthread_self() as Python's threading.get_ident() reads it.
    public static func threadIdent() -> UInt { UInt(bitPattern: Int(bitPattern: UInt(pthread_self()))) }

    /// A non-blocking eventfd: a write wakes one thread waiting in epoll
    /// (the descriptor is registered edge-triggered).
    public static func eventFD() throws -> Int32 {
        let fd = gw_eventfd()
        if fd < 0 { throw SystemError("eventfd", errno: errno) }
        return fd
    }

    public static func signalEventFD(_ fd: Int32) {
        var one: UInt64 = 1
        _ = Glibc.write(fd, &one, 8)
    }

    /// An unlinked file in `directory` (O_TMPFILE): nothing to clean up,
    /// even after kill -9. Falls back to mkstemp + unlink where the
    /// filesystem has no O_TMPFILE.
    public static func openTempFile(in directory: String) throws -> Int32 {
        let fd = directory.withCString { gw_open_tmpfile($0) }
        if fd < 0 { throw SystemError("open", "\(directory) (O_TMPFILE)", errno: errno) }
        return fd
    }

    /// Writes all of `count` bytes to a regular file (a spool).
    public static func writeFile(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int) throws {
        var done = 0
        while done < count {
            let n = Glibc.write(fd, buf + done, count - done)
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                throw SystemError("write (body spool)", errno: errno)
            }
            done += n
        }
    }

    /// pread(2), retried on EINTR; -1 on error.
    public static func pread(_ fd: Int32, _ buf: UnsafeMutableRawPointer, _ count: Int, _ offset: Int) -> Int {
        retrying { Glibc.pread(fd, buf, count, off_t(offset)) }
    }
}

/// A 32-bit word at a fixed address, 0 at first, for the futex-based
/// types below (a Swift stored property may move; a futex word must not).
public class FutexWord {
    let word: UnsafeMutablePointer<Int32>

    public init() {
        word = .allocate(capacity: 1)
        word.initialize(to: 0)
    }

    deinit {
        word.deallocate()
    }
}

/// The worker loop's lock: what the worker's threads share is touched with
/// it held (RequestLoop+Threads.swift). Uncontended, a lock and an unlock
/// are two atomic instructions and no system call (csupport.c
/// gw_loop_lock); contended, a short spin then a futex wait: the loop's
/// critical sections are a few microseconds.
public final class LoopLock: FutexWord, @unchecked Sendable {
    @inline(__always) public func lock() { gw_loop_lock(word) }
    @inline(__always) public func unlock() { gw_loop_unlock(word) }
}

/// Where a worker's spare app threads sleep while enough others wait in
/// epoll (RequestLoop+Threads.swift): a futex word, so that a thread can
/// read the generation with the loop's lock held, let the lock go and
/// sleep without missing an unpark that came in between.
public final class ParkingSpot: FutexWord, @unchecked Sendable {
    /// Read with the loop's lock held, before letting it go to `park`.
    public var generation: Int32 { gw_park_generation(word) }

    /// Sleeps unless an unpark came since `generation` was read.
    public func park(_ generation: Int32) { gw_park(word, generation) }

    /// Wakes `count` parked threads (Int32.max: all).
    public func unpark(_ count: Int32 = 1) { gw_unpark(word, count) }
}
