/// Connections whose head is one packet of the proxy's variables (uwsgi,
/// SCGI: their conformance's headDecoding; FastCGI: RequestLoop+FastCGI.swift),
/// one request per connection.
extension RequestLoop {
    func processProxied(_ c: Connection, _ packet: ProtocolConformance.VariablesPacket) {
        guard !c.closed else { return }
        // One request per connection: what follows its body is not ours to read.
        guard c.requests == 0 else { return close(c) }
        let buf = UnsafePointer(c.buffer)
        switch packet.decode(buf, start: c.start, end: c.end, limits: context.protocolLimits, into: &context.vars) {
        case .needMore:
            return
        case .failed(let e):
            reject(c, e)
        case .complete(let end):
            if let e = context.headFromVars(buf, end: end) { return reject(c, e) }
            c.requestStart = c.start
            c.requestEnd = end
            c.start = end
            context.parsedHead(of: c)
            // After the app: the connection closes (RequestLoop.resume).
            dispatch(c)
        }
    }
}

extension RequestContext {
    /// Fills `head` from the proxy's variables, as the HTTP parser would from
    /// a request head: the method, the target (REQUEST_URI, or PATH_INFO and
    /// QUERY_STRING), the version, the body's length. The logs, the
    /// scoreboard and script_name read these.
    func headFromVars(_ buf: UnsafePointer<UInt8>, end: Int) -> HTTPError? {
        head.reset()
        head.end = end
        head.keepAlive = false
        guard let method = vars.find(buf, "REQUEST_METHOD"), method.valueLength > 0 else {
            return HTTPError(400, "no REQUEST_METHOD from the proxy")
        }
        head.method = method.value; head.methodLength = method.valueLength
        head.isHead = method.valueLength == 4 && HeadParser.equalsLower(buf, method.value, 4, "head")
            && buf[method.value] == 0x48
        if let uri = vars.find(buf, "REQUEST_URI"), uri.valueLength > 0 {
            head.target = uri.value; head.targetLength = uri.valueLength
            var q = 0
            while q < uri.valueLength && buf[uri.value + q] != 0x3F { q += 1 }
            // PATH_INFO decodes from this path (fastcgi_params and scgi_params send none): as over HTTP.
            if HeadParser.hasEncodedNUL(buf, uri.value, uri.value + q) { return HeadParser.nulInPath }
            head.path = uri.value; head.pathLength = q
            if q < uri.valueLength { head.query = uri.value + q + 1; head.queryLength = uri.valueLength - q - 1 }
        } else if let path = vars.find(buf, "PATH_INFO"), path.valueLength > 0 {
            head.target = path.value; head.targetLength = path.valueLength
            head.path = path.value; head.pathLength = path.valueLength
            if let q = vars.find(buf, "QUERY_STRING"), q.valueLength > 0 { head.query = q.value; head.queryLength = q.valueLength }
        } else {
            return HTTPError(400, "neither REQUEST_URI nor PATH_INFO from the proxy")
        }
        if let p = vars.find(buf, "SERVER_PROTOCOL"), p.valueLength == 8, buf[p.value + 7] == 0x30 { head.version = .http10 } else { head.version = .http11 }
        guard let length = VarCheck.contentLength(buf, vars.find(buf, "CONTENT_LENGTH")) else {
            return HTTPError(400, "invalid CONTENT_LENGTH from the proxy")
        }
        if vars.find(buf, "CONTENT_LENGTH").map({ $0.valueLength > 0 }) == true { head.contentLength = length }
        if limits.maxBody > 0 && head.contentLength > limits.maxBody { return HTTPError(413, "request body larger than max_body_size") }
        return nil
    }

    /// The proxy's HTTP_NAME variable for header `name` (lowercase), for the access log.
    func proxiedHeader(_ name: StaticString) -> ProtocolVars.Var? {
        let buf = UnsafePointer(connection.buffer)
        let n = name.utf8CodeUnitCount, p = name.utf8Start
        var i = 0
        while i < vars.count {
            let v = vars.vars[i]
            i += 1
            guard v.nameLength == n + 5, HeadParser.equalsLower(buf, v.name, 5, "http_") else { continue }
            var k = 0
            while k < n {
                let want = p[k] == 0x2D ? 0x5F : (p[k] >= 0x61 && p[k] <= 0x7A ? p[k] - 0x20 : p[k])
                if buf[v.name + 5 + k] != want { break }
                k += 1
            }
            if k == n { return v }
        }
        return nil
    }

    /// The client as the proxy saw it (REMOTE_ADDR), for the access log.
    var proxiedClient: String? {
        guard connection.conformance.fieldSource == .variables, let v = vars.find(UnsafePointer(connection.buffer), "REMOTE_ADDR"), v.valueLength > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: connection.buffer + v.value, count: v.valueLength), as: UTF8.self)
    }
}
