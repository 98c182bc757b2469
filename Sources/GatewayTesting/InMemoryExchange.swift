#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
@_spi(Testing) import Gateway

/// One request in flight on the in-memory server: the gateway_api calls of
/// gateway.h answered from a `TestRequest`, with the server's rules for
/// start_response (status range, hop-by-hop headers, REPLACE), writes
/// (Content-Length, after write_last), body limits and framing. The C
/// entry points find it through the request's `server` field.
final class InMemoryExchange {
    let request: TestRequest
    let maxBodySize: Int?
    private let environ: [(key: UnsafeMutablePointer<CChar>, value: UnsafeMutablePointer<CChar>)]
    private var piece = 0
    private var offsetInPiece = 0
    private var bodyRead = 0

    private(set) var status: String?
    private(set) var headers: [(String, String)] = []
    private(set) var body: [UInt8] = []
    private(set) var logs: [(level: LogLevel, message: String)] = []
    private var headSent = false
    private var finished = false
    private var declaredLength: Int?
    private var aborted = false
    private var onlyWriteLast = true
    private var refusedBody: Status?
    var lastError: Int32 = GATEWAY_E_NONE
    let raw: UnsafeMutablePointer<gateway_request>

    init(_ request: TestRequest, maxBodySize: Int?, workerID: Int, appData: UnsafeMutableRawPointer?) {
        self.request = request
        self.maxBodySize = maxBodySize
        environ = request.environ(workerID: workerID).map { (strdup($0.0)!, strdup($0.1)!) }
        raw = .allocate(capacity: 1)
        raw.initialize(to: gateway_request(api: UnsafePointer(InMemoryExchange.api), app_data: appData, server: nil))
        raw.pointee.server = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        for entry in environ { free(entry.key); free(entry.value) }
        raw.deallocate()
    }

    static func of(_ raw: UnsafeMutablePointer<gateway_request>?) -> InMemoryExchange {
        Unmanaged<InMemoryExchange>.fromOpaque(raw!.pointee.server!).takeUnretainedValue()
    }

    private func fail(_ reason: Int32) -> Int32 {
        lastError = reason
        return GATEWAY_ERROR
    }

