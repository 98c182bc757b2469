/// Finds the end of a request head in bytes that arrive in pieces, enforcing
/// the line limits and CRLF line ends (a bare LF is refused: docs/http.md) as it goes, so a head split at any byte gives the same
/// result as the whole head. Keeps its position between calls: each byte is
/// looked at once.
public struct HeadScanner {
    /// Next offset to look at.
    public var position = 0
    package var lineStart = 0
    var lines = 0
    /// Empty lines skipped before the request line.
    var emptyLines = 0
    /// At most this many empty lines may precede the request line.
    public static let maxEmptyLines = 8
    /// Where the request line starts (after the empty lines RFC 9112 §2.2 lets us skip).
    public var headStart = 0

    public init() {}

    public mutating func reset(at offset: Int) {
        position = offset; lineStart = offset; lines = 0; emptyLines = 0; headStart = offset
    }

    public enum Result: Equatable {
        case needMore
        case complete(end: Int)
        case failed(HTTPError)
    }

    /// Scans `buf[position..<end]`.
    public mutating func scan(_ buf: UnsafePointer<UInt8>, end: Int, limits: HTTPLimits) -> Result {
        var i = position
        while i < end {
            // memchr-like search for the next LF.
            guard let lf = findLF(buf, from: i, to: end) else {
                position = end
                // A CR at the end may be the first half of the CRLF: not counted,
                // as it is not once the LF arrives.
                var open = end - lineStart
                if open > 0 && buf[end - 1] == 0x0D { open -= 1 }
                return checkOpenLine(length: open, limits: limits)
            }
            // Every line ends with CRLF. A front end that does not end a line
            // at a bare LF would forward what follows it as part of the line.
            guard lf > lineStart && buf[lf - 1] == 0x0D else { return .failed(HTTPError(400, "bare LF in the request head")) }
            let length = lf - 1 - lineStart
            if length == 0 {
                if lines == 0 {
                    // Empty lines before the request line are ignored; at most a few.
                    emptyLines += 1
                    if emptyLines > Self.maxEmptyLines {
                        return .failed(HTTPError(400, "too many empty lines before the request line"))
                    }
                    lineStart = lf + 1
                    headStart = lineStart
                    i = lf + 1
                    continue
                }
                position = lf + 1
                return .complete(end: lf + 1)
            }
            if case .failed(let e) = checkOpenLine(length: length, limits: limits) { return .failed(e) }
            lines += 1
            if lines > limits.fields + 1 { return .failed(HTTPError(431, "too many header fields")) }
            lineStart = lf + 1
            i = lf + 1
        }
        position = end
        return .needMore
    }

    func checkOpenLine(length: Int, limits: HTTPLimits) -> Result {
        if lines == 0 {
            if length > limits.requestLine { return .failed(HTTPError(414, "request line too long")) }
        } else if length > limits.fieldSize {
            return .failed(HTTPError(431, "header field too long"))
        }
        return .needMore
    }

    @inline(__always)
    func findLF(_ buf: UnsafePointer<UInt8>, from: Int, to: Int) -> Int? {
        guard let p = memchrLF(buf + from, to - from) else { return nil }
        return p - buf
    }
}

#if canImport(Glibc)
import Glibc
#endif

@inline(__always)
func memchrLF(_ p: UnsafePointer<UInt8>, _ n: Int) -> UnsafePointer<UInt8>? {
    guard n > 0, let r = memchr(p, 0x0A, n) else { return nil }
    return UnsafePointer(r.assumingMemoryBound(to: UInt8.self))
}
