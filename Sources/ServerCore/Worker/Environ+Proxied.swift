#if canImport(Glibc)
import Glibc
#endif

/// The environ of a uwsgi, SCGI or FastCGI request: the proxy's variables as sent
/// (nginx's stock uwsgi_params, scgi_params, fastcgi_params), completed where those leave
/// gaps, so that the app sees the same keys as over HTTP; only
/// gateway.protocol tells which protocol carried the request.
extension RequestContext {
    func buildProxiedEnviron() {
        let buf = UnsafePointer(connection.buffer)
        var i = 0
        while i < vars.count {
            let v = vars.vars[i]
            i += 1
            // Computed below, or ours alone (a proxy does not speak for the server).
            if isComputed(buf, v) { continue }
            // Empty CONTENT_LENGTH / CONTENT_TYPE mean absent, as over HTTP.
            if v.valueLength == 0 && (equals(buf, v, "CONTENT_LENGTH") || equals(buf, v, "CONTENT_TYPE")) { continue }
            if v.nameLength > 5 && memcmp(buf + v.name, "HTTP_", 5) == 0 {
                addProxiedHeader(buf, i - 1)
                continue
            }
            environ.add(environ.copy(buf + v.name, v.nameLength), environ.copy(buf + v.value, v.valueLength))
        }
        environ.add(CKey.scriptName, mount.scriptName)
        // PATH_INFO: the proxy's when it sent one and no script_name is
        // configured; otherwise from the request URI (fastcgi_params and
        // scgi_params send none), percent-decoded, as over HTTP.
        if mount.length == 0, let p = vars.find(buf, "PATH_INFO"), p.valueLength > 0 {
            environ.add(CKey.pathInfo, environ.copy(buf + p.value, p.valueLength))
        } else {
            environ.add(CKey.pathInfo, decodedPath(buf))
        }
        if vars.find(buf, "REQUEST_METHOD") == nil { environ.add(CKey.requestMethod, environ.copy(buf + head.method, head.methodLength)) }
        if vars.find(buf, "QUERY_STRING") == nil {
            environ.add(CKey.queryString, head.query >= 0 ? environ.copy(buf + head.query, head.queryLength) : CKey.empty)
        }
        if vars.find(buf, "REQUEST_URI") == nil { environ.add(CKey.requestURI, environ.copy(buf + head.target, head.targetLength)) }
        if vars.find(buf, "SERVER_PROTOCOL") == nil { environ.add(CKey.serverProtocol, head.version == .http11 ? CKey.http11 : CKey.http10) }
        if vars.find(buf, "SERVER_SOFTWARE") == nil { environ.add(CKey.serverSoftware, CKey.software) }
        if vars.find(buf, "GATEWAY_INTERFACE") == nil { environ.add(CKey.gatewayInterface, CKey.cgi) }
        if vars.find(buf, "SERVER_NAME") == nil || vars.find(buf, "SERVER_PORT") == nil {
            if let n = vars.find(buf, "SERVER_NAME") {
                environ.add(CKey.serverPort, environ.copy(listener.port.isEmpty ? "80" : listener.port))
                _ = n
            } else if let p = vars.find(buf, "SERVER_PORT") {
                environ.add(CKey.serverName, environ.copy(listener.isUnix ? "localhost" : listenerHost))
                _ = p
            } else {
                addServerNameAndPort(buf)
            }
        }
        if vars.find(buf, "REMOTE_ADDR") == nil {
            addRemote()
        } else if vars.find(buf, "REMOTE_PORT") == nil {
            environ.add(CKey.remotePort, CKey.empty)
        }
        environ.add(CKey.gwVersion, CKey.one)
        environ.add(CKey.gwScheme, proxiedIsSecure(buf) ? CKey.https : CKey.http)
        environ.add(CKey.gwMultithread, multithread ? CKey.one : CKey.zero)
        environ.add(CKey.gwMultiprocess, CKey.one)
        environ.add(CKey.gwRunOnce, CKey.zero)
        environ.add(CKey.gwWorkerId, environ.copy(String(identity.id)))
        environ.add(CKey.gwGeneration, environ.copy(String(identity.generation)))
        environ.add(CKey.gwWorkerPid, environ.copy(String(identity.pid)))
        environ.add(CKey.gwProtocol, CKey.protocolNames[Int(connection.conformance.rawValue)])
    }

