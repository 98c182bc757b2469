// libFuzzer target for the uwsgi and SCGI decoders. Built by `make fuzz`
// with -sanitize=fuzzer,address from the decoders' own sources. The first
// byte picks the decoder (even: uwsgi, odd: SCGI) and where to split; the
// rest is the input. Besides crashes and memory errors it checks that a
// head split at any byte decodes exactly as the whole does, and that every
// variable it reports lies inside the head.

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

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 1 else { return 0 }
    let uwsgi = data[0] & 1 == 0
    let buf = data + 1
    let n = size - 1
    let split = Int(data[0] >> 1) % n
    let whole = decode(buf, n, uwsgi: uwsgi, ends: [n])
    let pieces = decode(buf, n, uwsgi: uwsgi, ends: [split, n])
    if whole != pieces { fatalError("split at \(split) changes the outcome: \(whole) vs \(pieces)") }
    return 0
}
