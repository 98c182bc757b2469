/// The SCGI request head (python.ca/scgi/protocol.txt): a netstring
/// "LENGTH:" name NUL value NUL ... "," whose first variable is
/// CONTENT_LENGTH and which has SCGI = 1; the body follows, CONTENT_LENGTH
/// bytes. Pure: the same bytes give the same answer however they arrived.
public enum SCGIDecoder {
    /// More digits than any allowed block needs.
    static let maxDigits = 7

    public static func decode(_ buf: UnsafePointer<UInt8>, start: Int, end: Int, limits: ProtocolLimits,
                              into vars: inout ProtocolVars) -> ProtocolDecode {
        vars.reset()
        var i = start
        var size = 0
        while true {
            guard i < end else { return .needMore }
            let b = buf[i]
            if b == 0x3A { break }
            guard b >= 0x30 && b <= 0x39 else { return .failed(HTTPError(400, "scgi: netstring length is not a number")) }
            if i > start && buf[start] == 0x30 { return .failed(HTTPError(400, "scgi: netstring length with a leading zero")) }
            guard i - start < maxDigits else { return .failed(HTTPError(431, "scgi: headers too large")) }
            size = size * 10 + Int(b - 0x30)
            i += 1
        }
        guard i > start else { return .failed(HTTPError(400, "scgi: netstring without a length")) }
        if size > limits.total { return .failed(HTTPError(431, "scgi: headers too large")) }
        let first = i + 1
        let stop = first + size
        guard end > stop else { return .needMore }
        guard buf[stop] == 0x2C else { return .failed(HTTPError(400, "scgi: netstring not closed by ','")) }
        i = first
        while i < stop {
            guard let nameEnd = nul(buf, i, stop) else { return .failed(HTTPError(400, "scgi: name without its NUL")) }
            let nameLength = nameEnd - i
            guard nameLength <= limits.nameSize else { return .failed(HTTPError(431, "scgi: variable name too long")) }
            guard VarCheck.name(buf, i, nameLength) else { return .failed(HTTPError(400, "scgi: invalid variable name")) }
            let value = nameEnd + 1
            guard let valueEnd = nul(buf, value, stop) else { return .failed(HTTPError(400, "scgi: value without its NUL")) }
            let valueLength = valueEnd - value
            guard valueLength <= limits.valueSize else { return .failed(HTTPError(431, "scgi: variable value too long")) }
            guard vars.count < min(limits.vars, vars.capacity) else { return .failed(HTTPError(431, "scgi: too many variables")) }
            vars.vars[vars.count] = .init(name: i, nameLength: nameLength, value: value, valueLength: valueLength)
            vars.count += 1
            i = valueEnd + 1
        }
        guard vars.count > 0, vars.vars[0].nameLength == 14, vars.find(buf, "CONTENT_LENGTH") == vars.vars[0] else {
            return .failed(HTTPError(400, "scgi: CONTENT_LENGTH is not the first header"))
        }
        guard let length = vars.find(buf, "CONTENT_LENGTH"), length.valueLength > 0,
              VarCheck.contentLength(buf, length) != nil else {
            return .failed(HTTPError(400, "scgi: invalid CONTENT_LENGTH"))
        }
        guard let scgi = vars.find(buf, "SCGI"), scgi.valueLength == 1, buf[scgi.value] == 0x31 else {
            return .failed(HTTPError(400, "scgi: no SCGI=1 header"))
        }
        return .complete(end: stop + 1)
    }

    @inline(__always)
    static func nul(_ buf: UnsafePointer<UInt8>, _ from: Int, _ stop: Int) -> Int? {
        var i = from
        while i < stop {
            if buf[i] == 0 { return i }
            i += 1
        }
        return nil
    }
}