    // MARK: environ, input, errors

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
        if refusedBody != nil { return Int(fail(GATEWAY_E_BODY_TOO_LARGE)) }
        while piece < request.body.count && offsetInPiece == request.body[piece].count {
            piece += 1
            offsetInPiece = 0
        }
        guard piece < request.body.count, length > 0, let buffer else { return 0 }
        let n = min(length, request.body[piece].count - offsetInPiece)
        if let maxBodySize, bodyRead + n > maxBodySize {
            // gatewayd refuses the body and answers 413 itself.
            refusedBody = .payloadTooLarge
            return Int(fail(GATEWAY_E_BODY_TOO_LARGE))
        }
        request.body[piece].withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress! + offsetInPiece, byteCount: n) }
        offsetInPiece += n
        bodyRead += n
        return n
    }

    func log(_ level: Int32, _ message: UnsafePointer<CChar>?) {
        logs.append((LogLevel(rawValue: level) ?? .error, String(cString: message!)))
    }

    // MARK: response

    /// Headers the server sets itself and refuses from an app (a 500): the
    /// hop-by-hop ones, and Status (a second CGI Status line over SCGI and FastCGI).
    static let serverOwned = ["Connection", "Keep-Alive", "Transfer-Encoding", "TE", "Trailer", "Upgrade", "Proxy-Connection", "Status"]

    func start(_ status: UnsafePointer<CChar>?, _ pairs: UnsafePointer<gateway_pair>?, _ count: Int, _ flags: Int32) -> Int32 {
        guard refusedBody == nil, !headSent, status == nil || self.status == nil || flags & GATEWAY_REPLACE != 0,
              self.status == nil || flags & GATEWAY_REPLACE != 0 else { return fail(GATEWAY_E_NOT_NOW) }
        guard let status else { return fail(GATEWAY_E_BAD_RESPONSE) }
        let line = String(cString: status)
        let code = Status(line).code
        guard code >= 200, code <= 599, line.utf8.count > 4, Array(line.utf8)[3] == UInt8(ascii: " ") else {
            return fail(GATEWAY_E_BAD_RESPONSE)
        }
        let fields = UnsafeBufferPointer(start: pairs, count: count).map { (String(cString: $0.name), String(cString: $0.value)) }
        if fields.contains(where: { field in InMemoryExchange.serverOwned.contains { Headers.sameName($0, field.0) } }) {
            return fail(GATEWAY_E_BAD_RESPONSE)
        }
        self.status = line
        headers = fields
        declaredLength = fields.last { Headers.sameName($0.0, "Content-Length") }.flatMap { Int($0.1) }
        return GATEWAY_OK
    }

    var bodyless: Bool {
        let code = status.map { Status($0).code } ?? 0
        return request.method == "HEAD" || code == 204 || code == 304
    }

    func write(_ data: UnsafeRawPointer?, _ length: Int, last: Bool) -> Int32 {
        guard status != nil, !finished, refusedBody == nil else { return fail(GATEWAY_E_NOT_NOW) }
        if let declaredLength, body.count + length > declaredLength, !bodyless {
            aborted = body.count < declaredLength ? true : aborted
            return fail(GATEWAY_E_LENGTH)
        }
        if !last && length > 0 { onlyWriteLast = false }
        if length > 0, let data, !bodyless {
            body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
        }
        if length > 0 || last { headSent = true }
        finished = last
        return GATEWAY_OK
    }

    func sendFile(_ fd: Int32, _ offset: off_t, _ count: Int) -> Int32 {
        guard status != nil, !finished else { return fail(GATEWAY_E_NOT_NOW) }
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, offset) }
        guard n == count else { aborted = true; return fail(GATEWAY_E_FILE) }
        return bytes.withUnsafeBytes { write($0.baseAddress, count, last: false) }
    }

    // MARK: the result

    /// The response the client gets once `call` returned `result`.
    func response(callResult result: Int32) -> TestResponse {
        if let refusedBody {
            return TestResponse(status: refusedBody, headers: ["Content-Type": "text/plain"], body: Array("\(refusedBody.reason)\n".utf8),
                                framing: .contentLength(refusedBody.reason.utf8.count + 1), callResult: result, logs: logs)
        }
        if lastError == GATEWAY_E_CLIENT_GONE || lastError == GATEWAY_E_TIMEOUT && status == nil {
            let status: Status = lastError == GATEWAY_E_TIMEOUT ? .gatewayTimeout : 499
            return TestResponse(status: status, headers: [:], body: [], framing: .aborted, callResult: result, logs: logs)
        }
        if status == nil || (result != GATEWAY_OK && !headSent) {
            let text = Array("Internal Server Error\n".utf8)
            return TestResponse(status: .internalServerError, headers: ["Content-Type": "text/plain"], body: text,
                                framing: .contentLength(text.count), callResult: result, logs: logs)
        }
        let framing: TestResponse.Framing
        if bodyless {
            framing = .none
        } else if let declaredLength {
            // gatewayd keeps a response whose declared length was reached.
            framing = body.count == declaredLength ? .contentLength(declaredLength) : .aborted
        } else if aborted || (result != GATEWAY_OK && !finished) {
            framing = .aborted
        } else if onlyWriteLast && finished {
            framing = .contentLength(body.count)
        } else {
            framing = request.serverProtocol == "HTTP/1.0" ? .close : .chunked
        }
        return TestResponse(status: Status(status!), headers: Headers(headers), body: body,
                            framing: framing, callResult: result, logs: logs)
    }

    nonisolated(unsafe) static let api: UnsafeMutablePointer<gateway_api> = {
        let api = UnsafeMutablePointer<gateway_api>.allocate(capacity: 1)
        api.initialize(to: gateway_api(
            abi_version: GATEWAY_ABI_VERSION,
            size: UInt32(MemoryLayout<gateway_api>.size),
            getenv: { r, key in InMemoryExchange.of(r).getenv(key!) },
            environ_count: { r in InMemoryExchange.of(r).environ.count },
            environ_item: { r, index, key, value in InMemoryExchange.of(r).item(index, key, value) },
            read: { r, buffer, length in InMemoryExchange.of(r).read(buffer, length) },
            log: { r, level, message in
                if let r {
                    InMemoryExchange.of(r).log(level, message)
                } else {
                    writeToStandardError("[gateway \(level)] \(String(cString: message!))\n")
                }
            },
            start_response: { r, status, headers, count, flags in
                InMemoryExchange.of(r).start(status, headers, count, flags)
            },
            write: { r, data, length in InMemoryExchange.of(r).write(data, length, last: false) },
            sendfile: { r, fd, offset, count in InMemoryExchange.of(r).sendFile(fd, offset, count) },
            write_last: { r, data, length in InMemoryExchange.of(r).write(data, length, last: true) },
            last_error: { r in InMemoryExchange.of(r).lastError }))
        return api
    }()
}

/// write(2) rather than fputs(stderr): Swift 6 mode refuses the C global.
private func writeToStandardError(_ line: String) {
    _ = line.withCString { write(2, $0, strlen($0)) }
}
