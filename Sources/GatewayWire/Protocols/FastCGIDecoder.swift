/// The head of a FastCGI request (FastCGI 1.0, Responder role): records
/// from `start` up to the empty PARAMS record that ends the parameters.
/// One event per call; the loop acts on it (answers, drops the record)
/// and calls again. Pure: the same bytes give the same events however
/// they arrived. Strict (version 1, BEGIN_REQUEST's size, nothing but
/// PARAMS before the parameters end) and bounded: the records of a head
/// may span at most `limits.total` bytes, so a peer cannot make the
/// buffer grow past what an HTTP head may take.
public enum FastCGIDecoder {
    public enum Event: Equatable {
        case needMore
        /// Refused: `requestId` is the request to answer (0: the framing
        /// itself is broken, nothing can be answered; close).
        case failed(HTTPError, requestId: UInt16)
        /// Drop the record at `at` (`length` bytes) and send `reply` (may
        /// be empty): a management record (GET_VALUES, an unknown type), a
        /// BEGIN_REQUEST for a second request (FCGI_CANT_MPX_CONN) or of an
        /// unknown role, a record of a request that is not active (ignored,
        /// as the specification says).
        case drop(at: Int, length: Int, reply: [UInt8])
        /// ABORT_REQUEST before the parameters ended: answer END_REQUEST
        /// and drop the records from `start` to `end`.
        case aborted(requestId: UInt16, keepConn: Bool, end: Int)
        /// BEGIN_REQUEST and all PARAMS records are in: they end at `end`.
        case complete(requestId: UInt16, keepConn: Bool, end: Int)
    }

    public static func decode(_ buf: UnsafePointer<UInt8>, start: Int, end: Int, limits: ProtocolLimits) -> Event {
        var i = start
        var request: (id: UInt16, keep: Bool)?
        var params = 0
        while true {
            guard end - i >= FastCGIRecord.headerSize else { return .needMore }
            let h = FastCGIRecord.Header(buf + i)
            guard h.version == FastCGIRecord.version else {
                return .failed(HTTPError(400, "fastcgi: record version is not 1"), requestId: request?.id ?? 0)
            }
            // Decided on the header alone, so that splits do not matter; 8
            // bytes short of the total, so the buffer never fills up first.
            if i + h.size - start > limits.total - FastCGIRecord.headerSize { return .failed(HTTPError(431, "fastcgi: request parameters too large"), requestId: request?.id ?? 0) }
            guard end - i >= h.size else { return .needMore }
            let content = i + FastCGIRecord.headerSize
            if h.requestId == 0 { return .drop(at: i, length: h.size, reply: management(buf, h, content, limits.fastcgi)) }
            let type = FastCGIRecord.RecordType(rawValue: h.type)
            guard let active = request else {
                // Before BEGIN_REQUEST: only a BEGIN_REQUEST starts a request.
                guard type == .beginRequest else { return .drop(at: i, length: h.size, reply: []) }
                guard h.contentLength == 8 else { return .failed(HTTPError(400, "fastcgi: BEGIN_REQUEST body is not 8 bytes"), requestId: 0) }
                let role = Int(buf[content]) << 8 | Int(buf[content + 1])
                let keep = buf[content + 2] & FastCGIRecord.keepConn != 0
                if role != FastCGIRecord.roleResponder {
                    return .drop(at: i, length: h.size, reply: FastCGIRecord.endRequest(h.requestId, .unknownRole, closingStdout: false))
                }
                request = (h.requestId, keep)
                i += h.size
                continue
            }
            if h.requestId != active.id {
                // No multiplexing: a second request is refused, its other records ignored.
                let reply = type == .beginRequest ? FastCGIRecord.endRequest(h.requestId, .cantMultiplex, closingStdout: false) : []
                return .drop(at: i, length: h.size, reply: reply)
            }
            switch type {
            case .params:
                if h.contentLength == 0 { return .complete(requestId: active.id, keepConn: active.keep, end: i + h.size) }
                params += h.contentLength
                if params > limits.total { return .failed(HTTPError(431, "fastcgi: request parameters too large"), requestId: active.id) }
            case .abortRequest:
                return .aborted(requestId: active.id, keepConn: active.keep, end: i + h.size)
            case .beginRequest:
                return .failed(HTTPError(400, "fastcgi: BEGIN_REQUEST for a request already begun"), requestId: active.id)
            case .stdin, .data:
                return .failed(HTTPError(400, "fastcgi: STDIN before the end of PARAMS"), requestId: active.id)
            default:
                return .failed(HTTPError(400, "fastcgi: unexpected record type before the end of PARAMS"), requestId: active.id)
            }
            i += h.size
        }
    }

