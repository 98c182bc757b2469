// libFuzzer target for the uwsgi, SCGI and FastCGI decoders. Built by
// `make fuzz` with -sanitize=fuzzer,address from the decoders' own sources.
// The first byte picks the decoder (its low two bits: uwsgi, SCGI, a
// FastCGI head, a FastCGI STDIN stream) and where to split; the rest is the
// input. Besides crashes and memory errors it checks that input split at
// any byte decodes exactly as the whole does, and that every variable it
// reports lies inside the head.
#if canImport(Glibc)
import Glibc
#endif

let limits = ProtocolLimits(vars: 32, nameSize: 64, valueSize: 1024, total: 4096)
var vars = ProtocolVars(capacity: 32)

enum Outcome: Equatable {
    case needMore
    case failed(Int)
    case complete(end: Int, vars: [ProtocolVars.Var])
}

func decode(_ buf: UnsafePointer<UInt8>, _ n: Int, uwsgi: Bool, ends: [Int]) -> Outcome {
    for end in ends {
        let r = uwsgi ? UWSGIDecoder.decode(buf, start: 0, end: end, limits: limits, into: &vars)
                      : SCGIDecoder.decode(buf, start: 0, end: end, limits: limits, into: &vars)
        switch r {
        case .needMore: continue
        case .failed(let e): return .failed(e.status)
        case .complete(let stop):
            let list = (0..<vars.count).map { vars.vars[$0] }
            for v in list where v.name < 0 || v.value + v.valueLength > stop || v.name + v.nameLength > stop {
                fatalError("a variable outside the head: \(v), head ends at \(stop)")
            }
            if stop > end { fatalError("complete past the bytes received: \(stop) > \(end)") }
            return .complete(end: stop, vars: list)
        }
    }
    return .needMore
}

enum FastCGIOutcome: Equatable {
    case needMore
    case failed(Int, UInt16)
    case aborted(UInt16, Int, [[UInt8]])
    case complete(UInt16, Bool, Int, [ProtocolVars.Var], [[UInt8]], Int?)
}

/// A FastCGI head, as the loop drives it: drops applied, replies kept.
func decodeFastCGI(_ data: UnsafePointer<UInt8>, _ n: Int, ends: [Int]) -> FastCGIOutcome {
    let buf = UnsafeMutablePointer<UInt8>.allocate(capacity: max(n, 1))
    defer { buf.deallocate() }
    buf.update(from: data, count: n)
    var start = 0
    var replies: [[UInt8]] = []
    for end in ends {
        while true {
            switch FastCGIDecoder.decode(buf, start: start, end: end, limits: limits) {
            case .needMore:
                break
            case .failed(let e, let id):
                return .failed(e.status, id)
            case .drop(let at, let length, let reply):
                if at < start || at + length > end { fatalError("a drop outside the bytes received") }
                memmove(buf + start + length, buf + start, at - start)
                start += length
                replies.append(reply)
                continue
            case .aborted(let id, _, let stop):
                return .aborted(id, stop, replies)
            case .complete(let id, let keep, let stop):
                if stop > end { fatalError("complete past the bytes received: \(stop) > \(end)") }
                let e = FastCGIDecoder.gatherParams(buf, start: start, end: stop, limits: limits, into: &vars)
                let list = e != nil ? [] : (0..<vars.count).map { vars.vars[$0] }
                for v in list where v.name < start || v.value + v.valueLength > stop || v.name + v.nameLength > stop {
                    fatalError("a parameter outside the head: \(v), head ends at \(stop)")
                }
                return .complete(id, keep, stop, list, replies, e?.status)
            }
            break
        }
    }
    return .needMore
}

/// A FastCGI STDIN stream: the body, the replies, how and where it ended.
func decodeStdin(_ data: UnsafePointer<UInt8>, _ n: Int, ends: [Int]) -> [Int] {
    var d = FastCGIStdinDecoder(requestId: 1)
    var out: [Int] = []
    var pos = 0
    for end in ends {
        while pos < end {
            switch d.step(data + pos, end - pos, maxBody: 1000) {
            case .data(let k):
                if k <= 0 || pos + k > end { fatalError("data outside the input") }
                out += (pos..<pos + k).map { Int(data[$0]) }
                pos += k
            case .framing(let k): pos += k
            case .needMore: pos = end
            case .done(let k): return out + [-1, pos + k]
            case .aborted(let k): return out + [-2, pos + k]
            case .reply(let k, let r): out += [-3] + r.bytes(limits.fastcgi).map(Int.init); pos += k
            case .failed(let e): return out + [-4, e.status]
            }
        }
    }
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 1 else { return 0 }
    let kind = data[0] & 3
    let uwsgi = kind == 0
    let buf = data + 1
    let n = size - 1
    let split = Int(data[0] >> 2) % n
    if kind == 2 {
        let whole = decodeFastCGI(buf, n, ends: [n])
        let pieces = decodeFastCGI(buf, n, ends: [split, n])
        let bytes = decodeFastCGI(buf, n, ends: Array(stride(from: 0, through: n, by: 1 + split % 7)) + [n])
        if whole != pieces || whole != bytes { fatalError("split at \(split) changes the outcome: \(whole) vs \(pieces) vs \(bytes)") }
        return 0
    }
    if kind == 3 {
        let whole = decodeStdin(buf, n, ends: [n])
        let pieces = decodeStdin(buf, n, ends: [split, n])
        if whole != pieces { fatalError("STDIN split at \(split) changes the outcome") }
        return 0
    }
    let whole = decode(buf, n, uwsgi: uwsgi, ends: [n])
    let pieces = decode(buf, n, uwsgi: uwsgi, ends: [split, n])
    if whole != pieces { fatalError("split at \(split) changes the outcome: \(whole) vs \(pieces)") }
    return 0
}
