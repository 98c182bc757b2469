// libFuzzer target for the HTTP/1.1 parser: head scanner, head parser and
// chunked decoder. Built by `make fuzz` with -sanitize=fuzzer,address from
// the parser's own sources (no other module needed). Besides crashes and
// memory errors it checks one property: a request split at any byte parses
// exactly as the whole request does.

let limits = HTTPLimits(requestLine: 1024, fields: 32, fieldSize: 1024, maxBody: 1 << 20)
var head = RequestHead(fieldCapacity: 32)

enum Outcome: Equatable {
    case needMore
    case failed(Int)
    case parsed(end: Int, method: Int, target: Int, contentLength: Int, chunked: Bool, keepAlive: Bool, fields: Int, body: [UInt8]?)
}

func parse(_ buf: UnsafePointer<UInt8>, _ count: Int, split: Int) -> Outcome {
    var scanner = HeadScanner()
    var result = HeadScanner.Result.needMore
    // Feed in two pieces: [0, split) then [split, count).
    for end in [split, count] where end > 0 {
        result = scanner.scan(buf, end: end, limits: limits)
        if case .needMore = result { continue }
        break
    }
    switch result {
    case .needMore: return .needMore
    case .failed(let e): return .failed(e.status)
    case .complete(let end):
        if let e = HeadParser.parse(buf, start: scanner.headStart, end: end, limits: limits, into: &head) {
            return .failed(e.status)
        }
        var body: [UInt8]?
        if head.chunked {
            body = decodeChunked(buf + end, count - end, split: max(0, split - end))
        }
        return .parsed(end: end, method: head.methodLength, target: head.targetLength,
                       contentLength: head.contentLength, chunked: head.chunked,
                       keepAlive: head.keepAlive, fields: head.fieldCount, body: body)
    }
}

func decodeChunked(_ p: UnsafePointer<UInt8>, _ n: Int, split: Int) -> [UInt8]? {
    var decoder = ChunkedDecoder()
    var out: [UInt8] = []
    var i = 0
    while i < n {
        let stop = i < split ? split : n
        switch decoder.step(p + i, stop - i, limits: limits) {
        case .data(let k): out.append(contentsOf: UnsafeBufferPointer(start: p + i, count: k)); i += k
        case .framing(let k): i += k
        case .needMore: i = stop
        case .done: return out
        case .failed(let e): return [UInt8(truncatingIfNeeded: e.status), 0xFF, 0xFF]
        }
    }
    return nil
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 1 else { return 0 }
    let split = Int(data[0]) % size
    let buf = data + 1
    let n = size - 1
    let whole = parse(buf, n, split: n)
    let pieces = parse(buf, n, split: min(split, n))
    if whole != pieces {
        fatalError("split at \(split) changes the outcome: \(whole) vs \(pieces)")
    }
    return 0
}
