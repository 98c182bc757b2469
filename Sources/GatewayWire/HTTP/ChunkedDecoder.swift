/// Decodes a chunked request body (RFC 9112 §7.1) from bytes that arrive in
/// pieces. Strict: hex digits only, sizes bounded, CRLF required after the
/// size line and after the data, extensions parsed to the letter of §7.1.1
/// (BWS around ";" and "=", a token name, a token or quoted-string value:
/// anything else is refused, never skipped) and bounded, trailers bounded. Trailer
/// lines must be fields as in the head (token, ":", field-value; no obs-fold):
/// a front end that ends the body at "0\r\n" would read anything else as the
/// next request.
public struct ChunkedDecoder {
    enum State {
        case size, sizeCR, data, dataCR, dataLF
        // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
        case extSemicolon, extNameStart, extName, extAfterName, extValueStart, extToken
        case extQuoted, extQuotedPair, extAfterQuote, extAfterValue
        case trailerLineStart, trailerName, trailerValue, trailerCR, finalLF, done
    }

    var state = State.size
    var digits = 0
    var chunkSize = 0
    /// Bytes of the current chunk still to come.
    public private(set) var remaining = 0
    var extensionBytes = 0
    var trailerBytes = 0
    var trailerLines = 0
    public private(set) var total = 0

    public static let maxExtensionBytes = 4096
    public static let maxSizeDigits = 15   // < 2^60: no overflow possible

    public init() {}

    public var isDone: Bool { if case .done = state { return true }; return false }

    public enum Step: Equatable {
        /// The first `n` bytes of the input are body data.
        case data(Int)
        /// The first `n` bytes were framing; call again with the rest.
        case framing(Int)
        /// All input was framing and more is needed.
        case needMore
        /// The body ended after `n` bytes of input.
        case done(Int)
        case failed(HTTPError)
    }

    /// Consumes from `p[0..<n]` (n > 0), stopping at the first data run.
    public mutating func step(_ p: UnsafePointer<UInt8>, _ n: Int, limits: HTTPLimits) -> Step {
        var i = 0
        while i < n {
            let b = p[i]
            switch state {
            case .size:
                if CharClass.isHex(b) {
                    digits += 1
                    if digits > Self.maxSizeDigits { return .failed(HTTPError(400, "chunk size too large")) }
                    chunkSize = chunkSize << 4 | CharClass.hexValue(b)
                } else if digits == 0 {
                    return .failed(HTTPError(400, "invalid chunk size"))
                } else if b == 0x3B || b == 0x20 || b == 0x09 {
                    // The extension's first byte counts toward its bound.
                    extensionBytes += 1
                    state = b == 0x3B ? .extNameStart : .extSemicolon
                } else if b == 0x0D {
                    state = .sizeCR
                } else {
                    return .failed(HTTPError(400, "invalid chunk size"))
                }
            case .extSemicolon, .extNameStart, .extName, .extAfterName, .extValueStart, .extToken,
                 .extQuoted, .extQuotedPair, .extAfterQuote, .extAfterValue:
                if b == 0x0D && endsExtension { state = .sizeCR; break }
                // The bound is on everything between the size and the CR.
                extensionBytes += 1
                if extensionBytes > Self.maxExtensionBytes { return .failed(HTTPError(400, "chunk extensions too long")) }
                guard let next = nextInExtension(b) else { return .failed(HTTPError(400, "invalid chunk extension")) }
                state = next
            case .sizeCR:
                guard b == 0x0A else { return .failed(HTTPError(400, "missing LF after the chunk size")) }
                total += chunkSize
                if limits.maxBody > 0 && total > limits.maxBody {
                    return .failed(HTTPError(413, "chunked body above max_body_size"))
                }
                if chunkSize == 0 {
                    state = .trailerLineStart
                } else {
                    remaining = chunkSize
                    state = .data
                }
                digits = 0; chunkSize = 0
            case .data:
                if i > 0 { return .framing(i) }
                let take = min(remaining, n)
                remaining -= take
                if remaining == 0 { state = .dataCR }
                return .data(take)
            case .dataCR:
                guard b == 0x0D else { return .failed(HTTPError(400, "missing CRLF after chunk data")) }
                state = .dataLF
            case .dataLF:
                guard b == 0x0A else { return .failed(HTTPError(400, "missing CRLF after chunk data")) }
                state = .size
            case .trailerLineStart:
                if b == 0x0D { state = .finalLF; break }
                trailerLines += 1
                if trailerLines > limits.fields { return .failed(HTTPError(431, "too many trailer fields")) }
                if b == 0x20 || b == 0x09 { return .failed(HTTPError(400, "obsolete line folding in the trailers")) }
                guard CharClass.isToken(b) else { return .failed(HTTPError(400, "invalid trailer field name")) }
                trailerBytes = 1
                state = .trailerName
            case .trailerName:
                // Bounded as head fields are: limit_request_field_size bytes, CRLF not counted.
                trailerBytes += 1
                if trailerBytes > limits.fieldSize { return .failed(HTTPError(431, "trailer field too long")) }
                if b == 0x3A { state = .trailerValue; break }
                if b == 0x20 || b == 0x09 {
                    return .failed(HTTPError(400, "whitespace between a trailer field name and the colon"))
                }
                guard CharClass.isToken(b) else { return .failed(HTTPError(400, "invalid trailer field name")) }
            case .trailerValue:
                if b == 0x0D { state = .trailerCR; break }
                trailerBytes += 1
                if trailerBytes > limits.fieldSize { return .failed(HTTPError(431, "trailer field too long")) }
                guard CharClass.isFieldValue(b) else { return .failed(HTTPError(400, "invalid trailer field value")) }
            case .trailerCR:
                guard b == 0x0A else { return .failed(HTTPError(400, "bare CR in a trailer field")) }
                trailerBytes = 0
                state = .trailerLineStart
            case .finalLF:
                guard b == 0x0A else { return .failed(HTTPError(400, "missing LF at the end of the chunked body")) }
                state = .done
                return .done(i + 1)
            case .done:
                return .done(i)
            }
            i += 1
        }
        if case .data = state { return .framing(n) }
        return .needMore
    }

