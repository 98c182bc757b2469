/// The STDIN stream of the active FastCGI request: the request body, from
/// records that arrive in pieces, as ChunkedDecoder does for a chunked
/// body. Ends at the empty STDIN record. On the way: ABORT_REQUEST (the
/// request is over), management records (answered), records of other
/// requests (a BEGIN_REQUEST is refused: no multiplexing; the rest ignored).
public struct FastCGIStdinDecoder {
    public let requestId: UInt16
    var header = (UInt64(0))
    var headerFill = 0
    /// Content of the current STDIN record still to come.
    public private(set) var remaining = 0
    /// Padding, or a whole record being skipped, still to come.
    var skipping = 0
    /// The empty STDIN was read: done once its padding is skipped.
    var ending = false
    public private(set) var total = 0
    public private(set) var isDone = false

    public init(requestId: UInt16) { self.requestId = requestId }

    public enum Reply: Equatable {
        case unknownType(UInt8)
        /// GET_VALUES: all we know (the names asked are not kept).
        case values
        case cantMultiplex(UInt16)

        public func bytes(_ capacity: FastCGIRecord.Capacity) -> [UInt8] {
            switch self {
            case .unknownType(let t): return FastCGIRecord.unknownType(t)
            case .values: return FastCGIRecord.valuesResult(nil, capacity)
            case .cantMultiplex(let id): return FastCGIRecord.endRequest(id, .cantMultiplex, closingStdout: false)
            }
        }
    }

    public enum Step: Equatable {
        /// The first `n` bytes of the input are body data.
        case data(Int)
        /// The first `n` bytes were framing; call again with the rest.
        case framing(Int)
        /// All input was framing and more is needed.
        case needMore
        /// The body ended after `n` bytes of input.
        case done(Int)
        /// ABORT_REQUEST for this request, after `n` bytes of input.
        case aborted(Int)
        /// `n` bytes were framing of a record that wants `reply`.
        case reply(Int, Reply)
        case failed(HTTPError)
    }

    /// Consumes from `p[0..<n]` (n > 0), stopping at the first data run.
    /// `maxBody`: the largest body allowed (0: no limit).
    public mutating func step(_ p: UnsafePointer<UInt8>, _ n: Int, maxBody: Int) -> Step {
        if isDone { return .done(0) }
        if remaining > 0 {
            let k = min(remaining, n)
            consumed(k)
            return .data(k)
        }
        var i = 0
        if skipping > 0 {
            let k = min(skipping, n)
            skipping -= k
            i = k
            if skipping == 0 && ending { isDone = true; return .done(i) }
            if i == n { return i == 0 ? .needMore : .framing(i) }
        }
        while headerFill < 8 && i < n {
            header = header << 8 | UInt64(p[i])
            headerFill += 1
            i += 1
        }
        guard headerFill == 8 else { return .needMore }
        headerFill = 0
        let version = UInt8(header >> 56)
        let type = UInt8(header >> 48 & 0xFF)
        let id = UInt16(header >> 32 & 0xFFFF)
        let length = Int(header >> 16 & 0xFFFF)
        let padding = Int(header >> 8 & 0xFF)
        guard version == FastCGIRecord.version else { return .failed(HTTPError(400, "fastcgi: record version is not 1")) }
        if id == 0 {
            skipping = length + padding
            return .reply(i, type == FastCGIRecord.RecordType.getValues.rawValue ? .values : .unknownType(type))
        }
        if id != requestId {
            skipping = length + padding
            if type == FastCGIRecord.RecordType.beginRequest.rawValue { return .reply(i, .cantMultiplex(id)) }
            return .framing(i)
        }
        switch FastCGIRecord.RecordType(rawValue: type) {
        case .stdin:
            if length == 0 {
                skipping = padding
                if padding == 0 { isDone = true; return .done(i) }
                ending = true
                return .framing(i)
            }
            total += length
            if maxBody > 0 && total > maxBody { return .failed(HTTPError(413, "request body larger than max_body_size")) }
            remaining = length
            skipping = padding
            return .framing(i)
        case .abortRequest:
            skipping = length + padding
            isDone = true
            return .aborted(i)
        default:
            return .failed(HTTPError(400, "fastcgi: unexpected record in the STDIN stream"))
        }
    }

    /// `k` bytes of data were taken (by step's .data, or read straight into
    /// the app's buffer while `remaining` said so).
    @inline(__always)
    public mutating func consumed(_ k: Int) {
        remaining -= k
    }
}
