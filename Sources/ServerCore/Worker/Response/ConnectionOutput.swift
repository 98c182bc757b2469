#if canImport(Glibc)
import Glibc
#endif
import CSupport

/// The response output of a worker's connection: its socket as it is
/// (HTTP, uwsgi, SCGI) or, for FastCGI, the same socket with every byte
/// inside STDOUT records of the request being answered
/// (ConnectionOutput+FastCGI.swift). Decided per request, by the context.
final class ConnectionOutput: ResponseOutput {
    let socket: SocketOutput
    /// FastCGI: the request whose STDOUT records carry the response; 0: none.
    var fastcgiRequest: UInt16 = 0 { didSet { endSent = false } }
    /// Whether the response is complete (the encoder finished it and the
    /// body is read): its last STDOUT record then carries the empty STDOUT
    /// and END_REQUEST in the same sendmsg(). Set by the context.
    var responseComplete: () -> Bool = { false }
    /// END_REQUEST went out with the last STDOUT record.
    var endSent = false
    /// The empty STDOUT and END_REQUEST, for the request being answered.
    let end: UnsafeMutablePointer<UInt8>
    /// Called once before the first STDOUT record of a response (the
    /// context reads the rest of the request body: RequestBody.prereadRecords).
    var beforeFirstRecord: (() -> Void)?
    /// Record headers and iovecs for one sendmsg() of FastCGI records.
    let headers: UnsafeMutablePointer<UInt8>
    let iov: UnsafeMutablePointer<iovec>

    static let recordsPerSend = 16

    /// The worker's scoreboard slot: the response is claimed there before
    /// its first byte, so that a timeout's 504 and the app never both
    /// answer. nil while the server answers a head it refused (nothing of
    /// that request is on the scoreboard for the master to claim).
    var scoreboard: UnsafeMutablePointer<gw_score_slot>?

    @inline(__always)
    func claimResponse() -> Bool {
        guard let slot = scoreboard else { return true }
        return gw_score_claim_worker(slot) != 0
    }

    func regularFileSize(_ fd: Int32) -> Int? { Sys.regularFileSize(fd) }

    init(socket: SocketOutput) {
        self.socket = socket
        headers = .allocate(capacity: Self.recordsPerSend * FastCGIRecord.headerSize)
        iov = .allocate(capacity: Self.recordsPerSend * 4 + 1)
        end = .allocate(capacity: Self.endSize)
    }

    /// The empty STDOUT (8) and END_REQUEST (16).
    static let endSize = 24

    deinit {
        headers.deallocate()
        iov.deallocate()
        end.deallocate()
    }

    @inline(__always)
    func send(_ p: UnsafeRawPointer, _ n: Int) -> Bool {
        if fastcgiRequest == 0 { return socket.send(p, n) }
        return stdout(p, n, p, 0)
    }

    @inline(__always)
    func send(_ a: UnsafeRawPointer, _ an: Int, _ b: UnsafeRawPointer, _ bn: Int) -> Bool {
        if fastcgiRequest == 0 { return socket.send(a, an, b, bn) }
        return stdout(a, an, b, bn)
    }

    func sendFile(_ fd: Int32, offset: off_t, count: Int) -> (SendFileResult, sent: Int) {
        if fastcgiRequest == 0 { return socket.sendFile(fd, offset: offset, count: count) }
        return stdoutFile(fd, offset: offset, count: count)
    }
}
