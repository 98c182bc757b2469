#if canImport(Glibc)
import Glibc
#endif
import CSupport

/// The environ of one request, built on first use into an arena that lives
/// as long as the worker: entries are (key, value) C-string pairs.
public struct Environ {
    var keys: UnsafeMutablePointer<UnsafePointer<CChar>>
    var values: UnsafeMutablePointer<UnsafePointer<CChar>>
    var count = 0
    var capacity: Int
    var arena: UnsafeMutablePointer<CChar>
    var arenaCapacity: Int
    var arenaUsed = 0
    var built = false
    /// Arena blocks too large for the main arena, freed at reset.
    var overflow: [UnsafeMutablePointer<CChar>] = []

    init(capacity: Int, arenaCapacity: Int) {
        self.capacity = capacity
        self.arenaCapacity = arenaCapacity
        keys = .allocate(capacity: capacity)
        values = .allocate(capacity: capacity)
        arena = .allocate(capacity: arenaCapacity)
    }

    mutating func reset() {
        count = 0
        arenaUsed = 0
        built = false
        if !overflow.isEmpty {
            for p in overflow { p.deallocate() }
            overflow.removeAll(keepingCapacity: true)
        }
    }

    mutating func add(_ key: UnsafePointer<CChar>, _ value: UnsafePointer<CChar>) {
        if count == capacity {
            let newCapacity = capacity * 2
            let k = UnsafeMutablePointer<UnsafePointer<CChar>>.allocate(capacity: newCapacity)
            let v = UnsafeMutablePointer<UnsafePointer<CChar>>.allocate(capacity: newCapacity)
            k.update(from: keys, count: count); v.update(from: values, count: count)
            keys.deallocate(); values.deallocate()
            keys = k; values = v; capacity = newCapacity
        }
        keys[count] = key
        values[count] = value
        count += 1
    }

