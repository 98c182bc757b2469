#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
@_spi(Testing) import Gateway
import GatewayWire

/// One request in flight on the in-memory server: the gateway_api calls of
/// gateway.h answered from a `TestRequest`. The response side is the
/// server's own `ResponseEncoder` (GatewayWire), writing into a byte
/// buffer: the same status and header rules, the same framing, the same
/// 500s and aborts as a worker; `response(callResult:)` reads those bytes
/// back as a client would. The C entry points find the exchange through the
/// request's `server` field.
final class InMemoryExchange {
    let request: TestRequest
    let maxBodySize: Int?
    private let environ: [(key: UnsafeMutablePointer<CChar>, value: UnsafeMutablePointer<CChar>)]
    private var piece = 0
    private var offsetInPiece = 0
    private var bodyRead = 0

    private(set) var logs: [(level: LogLevel, message: String)] = []
    /// The server's refusal of the request body (413 past max_body_size).
    private var refusedBody: GatewayWire.HTTPError?
    let output = BufferOutput()
    let encoder: ResponseEncoder<BufferOutput>
    let raw: UnsafeMutablePointer<gateway_request>

    init(_ request: TestRequest, maxBodySize: Int?, workerID: Int, appData: UnsafeMutableRawPointer?) {
        self.request = request
        self.maxBodySize = maxBodySize
        environ = request.environ(workerID: workerID).map { (strdup($0.0)!, strdup($0.1)!) }
        encoder = ResponseEncoder(output: output)
        raw = .allocate(capacity: 1)
        raw.initialize(to: gateway_request(api: UnsafePointer(InMemoryExchange.api), app_data: appData, server: nil))
        raw.pointee.server = Unmanaged.passUnretained(self).toOpaque()
        encoder.setLog { [unowned self] level, message in
            logs.append((LogLevel(rawValue: level) ?? .error, message))
        }
        encoder.clock = { InMemoryExchange.date }
        let http10 = request.serverProtocol == "HTTP/1.0"
        let connection = request.headers["Connection"]?.lowercased()
        let close = http10 ? connection != "keep-alive" : connection == "close"
        encoder.begin(.init(isHead: request.method == "HEAD", clientHTTP10: http10, close: close))
    }

    /// Every response's Date: one fixed second (Thu, 01 Jan 2026 00:00:00
    /// GMT), so that tests may compare whole responses.
    static let date = 1_767_225_600

    deinit {
        for entry in environ { free(entry.key); free(entry.value) }
        raw.deallocate()
    }

    static func of(_ raw: UnsafeMutablePointer<gateway_request>?) -> InMemoryExchange {
        Unmanaged<InMemoryExchange>.fromOpaque(raw!.pointee.server!).takeUnretainedValue()
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
        if refusedBody != nil { encoder.note(.bodyTooLarge); return -1 }
        while piece < request.body.count && offsetInPiece == request.body[piece].count {
            piece += 1
            offsetInPiece = 0
        }
        guard piece < request.body.count, length > 0, let buffer else { return 0 }
        let n = min(length, request.body[piece].count - offsetInPiece)
        if let maxBodySize, bodyRead + n > maxBodySize {
            // gatewayd refuses the body and answers 413 itself, as a worker
            // does (RequestContext.read): the app's response calls are refused.
            let e = GatewayWire.HTTPError(413, "request body above max_body_size")
            refusedBody = e
            encoder.note(GatewayFailure.body(e))
            encoder.bodyRefused = e
            return -1
        }
        request.body[piece].withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress! + offsetInPiece, byteCount: n) }
        offsetInPiece += n
        bodyRead += n
        return n
    }

    func log(_ level: Int32, _ message: UnsafePointer<CChar>?) {
        logs.append((LogLevel(rawValue: level) ?? .error, String(cString: message!)))
    }

    // MARK: the result

    /// The response the client gets once `call` returned `result`: the
    /// encoder completes it (or makes the 500, or aborts it), and the bytes
    /// are read back as a client reads them.
    func response(callResult result: Int32) -> TestResponse {
        encoder.finish(appResult: result, bodyError: refusedBody)
        let aborted = encoder.phase == .aborted
        return WireResponse.parse(output.bytes, isHead: request.method == "HEAD", aborted: aborted)
            .testResponse(callResult: result, logs: logs)
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
                InMemoryExchange.of(r).encoder.start(status, headers, count, flags)
            },
            write: { r, data, length in
                let encoder = InMemoryExchange.of(r).encoder
                if length > 0 && data == nil { return encoder.refuse(.argument, "write(): NULL data with a length") }
                return encoder.write(data, length, last: false)
            },
            sendfile: { r, fd, offset, count in InMemoryExchange.of(r).encoder.sendFile(fd, offset, count) },
            write_last: { r, data, length in
                let encoder = InMemoryExchange.of(r).encoder
                if length > 0 && data == nil { return encoder.refuse(.argument, "write_last(): NULL data with a length") }
                return encoder.write(data, length, last: true)
            },
            last_error: { r in InMemoryExchange.of(r).encoder.failure.rawValue }))
        return api
    }()
}

/// write(2) rather than fputs(stderr): Swift 6 mode refuses the C global.
private func writeToStandardError(_ line: String) {
    _ = line.withCString { write(2, $0, strlen($0)) }
}
