#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSupport
import SystemPackage

/// The one layer that calls libc. Every wrapper retries EINTR, reports
/// EAGAIN as "would block" (nil), and throws a `SystemError` naming the
/// call for anything else. Nothing outside this file calls these libc
/// functions directly.
public enum Sys {
    @inline(__always)
    static var errno: Errno { Errno(rawValue: Glibc.errno) }

    /// Runs `body` until it does not fail with EINTR.
    @inline(__always)
    static func retrying<T: BinaryInteger>(_ body: () -> T) -> T {
        while true {
            let r = body()
            if r == -1 && Glibc.errno == EINTR { continue }
            return r
        }
    }

    @inline(__always)
    public static func check<T: BinaryInteger>(_ call: String, _ subject: String = "", _ body: () -> T) throws -> T {
        let r = retrying(body)
        if r == -1 { throw SystemError(call, subject, errno: errno) }
        return r
    }

    /// Like `check`, but EAGAIN/EWOULDBLOCK give nil.
    @inline(__always)
    static func checkNonBlocking<T: BinaryInteger>(_ call: String, _ body: () -> T) throws -> T? {
        let r = retrying(body)
        if r == -1 {
            let e = Glibc.errno
            if e == EAGAIN || e == EWOULDBLOCK { return nil }
            throw SystemError(call, errno: Errno(rawValue: e))
        }
        return r
    }

    // MARK: descriptors

    public static func close(_ fd: Int32) {
        // close() is never retried on EINTR on Linux: the fd is gone either way.
        _ = Glibc.close(fd)
    }

    @inline(__always)
    public static func read(_ fd: Int32, _ buf: UnsafeMutableRawPointer, _ count: Int) throws -> Int? {
        try checkNonBlocking("read") { gw_read(fd, buf, count) }
    }

    @inline(__always)
    public static func write(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int) throws -> Int? {
        try checkNonBlocking("write") { Glibc.write(fd, buf, count) }
    }

    /// Writes all bytes to a blocking descriptor (logs, pipes).
    public static func writeAll(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int) throws {
        var done = 0
        while done < count {
            guard let n = try write(fd, buf + done, count - done) else {
                _ = try poll(fd, events: Int16(POLLOUT), timeoutMs: 1000)
                continue
            }
            done += n
        }
    }

    public static func writeAll(_ fd: Int32, _ string: String) throws {
        var s = string
        try s.withUTF8 { try writeAll(fd, $0.baseAddress!, $0.count) }
    }

    @inline(__always)
    public static func send(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int) throws -> Int? {
        try checkNonBlocking("send") { gw_send(fd, buf, count) }
    }

    @inline(__always)
    public static func writev2(_ fd: Int32, _ a: UnsafeRawPointer, _ alen: Int, _ b: UnsafeRawPointer, _ blen: Int) throws -> Int? {
        try checkNonBlocking("sendmsg") { gw_writev2(fd, a, alen, b, blen) }
    }

    /// sendmsg() of `count` iovecs (MSG_NOSIGNAL); nil when it would block.
    public static func sendv(_ fd: Int32, _ iov: UnsafeMutablePointer<iovec>, _ count: Int) throws -> Int? {
        try checkNonBlocking("sendmsg") {
            var msg = msghdr()
            msg.msg_iov = iov
            msg.msg_iovlen = count
            return Glibc.sendmsg(fd, &msg, Int32(MSG_NOSIGNAL))
        }
    }

    public static func sendfile(_ out: Int32, _ input: Int32, offset: inout off_t, count: Int) throws -> Int? {
        try checkNonBlocking("sendfile") { gw_sendfile(out, input, &offset, count) }
    }