    /// Room for `n` bytes (plus NUL) in the arena.
    mutating func reserve(_ n: Int) -> UnsafeMutablePointer<CChar> {
        if arenaUsed + n + 1 <= arenaCapacity {
            let p = arena + arenaUsed
            arenaUsed += n + 1
            return p
        }
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: n + 1)
        overflow.append(p)
        return p
    }

    /// Copies bytes into the arena as a C string.
    mutating func copy(_ src: UnsafePointer<UInt8>, _ n: Int) -> UnsafePointer<CChar> {
        let p = reserve(n)
        UnsafeMutableRawPointer(p).copyMemory(from: src, byteCount: n)
        p[n] = 0
        return UnsafePointer(p)
    }

    mutating func copy(_ s: String) -> UnsafePointer<CChar> {
        var s = s
        return s.withUTF8 { copy($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
    }

    /// Between the values of a repeated header field in its one key: ", "
    /// (RFC 9110 §5.3), but "; " for Cookie (RFC 9113 §8.2.3, as nginx joins
    /// $http_cookie): a comma would glue two cookies into one value. The
    /// same rule on every protocol.
    @inline(__always)
    static func separator(cookie: Bool) -> UInt8 { cookie ? 0x3B : 0x2C }

    func lookup(_ key: UnsafePointer<CChar>) -> UnsafePointer<CChar>? {
        var i = 0
        while i < count {
            if strcmp(keys[i], key) == 0 { return values[i] }
            i += 1
        }
        return nil
    }
}

extension RequestContext {
    /// Builds the environ of the current request (RFC 3875 meta-variables,
    /// one HTTP_* per header, gateway.* keys).
    func buildEnviron() {
        guard !environ.built else { return }
        environ.built = true
        if connection.conformance.fieldSource == .variables { return buildProxiedEnviron() }
        let buf = UnsafePointer(connection.buffer)
        let h = head
        environ.add(CKey.requestMethod, environ.copy(buf + h.method, h.methodLength))
        environ.add(CKey.scriptName, mount.scriptName)
        environ.add(CKey.pathInfo, decodedPath(buf))
        environ.add(CKey.queryString, h.query >= 0 ? environ.copy(buf + h.query, h.queryLength) : CKey.empty)
        environ.add(CKey.requestURI, environ.copy(buf + h.target, h.targetLength))
        environ.add(CKey.serverProtocol, h.version == .http11 ? CKey.http11 : CKey.http10)
        environ.add(CKey.serverSoftware, CKey.software)
        environ.add(CKey.gatewayInterface, CKey.cgi)
        addServerNameAndPort(buf)
        addHeaders(buf)
        addRemote()
        environ.add(CKey.gwVersion, CKey.one)
        environ.add(CKey.gwScheme, scheme == .https ? CKey.https : CKey.http)
        environ.add(CKey.gwMultithread, multithread ? CKey.one : CKey.zero)
        environ.add(CKey.gwMultiprocess, CKey.one)
        environ.add(CKey.gwRunOnce, CKey.zero)
        environ.add(CKey.gwWorkerId, environ.copy(String(identity.id)))
        environ.add(CKey.gwGeneration, environ.copy(String(identity.generation)))
        environ.add(CKey.gwWorkerPid, environ.copy(String(identity.pid)))
        environ.add(CKey.gwProtocol, CKey.http)
    }

    /// PATH_INFO: the path percent-decoded. %00 stays encoded (C strings).
    func decodedPath(_ buf: UnsafePointer<UInt8>) -> UnsafePointer<CChar> {
        // Under script_name, PATH_INFO is what follows the prefix.
        let s = head.path + mount.length, n = head.pathLength - mount.length
        // An absolute-form target without a path means "/" (RFC 9112 §3.2.2);
        // the mount point itself is PATH_INFO "" (PEP 3333).
        if n == 0 { return mount.length > 0 ? CKey.empty : environ.copy("/") }
        let out = environ.reserve(n)
        var o = 0, i = 0
        while i < n {
            let b = buf[s + i]
            if b == 0x25, i + 2 < n, CharClass.isHex(buf[s + i + 1]), CharClass.isHex(buf[s + i + 2]) {
                let v = CharClass.hexValue(buf[s + i + 1]) << 4 | CharClass.hexValue(buf[s + i + 2])
                if v != 0 {
                    out[o] = CChar(bitPattern: UInt8(v)); o += 1; i += 3
                    continue
                }
            }
            out[o] = CChar(bitPattern: b); o += 1; i += 1
        }
        out[o] = 0
        return UnsafePointer(out)
    }

    func addServerNameAndPort(_ buf: UnsafePointer<UInt8>) {
        var hs = -1, hn = 0
        if head.authority >= 0 {
            hs = head.authority; hn = head.authorityLength
        } else if head.host >= 0 {
            let f = head.fields[head.host]
            hs = f.value; hn = f.valueLength
        }
        if hs >= 0 && hn > 0 {
            // host[:port], host may be [v6]
            var colon = -1
            var i = hn - 1
            while i >= 0 {
                let b = buf[hs + i]
                if b == 0x3A { colon = i; break }
                if b == 0x5D { break }
                i -= 1
            }
            if colon >= 0 {
                environ.add(CKey.serverName, environ.copy(buf + hs, colon))
                environ.add(CKey.serverPort, environ.copy(buf + hs + colon + 1, hn - colon - 1))
            } else {
                environ.add(CKey.serverName, environ.copy(buf + hs, hn))
                environ.add(CKey.serverPort, scheme == .https ? CKey.p443 : CKey.p80)
            }
        } else {
            environ.add(CKey.serverName, environ.copy(listener.isUnix ? "localhost" : listenerHost))
            environ.add(CKey.serverPort, environ.copy(listener.port.isEmpty ? "80" : listener.port))
        }
    }

    var listenerHost: String {
        if case let .tcp(host, _) = listener.address { return host }
        return "localhost"
    }

    /// HTTP_* for every field, repeated names joined (Environ.separator). Fields whose
    /// name has '_' are dropped (they would alias '-' names: spoofing), and
    /// Proxy is dropped (httpoxy).
    func addHeaders(_ buf: UnsafePointer<UInt8>) {
        let n = head.fieldCount
        var i = 0
        while i < n {
            let f = head.fields[i]
            i += 1
            if f.nameLength == 0 { continue }
            if memchr(buf + f.name, 0x5F, f.nameLength) != nil { continue }
            if f.nameLength == 5 && HeadParser.equalsLower(buf, f.name, 5, "proxy") { continue }
            // Seen already (an earlier field of the same name)?
            var seen = false
            var j = 0
            while j < i - 1 {
                let g = head.fields[j]
                if g.nameLength == f.nameLength && sameName(buf, g.name, f.name, f.nameLength) { seen = true; break }
                j += 1
            }
            if seen { continue }
            let isType = f.nameLength == 12 && HeadParser.equalsLower(buf, f.name, 12, "content-type")
            let isLength = f.nameLength == 14 && HeadParser.equalsLower(buf, f.name, 14, "content-length")
            // total value length over repeats
            var total = f.valueLength
            var k = i
            while k < n {
                let g = head.fields[k]
                if g.nameLength == f.nameLength && sameName(buf, g.name, f.name, f.nameLength) { total += 2 + g.valueLength }
                k += 1
            }
            let value = environ.reserve(total)
            UnsafeMutableRawPointer(value).copyMemory(from: buf + f.value, byteCount: f.valueLength)
            var o = f.valueLength
            let separator = total == o ? 0 : Environ.separator(cookie: f.nameLength == 6 && HeadParser.equalsLower(buf, f.name, 6, "cookie"))
            k = i
            while k < n {
                let g = head.fields[k]
                if g.nameLength == f.nameLength && sameName(buf, g.name, f.name, f.nameLength) {
                    value[o] = CChar(bitPattern: separator); value[o + 1] = 0x20
                    UnsafeMutableRawPointer(value + o + 2).copyMemory(from: buf + g.value, byteCount: g.valueLength)
                    o += 2 + g.valueLength
                }
                k += 1
            }
            value[o] = 0
            if isType { environ.add(CKey.contentType, UnsafePointer(value)); continue }
            if isLength {
                if head.contentLength >= 0 { environ.add(CKey.contentLength, environ.copy(String(head.contentLength))) }
                continue
            }
            let key = environ.reserve(5 + f.nameLength)
            key[0] = 0x48; key[1] = 0x54; key[2] = 0x54; key[3] = 0x50; key[4] = 0x5F
            var c = 0
            while c < f.nameLength {
                var b = buf[f.name + c]
                if b >= 0x61 && b <= 0x7A { b -= 0x20 } else if b == 0x2D { b = 0x5F }
                key[5 + c] = CChar(bitPattern: b)
                c += 1
            }
            key[5 + f.nameLength] = 0
            environ.add(UnsafePointer(key), UnsafePointer(value))
        }
    }

    @inline(__always)
    func sameName(_ buf: UnsafePointer<UInt8>, _ a: Int, _ b: Int, _ n: Int) -> Bool {
        var i = 0
        while i < n {
            if CharClass.lower(buf[a + i]) != CharClass.lower(buf[b + i]) { return false }
            i += 1
        }
        return true
    }

    func addRemote() {
        if let forwarded = forwardedFor {
            environ.add(CKey.remoteAddr, environ.copy(forwarded))
            environ.add(CKey.remotePort, CKey.empty)
            return
        }
        if let (host, port) = connection.peerAddress {
            environ.add(CKey.remoteAddr, environ.copy(host))
            environ.add(CKey.remotePort, environ.copy(String(port)))
        } else {
            environ.add(CKey.remoteAddr, CKey.empty)
            environ.add(CKey.remotePort, CKey.empty)
        }
    }
}