    /// The CR may end the size line here: after a name or a value, not
    /// after BWS, ";" or "=" (§7.1.1 has no trailing BWS).
    var endsExtension: Bool {
        switch state {
        case .extName, .extToken, .extAfterQuote: return true
        default: return false
        }
    }

    /// The state after byte `b` of a chunk extension; nil when the grammar refuses it.
    @inline(__always)
    func nextInExtension(_ b: UInt8) -> State? {
        let bws = b == 0x20 || b == 0x09
        switch state {
        case .extSemicolon:
            return bws ? .extSemicolon : b == 0x3B ? .extNameStart : nil
        case .extNameStart:
            return bws ? .extNameStart : CharClass.isToken(b) ? .extName : nil
        case .extName:
            if CharClass.isToken(b) { return .extName }
            return bws ? .extAfterName : b == 0x3B ? .extNameStart : b == 0x3D ? .extValueStart : nil
        case .extAfterName:
            return bws ? .extAfterName : b == 0x3B ? .extNameStart : b == 0x3D ? .extValueStart : nil
        case .extValueStart:
            if bws { return .extValueStart }
            return b == 0x22 ? .extQuoted : CharClass.isToken(b) ? .extToken : nil
        case .extToken:
            if CharClass.isToken(b) { return .extToken }
            return bws ? .extAfterValue : b == 0x3B ? .extNameStart : nil
        case .extQuoted:
            // qdtext: HTAB, SP, VCHAR but '"' and '\', obs-text.
            if b == 0x22 { return .extAfterQuote }
            if b == 0x5C { return .extQuotedPair }
            return bws || (b >= 0x21 && b != 0x7F) ? .extQuoted : nil
        case .extQuotedPair:
            return bws || (b >= 0x21 && b != 0x7F) ? .extQuoted : nil
        case .extAfterQuote, .extAfterValue:
            return bws ? .extAfterValue : b == 0x3B ? .extNameStart : nil
        default:
            return nil
        }
    }
}