    public static func pipe(cloexec: Bool = true, nonblocking: Bool = false) throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        var flags: Int32 = cloexec ? O_CLOEXEC : 0
        if nonblocking { flags |= O_NONBLOCK }
        _ = try check("pipe2") { gw_pipe2(&fds, flags) }
        return (fds[0], fds[1])
    }

    /// A SOCK_SEQPACKET pair: message boundaries kept, EOF when the peer dies.
    public static func seqpacketPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        _ = try check("socketpair") {
            socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
        }
        return (fds[0], fds[1])
    }

    public static func setNonBlocking(_ fd: Int32, _ on: Bool = true) throws {
        let flags = try check("fcntl", "F_GETFL") { fcntl(fd, F_GETFL) }
        _ = try check("fcntl", "F_SETFL") { fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) }
    }

    public static func setCloseOnExec(_ fd: Int32, _ on: Bool) throws {
        let flags = try check("fcntl", "F_GETFD") { fcntl(fd, F_GETFD) }
        _ = try check("fcntl", "F_SETFD") { fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC) }
    }

    /// A new descriptor for the same file (close-on-exec).
    public static func dup(_ fd: Int32) throws -> Int32 {
        try check("fcntl", "F_DUPFD_CLOEXEC") { fcntl(fd, F_DUPFD_CLOEXEC, 3) }
    }

    public static func dup2(_ from: Int32, _ to: Int32) throws {
        _ = try check("dup2") { Glibc.dup2(from, to) }
    }

    // MARK: inotify (reload = true)

    public struct InotifyEvent {
        public let wd: Int32
        public let mask: UInt32
        public let name: String
        public var isFolder: Bool { mask & UInt32(IN_ISDIR) != 0 }
    }

    public static func inotifyInit() throws -> Int32 {
        try check("inotify_init1") { inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) }
    }

    public static func inotifyAddWatch(_ fd: Int32, _ path: String, mask: UInt32) throws -> Int32 {
        try check("inotify_add_watch", path) { inotify_add_watch(fd, path, mask) }
    }

    /// Every event queued on `fd` now (none when it would block).
    public static func inotifyRead(_ fd: Int32) -> [InotifyEvent] {
        var events: [InotifyEvent] = []
        let size = 65536
        let buf = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { buf.deallocate() }
        while let n = try? read(fd, buf, size), n > 0 {
            var o = 0
            while o + 16 <= n {
                let wd = buf.load(fromByteOffset: o, as: Int32.self)
                let mask = buf.load(fromByteOffset: o + 4, as: UInt32.self)
                let length = Int(buf.load(fromByteOffset: o + 12, as: UInt32.self))
                let namePtr = (buf + o + 16).assumingMemoryBound(to: CChar.self)
                let name = length > 0 ? String(cString: namePtr) : ""
                events.append(InotifyEvent(wd: wd, mask: mask, name: name))
                o += 16 + length
            }
        }
        return events
    }

    /// The names of the folders in `path` (not following links), or none.
    public static func subfolders(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The size of the regular file open as `fd`; nil for a bad descriptor
    /// or anything else than a regular file.
    public static func regularFileSize(_ fd: Int32) -> Int? {
        let size = gw_regular_file_size(fd)
        return size >= 0 ? Int(size) : nil
    }

    /// Whether this process is refused (EACCES) reading `path` (or, with
    /// `read: false`, entering it); a missing path is not a refusal.
    public static func accessDenied(_ path: String, read: Bool) -> Bool {
        Glibc.access(path, read ? R_OK : X_OK) != 0 && Glibc.errno == EACCES
    }

    /// Whether `path` names anything (a dangling link does not). A path
    /// this process may not look into counts as there.
    public static func fileExists(_ path: String) -> Bool {
        Glibc.access(path, F_OK) == 0 || Glibc.errno == EACCES
    }

    /// Whether `path` is a folder this process may enter.
    public static func isSearchable(_ path: String) -> Bool { Glibc.access(path, X_OK) == 0 }

    /// Whether `path` is a folder.
    public static func isFolder(_ path: String) -> Bool { opendir(path).map { closedir($0); return true } ?? false }

    /// Whether this process may read `path`.
    public static func isReadable(_ path: String) -> Bool {
        Glibc.access(path, R_OK) == 0
    }

    /// A variable of this process's environment.
    public static func environment(_ name: String) -> String? {
        Glibc.getenv(name).map { String(cString: $0) }
    }

    public static func unsetenv(_ name: String) { _ = Glibc.unsetenv(name) }

    /// The target of the symbolic link `path`, nil when it is none.
    public static func readLink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = Glibc.readlink(path, &buf, 4095)
        return n > 0 ? String(cString: buf) : nil
    }

    /// execv(): replaces this process; returns only with the error.
    public static func exec(_ path: String, _ args: [String]) -> SystemError {
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        argv.append(nil)
        Glibc.execv(path, &argv)
        return SystemError("execv", path, errno: errno)
    }

    /// A dup of descriptor `target` of process `pid` (pidfd_open, pidfd_getfd).
    public static func takeDescriptor(_ target: Int32, of pid: pid_t) throws -> Int32 {
        let pidfd = try check("pidfd_open", "\(pid)") { gw_pidfd_open(pid) }
        defer { close(pidfd) }
        return try check("pidfd_getfd", "fd \(target) of \(pid)") { gw_pidfd_getfd(pidfd, target) }
    }

    public static func setenv(_ name: String, _ value: String) throws {
        _ = try check("setenv", name) { Glibc.setenv(name, value, 1) }
    }

    public static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) throws -> Int32 {
        try check("open", path) { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    /// Whether `fd` is a regular file (a log file, not a pipe or a tty).
    /// The device and inode of what `fd` is open on (JOURNAL_STREAM names the journal's so).
    public static func deviceAndInode(_ fd: Int32) -> (device: UInt64, inode: UInt64)? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// Sends `sig` to the main thread of `pid` (its tid is the pid): the
    /// thread that serves requests, for a stack dump of it.
    public static func signalMainThread(_ pid: pid_t, _ sig: Int32) -> Bool {
        gw_tgkill(pid, pid, sig) == 0
    }

    /// Sends `sig` to thread `tid` of `pid` (an app thread, for a stack
    /// dump of the request it is stuck on).
    public static func signalThread(_ pid: pid_t, _ tid: pid_t, _ sig: Int32) -> Bool {
        gw_tgkill(pid, tid, sig) == 0
    }

    /// Reads up to `limit` bytes of `fd` from offset 0 without moving its offset.
    public static func readFromStart(_ fd: Int32, limit: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: limit)
        var n = 0
        while n < limit {
            let r = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + n, limit - n, off_t(n)) }
            if r < 0 && Glibc.errno == EINTR { continue }
            if r <= 0 { break }
            n += r
        }
        return Array(out[..<n])
    }

    public static func isRegularFile(_ fd: Int32) -> Bool {
        var st = stat()
        return fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    /// Takes back the last `count` bytes this process appended to `fd`
    /// (O_APPEND) if nothing was appended after them: a line cut short by a
    /// full disk leaves no fragment. False when another writer came after.
    public static func truncateOwnTail(_ fd: Int32, count: Int) -> Bool {
        let end = lseek(fd, 0, SEEK_CUR)
        var st = stat()
        guard end >= count, fstat(fd, &st) == 0, st.st_size == end else { return false }
        return retrying { ftruncate(fd, end - off_t(count)) } == 0
    }

    public static func poll(_ fd: Int32, events: Int16, timeoutMs: Int32) throws -> Bool {
        var p = pollfd(fd: fd, events: events, revents: 0)
        let n = try check("poll") { Glibc.poll(&p, 1, timeoutMs) }
        return n > 0
    }

    /// poll() on several descriptors; 0 when interrupted by a signal.
    public static func poll(_ fds: inout [pollfd], timeoutMs: Int32) -> Int {
        let n = fds.withUnsafeMutableBufferPointer { Glibc.poll($0.baseAddress, nfds_t($0.count), timeoutMs) }
        return n < 0 ? 0 : Int(n)
    }

    /// Sleeps `micros` microseconds (a short pause in a bounded wait).
    public static func sleep(micros: UInt32) { _ = usleep(micros) }

    // MARK: files

    public static func fchown(_ fd: Int32, uid: uid_t, gid: gid_t) throws {
        _ = try check("fchown") { Glibc.fchown(fd, uid, gid) }
    }

    public static func rename(_ from: String, _ to: String) throws {
        _ = try check("rename", "\(from) to \(to)") { Glibc.rename(from, to) }
    }

    /// Removes `path`; a missing file is not an error.
    public static func unlink(_ path: String) { _ = Glibc.unlink(path) }

    /// Whether `path` itself (not a link's target) is a unix socket file.
    public static func isSocketFile(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK
    }

    public static func chmod(_ path: String, _ mode: mode_t) throws {
        _ = try check("chmod", path) { Glibc.chmod(path, mode) }
    }

    /// Whether this process may execute `path`.
    public static func checkExecutable(_ path: String) throws {
        _ = try check("access", path) { Glibc.access(path, X_OK) }
    }

    /// fcntl(F_DUPFD): a duplicate of `fd` numbered `minimum` or above.
    public static func duplicate(_ fd: Int32, atLeast minimum: Int32) throws -> Int32 {
        try check("fcntl", "F_DUPFD") { fcntl(fd, F_DUPFD, minimum) }
    }

    // MARK: users

    /// getpwnam(): uid and primary gid of `name`, nil when there is no such user.
    public static func user(named name: String) -> (uid: uid_t, gid: gid_t)? {
        guard let pw = getpwnam(name) else { return nil }
        return (pw.pointee.pw_uid, pw.pointee.pw_gid)
    }

    /// getgrnam(): the gid of `name`, nil when there is no such group.
    public static func group(named name: String) -> gid_t? { getgrnam(name)?.pointee.gr_gid }

    public static func effectiveUID() -> uid_t { geteuid() }

        // MARK: epoll

    public static func epollCreate() throws -> Int32 {
        try check("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
    }

    public static func epollAdd(_ ep: Int32, _ fd: Int32, events: UInt32, data: UInt64) throws {
        _ = try check("epoll_ctl", "EPOLL_CTL_ADD") { gw_epoll_ctl(ep, EPOLL_CTL_ADD, fd, events, data) }
    }

    public static func epollModify(_ ep: Int32, _ fd: Int32, events: UInt32, data: UInt64) throws {
        _ = try check("epoll_ctl", "EPOLL_CTL_MOD") { gw_epoll_ctl(ep, EPOLL_CTL_MOD, fd, events, data) }
    }

    public static func epollDelete(_ ep: Int32, _ fd: Int32) {
        _ = gw_epoll_ctl(ep, EPOLL_CTL_DEL, fd, 0, 0)
    }

    @inline(__always)
    public static func epollWait(_ ep: Int32, _ datas: UnsafeMutablePointer<UInt64>, _ events: UnsafeMutablePointer<UInt32>, max: Int32, timeoutMs: Int32) throws -> Int {
        let n = gw_epoll_wait(ep, datas, events, max, timeoutMs)
        if n == -1 {
            if Glibc.errno == EINTR { return 0 }
            throw SystemError("epoll_wait", errno: errno)
        }
        return Int(n)
    }

    // MARK: sockets

    /// accept4() with SOCK_NONBLOCK|SOCK_CLOEXEC; nil when the queue is empty.
    @inline(__always)
    public static func accept(_ fd: Int32, _ addr: UnsafeMutablePointer<sockaddr_storage>, _ len: UnsafeMutablePointer<socklen_t>) throws -> Int32? {
        let r = retrying { gw_accept(fd, addr, len) }
        if r == -1 {
            let e = Glibc.errno
            // Errors that concern the one connection, not the listener: skip it.
            if e == EAGAIN || e == EWOULDBLOCK || e == ECONNABORTED || e == EPROTO || e == EPERM { return nil }
            throw SystemError("accept4", errno: Errno(rawValue: e))
        }
        return r
    }

    /// Milliseconds since data last arrived on the TCP connection `fd`
    /// (TCP_INFO), nil when the kernel does not tell (a unix socket).
    public static func msSinceLastData(_ fd: Int32) -> UInt64? {
        let ms = gw_tcp_last_data_ms(fd)
        return ms < 0 ? nil : UInt64(ms)
    }

    public static func setIntOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, _ label: String) throws {
        var v = value
        _ = try check("setsockopt", label) { setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// A new stream socket (close-on-exec) of `family`.
    public static func streamSocket(family: Int32, _ subject: String) throws -> Int32 {
        try check("socket", subject) { Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
    }

    /// connect() to the unix socket at `path` (blocking descriptor).
    public static func connectUnix(_ fd: Int32, _ path: String) throws {
        var a = sockaddr_un()
        a.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &a.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8.prefix(raw.count - 1)))
        }
        _ = try check("connect", path) {
            withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
    }

    /// getsockname(): the socket's own address, nil when it has none.
    public static func localAddress(_ fd: Int32) -> (storage: sockaddr_storage, length: socklen_t)? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        } == 0
        return ok ? (storage, len) : nil
    }

    public static func shutdownWrite(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// SO_LINGER 0: the next close() of a TCP socket sends a reset, not a
    /// FIN, and drops what the kernel had not sent yet (a unix socket
    /// closes as usual). For a response that must not look ended.
    public static func resetOnClose(_ fd: Int32) {
        var l = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
    }

    // MARK: processes

    public static func fork() throws -> pid_t {
        try check("fork") { gw_fork() }
    }

    /// Waits for the child `pid` to end; its wait status.
    public static func waitChild(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        _ = retrying { Glibc.waitpid(pid, &status, 0) }
        return status
    }

    public static func kill(_ pid: pid_t, _ sig: Int32) {
        _ = Glibc.kill(pid, sig)
    }

    /// Whether a process `pid` exists (kill(pid, 0); EPERM: it does, as another user).
    public static func processExists(_ pid: pid_t) -> Bool {
        Glibc.kill(pid, 0) == 0 || Glibc.errno == EPERM
    }

    /// waitpid(-1, WNOHANG): the next exited child, or nil.
    public static func reapChild() -> (pid: pid_t, status: Int32)? {
        var status: Int32 = 0
        let pid = retrying { waitpid(-1, &status, WNOHANG) }
        if pid <= 0 { return nil }
        return (pid, status)
    }

    public static func getpid() -> pid_t { Glibc.getpid() }

    public static func getppid() -> pid_t { Glibc.getppid() }

    // MARK: a worker's listeners and its master (listeners.h)

    /// The listening descriptors to close once (loop or master's death, whichever is first).
    public static func registerListeners(epoll: Int32, fds: [Int32]) {
        fds.withUnsafeBufferPointer { gw_listeners_register(epoll, $0.baseAddress, Int32($0.count)) }
    }

    /// Closes the registered listeners unless already closed; true if this call did.
    @discardableResult
    public static func closeListeners() -> Bool { gw_listeners_close() != 0 }

    public static var listenersClosed: Bool { gw_listeners_closed() != 0 }

    /// PR_SET_PDEATHSIG: when `master` dies, close the listeners at once and
    /// end this process `alarmSeconds` later unless it exited by then.
    public static func watchMaster(_ master: pid_t, alarmSeconds: UInt32) throws {
        _ = try check("prctl", "PR_SET_PDEATHSIG") { gw_master_watch(master, alarmSeconds) }
    }

    public static var masterGone: Bool { gw_master_gone() != 0 }

    public static func exit(_ code: Int32) -> Never { Glibc._exit(code) }

    @inline(__always)
    public static func monotonicNanos() -> UInt64 { gw_monotonic_ns() }

    /// Seconds since the epoch (wall clock), for timestamps shown to people.
    public static func wallClockSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// The shared-memory scoreboard (mmap, MAP_SHARED): `slots` zeroed slots.
    public static func createScoreboard(slots: Int) throws -> UnsafeMutablePointer<gw_score_slot> {
        guard let board = gw_scoreboard_create(Int32(slots)) else { throw SystemError("mmap", "scoreboard", errno: errno) }
        return board
    }
}