    /// The HTTP_* variable at `k` as over HTTP (Environ.swift, addHeaders):
    /// nginx sends one per header line, so a repeated field is joined into
    /// one key (Environ.separator), at its first occurrence;
    /// HTTP_CONTENT_TYPE and HTTP_CONTENT_LENGTH (nginx sends them beside
    /// CONTENT_TYPE and CONTENT_LENGTH) and HTTP_PROXY (httpoxy) are dropped.
    func addProxiedHeader(_ buf: UnsafePointer<UInt8>, _ k: Int) {
        let v = vars.vars[k]
        if equals(buf, v, "HTTP_CONTENT_TYPE") || equals(buf, v, "HTTP_CONTENT_LENGTH") || equals(buf, v, "HTTP_PROXY") { return }
        var j = 0
        while j < k {
            if sameVarName(buf, vars.vars[j], v) { return }  // joined at its first occurrence
            j += 1
        }
        var total = v.valueLength
        j = k + 1
        while j < vars.count {
            let w = vars.vars[j]
            if sameVarName(buf, w, v) { total += 2 + w.valueLength }
            j += 1
        }
        let name = environ.copy(buf + v.name, v.nameLength)
        guard total > v.valueLength else { return environ.add(name, environ.copy(buf + v.value, v.valueLength)) }
        let value = environ.reserve(total)
        UnsafeMutableRawPointer(value).copyMemory(from: buf + v.value, byteCount: v.valueLength)
        let separator = CChar(bitPattern: Environ.separator(cookie: equals(buf, v, "HTTP_COOKIE")))
        var o = v.valueLength
        j = k + 1
        while j < vars.count {
            let w = vars.vars[j]
            if sameVarName(buf, w, v) {
                value[o] = separator; value[o + 1] = 0x20
                UnsafeMutableRawPointer(value + o + 2).copyMemory(from: buf + w.value, byteCount: w.valueLength)
                o += 2 + w.valueLength
            }
            j += 1
        }
        value[o] = 0
        environ.add(name, UnsafePointer(value))
    }

    @inline(__always)
    func sameVarName(_ buf: UnsafePointer<UInt8>, _ a: ProtocolVars.Var, _ b: ProtocolVars.Var) -> Bool {
        a.nameLength == b.nameLength && memcmp(buf + a.name, buf + b.name, a.nameLength) == 0
    }

    /// https when the proxy says so: HTTPS "on" (or "1"), or REQUEST_SCHEME "https".
    func proxiedIsSecure(_ buf: UnsafePointer<UInt8>) -> Bool {
        if let v = vars.find(buf, "HTTPS"), v.valueLength > 0 {
            if (v.valueLength == 2 && HeadParser.equalsLower(buf, v.value, 2, "on")) || (v.valueLength == 1 && buf[v.value] == 0x31) {
                return true
            }
        }
        if let v = vars.find(buf, "REQUEST_SCHEME"), v.valueLength == 5, HeadParser.equalsLower(buf, v.value, 5, "https") { return true }
        return false
    }

    func isComputed(_ buf: UnsafePointer<UInt8>, _ v: ProtocolVars.Var) -> Bool {
        if equals(buf, v, "SCRIPT_NAME") || equals(buf, v, "PATH_INFO") { return true }
        // gateway.* and wsgi.* are the server's keys.
        if v.nameLength >= 8 && memcmp(buf + v.name, "gateway.", 8) == 0 { return true }
        if v.nameLength >= 5 && memcmp(buf + v.name, "wsgi.", 5) == 0 { return true }
        return false
    }

    @inline(__always)
    func equals(_ buf: UnsafePointer<UInt8>, _ v: ProtocolVars.Var, _ name: StaticString) -> Bool {
        v.nameLength == name.utf8CodeUnitCount && memcmp(buf + v.name, name.utf8Start, v.nameLength) == 0
    }
}
