import CGateway

/// The server side of gateway.h: the `gateway_api` function table. Each
/// entry finds its RequestContext through `gateway_request.server`.
public enum GatewayAPI {
    @inline(__always)
    static func context(_ r: UnsafeMutablePointer<gateway_request>?) -> RequestContext? {
        guard let r, let s = r.pointee.server else { return nil }
        return Unmanaged<RequestContext>.fromOpaque(s).takeUnretainedValue()
    }

    /// The response of the request `r`, borrowed for one call: the context
    /// and its encoder live as long as the worker, so no retain is needed
    /// (it saves four atomic operations per call on the hot path).
    @inline(__always)
    static func response(_ r: UnsafeMutablePointer<gateway_request>?,
                         _ body: (ResponseEncoder<ConnectionOutput>) -> Int32) -> Int32 {
        guard let r, let s = r.pointee.server else { return GATEWAY_ERROR }
        return Unmanaged<RequestContext>.fromOpaque(s)._withUnsafeGuaranteedRef { c in
            Unmanaged.passUnretained(c.response)._withUnsafeGuaranteedRef(body)
        }
    }

    /// Where api->log(NULL, ...) goes (init, shutdown).
    nonisolated(unsafe) public static var processLog: (Int32, String) -> Void = { _, _ in }

    nonisolated(unsafe) public static let table: UnsafeMutablePointer<gateway_api> = {
        let t = UnsafeMutablePointer<gateway_api>.allocate(capacity: 1)
        t.initialize(to: gateway_api(
            abi_version: GATEWAY_ABI_VERSION,
            size: UInt32(MemoryLayout<gateway_api>.size),
            getenv: { r, key in
                guard let c = context(r), let key else { return nil }
                c.buildEnviron()
                return c.environ.lookup(key)
            },
            environ_count: { r in
                guard let c = context(r) else { return 0 }
                c.buildEnviron()
                return c.environ.count
            },
            environ_item: { r, index, key, value in
                guard let c = context(r) else { return GATEWAY_ERROR }
                c.buildEnviron()
                guard index < c.environ.count else { return GATEWAY_ERROR }
                key?.pointee = c.environ.keys[index]
                value?.pointee = c.environ.values[index]
                return GATEWAY_OK
            },
            read: { r, buf, len in
                guard let c = context(r) else { return -1 }
                guard let buf else { c.response.note(.argument); return -1 }
                return c.read(buf, len)
            },
            log: { r, level, message in
                let text = message.map { String(cString: $0) } ?? ""
                if let c = context(r) { c.errorLog(level, text) } else { processLog(level, text) }
            },
            start_response: { r, status, headers, count, flags in
                response(r) { $0.start(status, headers, count, flags) }
            },
            write: { r, data, len in
                response(r) {
                    if len > 0 && data == nil { return $0.refuse(.argument, "write(): NULL data with a length") }
                    return $0.write(data, len, last: false)
                }
            },
            sendfile: { r, fd, offset, count in
                response(r) { $0.sendFile(fd, offset, count) }
            },
            write_last: { r, data, len in
                response(r) {
                    if len > 0 && data == nil { return $0.refuse(.argument, "write_last(): NULL data with a length") }
                    return $0.write(data, len, last: true)
                }
            },
            last_error: { r in
                guard let c = context(r) else { return GatewayFailure.none.rawValue }
                return c.response.failure.rawValue
            }
        ))
        return t
    }()
}
