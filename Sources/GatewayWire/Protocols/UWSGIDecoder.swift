/// The uwsgi packet header and vars block (uWSGI's binary protocol, as
/// nginx's uwsgi_pass sends it): a 4-byte header (modifier1 = 0, the vars
/// block's size as little-endian u16, modifier2: ignored, as uWSGI ignores
/// it for a WSGI request, so a site's uwsgi_modifier2 does not break it), then pairs of
/// (u16 length, name), (u16 length, value) filling that size exactly. The
/// body follows, CONTENT_LENGTH bytes. Pure: the same bytes give the same
/// answer however they arrived.
public enum UWSGIDecoder {
    public static func decode(_ buf: UnsafePointer<UInt8>, start: Int, end: Int, limits: ProtocolLimits,
                              into vars: inout ProtocolVars) -> ProtocolDecode {
        vars.reset()
        let available = end - start
        if available >= 1 && buf[start] != 0 { return .failed(HTTPError(400, "uwsgi: modifier1 is not 0 (WSGI request)")) }
        guard available >= 4 else { return .needMore }
        let size = Int(buf[start + 1]) | Int(buf[start + 2]) << 8
        if size > limits.total { return .failed(HTTPError(431, "uwsgi: vars block too large")) }
        guard available >= 4 + size else { return .needMore }
        var i = start + 4
        let stop = start + 4 + size
        while i < stop {
            guard stop - i >= 2 else { return .failed(HTTPError(400, "uwsgi: truncated name length")) }
            let nameLength = Int(buf[i]) | Int(buf[i + 1]) << 8
            let name = i + 2
            guard nameLength <= stop - name else { return .failed(HTTPError(400, "uwsgi: name past the vars block")) }
            guard nameLength <= limits.nameSize else { return .failed(HTTPError(431, "uwsgi: variable name too long")) }
            guard VarCheck.name(buf, name, nameLength) else { return .failed(HTTPError(400, "uwsgi: invalid variable name")) }
            i = name + nameLength
            guard stop - i >= 2 else { return .failed(HTTPError(400, "uwsgi: truncated value length")) }
            let valueLength = Int(buf[i]) | Int(buf[i + 1]) << 8
            let value = i + 2
            guard valueLength <= stop - value else { return .failed(HTTPError(400, "uwsgi: value past the vars block")) }
            guard valueLength <= limits.valueSize else { return .failed(HTTPError(431, "uwsgi: variable value too long")) }
            guard VarCheck.value(buf, value, valueLength) else { return .failed(HTTPError(400, "uwsgi: NUL in a value")) }
            guard vars.count < min(limits.vars, vars.capacity) else { return .failed(HTTPError(431, "uwsgi: too many variables")) }
            vars.vars[vars.count] = .init(name: name, nameLength: nameLength, value: value, valueLength: valueLength)
            vars.count += 1
            i = value + valueLength
        }
        guard VarCheck.contentLength(buf, vars.find(buf, "CONTENT_LENGTH")) != nil else {
            return .failed(HTTPError(400, "uwsgi: invalid CONTENT_LENGTH"))
        }
        return .complete(end: stop)
    }
}
