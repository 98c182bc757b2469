// A fake gatewayd for the SDK tests: a gateway_api whose C function pointers
// (@convention(c) closures) find their FakeServer through the request's
// `server` field, record every call, and enforce the header's rules for
// start_response (REPLACE) and write_last.
#if canImport(Glibc)
import Glibc
#endif
import Gateway

final class FakeServer {
    enum Call: Equatable {
        case start(status: String, headers: [Pair], flags: Int32)
        case write(String)
        case writeLast(String)
        case sendFile(fd: Int32, offset: Int, count: Int)
    }

    struct Pair: Equatable, CustomStringConvertible {
        let name: String
        let value: String
        init(_ name: String, _ value: String) { self.name = name; self.value = value }
        var description: String { "\(name): \(value)" }
    }

    private(set) var calls: [Call] = []
    private(set) var logs: [(level: Int32, message: String)] = []
    /// The largest chunk one read hands out.
    var readChunk = 5
    /// Makes read fail once the body is consumed up to this offset.
    var readFailsAt: Int?
    /// Makes write and write_last fail.
    var writeFails = false
    /// What api->last_error answers (GATEWAY_E_*).
    var lastError: Int32 = GATEWAY_E_NONE

    private let environ: [(key: UnsafeMutablePointer<CChar>, value: UnsafeMutablePointer<CChar>)]
    private let body: [UInt8]
    private var bodyOffset = 0
    private var started = false
    private var bodySent = false
    private var finished = false
    let raw: UnsafeMutablePointer<gateway_request>

    init(environ: [(String, String)] = [], body: String = "", appData: UnsafeMutableRawPointer? = nil) {
        self.environ = environ.map { (strdup($0.0)!, strdup($0.1)!) }
        self.body = Array(body.utf8)
        raw = .allocate(capacity: 1)
        raw.initialize(to: gateway_request(api: UnsafePointer(FakeServer.api), app_data: appData, server: nil))
        // Retained for good: tests hand out `request` and `response`, which
        // hold only the C pointer, and a fake server is small.
        raw.pointee.server = Unmanaged.passRetained(self).toOpaque()
    }

    var request: Request { Request(raw) }
    var response: ResponseWriter { ResponseWriter(raw) }

    /// The body bytes the app sent, in order.
    var sentBody: String {
        calls.map {
            switch $0 {
            case .write(let text), .writeLast(let text): return text
            default: return ""
            }
        }.joined()
    }

    static func of(_ raw: UnsafeMutablePointer<gateway_request>?) -> FakeServer {
        Unmanaged<FakeServer>.fromOpaque(raw!.pointee.server!).takeUnretainedValue()
    }

    // MARK: The api

    func getenv(_ key: UnsafePointer<CChar>) -> UnsafePointer<CChar>? {
        environ.first { strcmp($0.key, key) == 0 }.map { UnsafePointer($0.value) }
    }

    func item(_ index: Int, _ key: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
              _ value: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
        guard index < environ.count else { return GATEWAY_ERROR }
        key?.pointee = UnsafePointer(environ[index].key)
        value?.pointee = UnsafePointer(environ[index].value)
        return GATEWAY_OK
    }

    func read(_ buffer: UnsafeMutableRawPointer?, _ length: Int) -> Int {
        if let failAt = readFailsAt, bodyOffset >= failAt { return Int(GATEWAY_ERROR) }
        var n = min(length, readChunk, body.count - bodyOffset)
        if let failAt = readFailsAt { n = min(n, failAt - bodyOffset) }
        body.withUnsafeBytes { buffer!.copyMemory(from: $0.baseAddress! + bodyOffset, byteCount: n) }
        bodyOffset += n
        return n
    }

    func log(_ level: Int32, _ message: UnsafePointer<CChar>?) {
        logs.append((level, String(cString: message!)))
    }

    func start(_ status: UnsafePointer<CChar>?, _ headers: UnsafePointer<gateway_pair>?, _ count: Int,
               _ flags: Int32) -> Int32 {
        let pairs = UnsafeBufferPointer(start: headers, count: count).map {
            Pair(String(cString: $0.name), String(cString: $0.value))
        }
        calls.append(.start(status: String(cString: status!), headers: pairs, flags: flags))
        if started && (flags & GATEWAY_REPLACE == 0 || bodySent) { return GATEWAY_ERROR }
        if pairs.contains(where: { Headers.sameName($0.name, "Connection") }) { return GATEWAY_ERROR }
        started = true
        return GATEWAY_OK
    }

    func write(_ data: UnsafeRawPointer?, _ length: Int, last: Bool) -> Int32 {
        let text = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
        calls.append(last ? .writeLast(text) : .write(text))
        guard data != nil, started, !finished, !writeFails else { return GATEWAY_ERROR }
        if length > 0 { bodySent = true }
        finished = last
        return GATEWAY_OK
    }

    func sendFile(_ fd: Int32, _ offset: off_t, _ count: Int) -> Int32 {
        calls.append(.sendFile(fd: fd, offset: Int(offset), count: count))
        guard started, !finished else { return GATEWAY_ERROR }
        bodySent = true
        return GATEWAY_OK
    }

    /// The api every fake request points to; init's log(NULL, ...) lands in `bootLogs`.
    static let api: UnsafeMutablePointer<gateway_api> = {
        let api = UnsafeMutablePointer<gateway_api>.allocate(capacity: 1)
        api.initialize(to: gateway_api(
            abi_version: GATEWAY_ABI_VERSION,
            size: UInt32(MemoryLayout<gateway_api>.size),
            getenv: { r, key in FakeServer.of(r).getenv(key!) },
            environ_count: { r in FakeServer.of(r).environ.count },
            environ_item: { r, index, key, value in FakeServer.of(r).item(index, key, value) },
            read: { r, buffer, length in FakeServer.of(r).read(buffer, length) },
            log: { r, level, message in
                if r == nil {
                    BootLog.lines.append((level, String(cString: message!)))
                } else {
                    FakeServer.of(r).log(level, message)
                }
            },
            start_response: { r, status, headers, count, flags in
                FakeServer.of(r).start(status, headers, count, flags)
            },
            write: { r, data, length in FakeServer.of(r).write(data, length, last: false) },
            sendfile: { r, fd, offset, count in FakeServer.of(r).sendFile(fd, offset, count) },
            write_last: { r, data, length in FakeServer.of(r).write(data, length, last: true) },
            last_error: { r in FakeServer.of(r).lastError }))
        return api
    }()
}

/// What apps log outside requests (only the serialized export suite uses it).
enum BootLog {
    nonisolated(unsafe) static var lines: [(level: Int32, message: String)] = []
}