    /// The answer to a management record: GET_VALUES_RESULT, or UNKNOWN_TYPE.
    static func management(_ buf: UnsafePointer<UInt8>, _ h: FastCGIRecord.Header, _ content: Int,
                           _ capacity: FastCGIRecord.Capacity) -> [UInt8] {
        guard h.type == FastCGIRecord.RecordType.getValues.rawValue else { return FastCGIRecord.unknownType(h.type) }
        var names: [[UInt8]] = []
        var i = content
        let stop = content + h.contentLength
        while i < stop {
            guard let (name, nameLength, _, valueLength) = pairAt(buf, i, stop) else { break }
            names.append(Array(UnsafeBufferPointer(start: buf + name, count: nameLength)))
            i = name + nameLength + valueLength
        }
        return FastCGIRecord.valuesResult(names, capacity)
    }

    /// After `.complete`: moves the PARAMS contents together (over the
    /// record headers, in place: from `start` on) and decodes their
    /// name-value pairs into `vars`. The records must be those `decode`
    /// reported, from `start` to `end`.
    public static func gatherParams(_ buf: UnsafeMutablePointer<UInt8>, start: Int, end: Int, limits: ProtocolLimits,
                                    into vars: inout ProtocolVars) -> HTTPError? {
        var i = start + FastCGIRecord.Header(buf + start).size  // BEGIN_REQUEST
        var dest = start
        while i < end {
            let h = FastCGIRecord.Header(buf + i)
            if h.contentLength > 0 { memmoveBytes(buf + dest, buf + i + FastCGIRecord.headerSize, h.contentLength) }
            dest += h.contentLength
            i += h.size
        }
        return decodePairs(UnsafePointer(buf), start: start, stop: dest, limits: limits, into: &vars)
    }

    /// The name-value pairs of `buf[start..<stop]` (§3.4) into `vars`.
    public static func decodePairs(_ buf: UnsafePointer<UInt8>, start: Int, stop: Int, limits: ProtocolLimits,
                                   into vars: inout ProtocolVars) -> HTTPError? {
        vars.reset()
        var i = start
        while i < stop {
            guard let (name, nameLength, value, valueLength) = pairAt(buf, i, stop) else {
                return HTTPError(400, "fastcgi: name-value pair past the end of PARAMS")
            }
            guard nameLength <= limits.nameSize else { return HTTPError(431, "fastcgi: parameter name too long") }
            guard valueLength <= limits.valueSize else { return HTTPError(431, "fastcgi: parameter value too long") }
            guard VarCheck.name(buf, name, nameLength) else { return HTTPError(400, "fastcgi: invalid parameter name") }
            guard VarCheck.value(buf, value, valueLength) else { return HTTPError(400, "fastcgi: NUL in a parameter value") }
            guard vars.count < min(limits.vars, vars.capacity) else { return HTTPError(431, "fastcgi: too many parameters") }
            vars.vars[vars.count] = .init(name: name, nameLength: nameLength, value: value, valueLength: valueLength)
            vars.count += 1
            i = value + valueLength
        }
        guard VarCheck.contentLength(buf, vars.find(buf, "CONTENT_LENGTH")) != nil else {
            return HTTPError(400, "fastcgi: invalid CONTENT_LENGTH")
        }
        return nil
    }

    /// One pair at `i`: where its name and value start and their lengths;
    /// nil when it does not fit before `stop`.
    @inline(__always)
    static func pairAt(_ buf: UnsafePointer<UInt8>, _ i: Int, _ stop: Int) -> (Int, Int, Int, Int)? {
        var p = i
        guard let nameLength = length(buf, &p, stop), let valueLength = length(buf, &p, stop) else { return nil }
        guard nameLength <= stop - p, valueLength <= stop - p - nameLength else { return nil }
        return (p, nameLength, p + nameLength, valueLength)
    }

    /// A pair's length: one byte below 128, else four (high bit set, 31 bits).
    @inline(__always)
    static func length(_ buf: UnsafePointer<UInt8>, _ p: inout Int, _ stop: Int) -> Int? {
        guard p < stop else { return nil }
        let b = buf[p]
        if b < 0x80 { p += 1; return Int(b) }
        guard stop - p >= 4 else { return nil }
        let n = Int(b & 0x7F) << 24 | Int(buf[p + 1]) << 16 | Int(buf[p + 2]) << 8 | Int(buf[p + 3])
        p += 4
        return n
    }

    @inline(__always)
    static func memmoveBytes(_ d: UnsafeMutablePointer<UInt8>, _ s: UnsafeMutablePointer<UInt8>, _ n: Int) {
        // dest is always before src here: a forward copy is safe.
        var k = 0
        while k < n { d[k] = s[k]; k += 1 }
    }
}
