/// One request: its environ (CGI/1.1 meta-variables and gateway.* keys), its
/// body (the input stream) and the error log (the errors stream).
///
/// A `Request` wraps the server's `gateway_request` pointer and reads every
/// value lazily, on access, through the api. It is valid only while
/// `respond(to:with:)` runs: do not keep it (or strings' C pointers) longer.
///
/// Environ values can be replaced for the code downstream (as WSGI
/// middleware edits `environ`): `var r = request; r["SCRIPT_NAME"] = "/api"`.
/// Such edits are visible to the copy only (copy-on-write), never to the
/// server.
public struct Request {
    /// The server's request; valid until the call returns.
    public let raw: UnsafeMutablePointer<gateway_request>
    @usableFromInline var overrides: EnvironOverrides?
    /// What the matched route's pattern captured (see `Router`); empty
    /// outside routes.
    public var parameters: Parameters {
        guard let parameters = _parameters else { return Parameters() }
        return parameters.pointee.wildcardIsWholePath
            ? parameters.pointee.resolved(path: cString("PATH_INFO")) : parameters.pointee
    }
    // A pointer, so that a request stays three words and copies cheaply:
    // the router's Parameters live on its stack (or in the router) while
    // the route's handler runs, and a request is valid only that long.
    @usableFromInline var _parameters: UnsafePointer<Parameters>?

    @inlinable
    public init(_ raw: UnsafeMutablePointer<gateway_request>) {
        self.raw = raw
        self.overrides = nil
        self._parameters = nil
    }

    @inlinable
    var api: UnsafePointer<gateway_api> { raw.pointee.api.unsafelyUnwrapped }

    // MARK: Environ, raw (no allocation)

    /// The value of environ key `key` as a C string, or nil when absent.
    /// The pointer is valid until the call returns. Allocates nothing.
    @inlinable
    public func cString(_ key: UnsafePointer<CChar>) -> UnsafePointer<CChar>? {
        if let overrides { return overrides.value(key, else: serverValue(key)) }
        return serverValue(key)
    }

    /// The value of environ key `key` as a C string, or nil when absent.
    @inlinable
    public func cString(_ key: StaticString) -> UnsafePointer<CChar>? {
        if key.hasPointerRepresentation {
            // String literals are NUL-terminated.
            return cString(UnsafeRawPointer(key.utf8Start).assumingMemoryBound(to: CChar.self))
        }
        return key.description.withCString { cString($0) }
    }

    /// The server's own value, ignoring overrides.
    @inlinable
    func serverValue(_ key: UnsafePointer<CChar>) -> UnsafePointer<CChar>? {
        api.pointee.getenv.unsafelyUnwrapped(raw, key)
    }

    // MARK: Environ, as Swift strings

    /// The value of environ key `key` ("PATH_INFO", "HTTP_HOST",
    /// "gateway.worker_id"...), or nil when absent. Setting replaces the
    /// value for this copy of the request; setting nil removes the key.
    public subscript(key: String) -> String? {
        get { key.withCString { cString($0) }.map { String(cString: $0) } }
        set {
            if overrides == nil {
                overrides = EnvironOverrides()
            } else if !isKnownUniquelyReferenced(&overrides!) {
                overrides = overrides!.copy()
            }
            overrides!.set(key, newValue)
        }
    }

    /// REQUEST_METHOD ("GET").
    public var method: String { self["REQUEST_METHOD"] ?? "" }

    /// PATH_INFO: the path below the app's mount point, percent-decoded.
    public var path: String {
        get { self["PATH_INFO"] ?? "" }
        set { self["PATH_INFO"] = newValue }
    }

    /// SCRIPT_NAME: where the app is mounted ("" at the root).
    public var scriptName: String {
        get { self["SCRIPT_NAME"] ?? "" }
        set { self["SCRIPT_NAME"] = newValue }
    }

    /// QUERY_STRING, undecoded, without "?" ("" when none).
    public var query: String { self["QUERY_STRING"] ?? "" }

    /// CONTENT_TYPE, when the request has one.
    public var contentType: String? { self["CONTENT_TYPE"] }

    /// CONTENT_LENGTH as a number, when the request declared one.
    public var contentLength: Int? { self["CONTENT_LENGTH"].flatMap { Int($0) } }

    /// SERVER_PROTOCOL ("HTTP/1.1").
    public var serverProtocol: String { self["SERVER_PROTOCOL"] ?? "" }

    /// REMOTE_ADDR: the client's address.
    public var remoteAddress: String? { self["REMOTE_ADDR"] }

    /// The value of request header `name` ("X-Foo", any case): the environ
    /// key HTTP_X_FOO (CONTENT_TYPE and CONTENT_LENGTH for those two).
    /// Repeated headers arrive joined with ", ".
    public func header(_ name: String) -> String? {
        withHeaderKey(name) { cString($0) }.map { String(cString: $0) }
    }

    /// The environ key of header `name` (HTTP_X_FOO; CONTENT_TYPE and
    /// CONTENT_LENGTH for those two), for middleware that makes it once.
    static func environKey(ofHeader name: String) -> String {
        withHeaderKey(name) { String(cString: $0) }
    }

    /// Calls `body` with the environ key of header `name`, built on the stack.
    func withHeaderKey<R>(_ name: String, _ body: (UnsafePointer<CChar>) -> R) -> R {
        Request.withHeaderKey(name, body)
    }

    static func withHeaderKey<R>(_ name: String, _ body: (UnsafePointer<CChar>) -> R) -> R {
        if Headers.sameName(name, "Content-Type") { return body("CONTENT_TYPE") }
        if Headers.sameName(name, "Content-Length") { return body("CONTENT_LENGTH") }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: name.utf8.count + 6) { key in
            var index = 0
            for byte in "HTTP_".utf8 { key[index] = CChar(bitPattern: byte); index += 1 }
            for byte in name.utf8 {
                let upper = byte >= 0x61 && byte <= 0x7A ? byte - 0x20 : (byte == 0x2D ? 0x5F : byte)
                key[index] = CChar(bitPattern: upper)
                index += 1
            }
            key[index] = 0
            return body(key.baseAddress!)
        }
    }

    /// All environ entries, in the server's order, with this copy's edits.
    public var environ: Environ { Environ(request: self) }

    // MARK: Errors stream

    /// Writes `message` (no trailing newline) to the server's error log.
    public func log(_ message: String, level: LogLevel = .info) {
        message.withCString { api.pointee.log.unsafelyUnwrapped(raw, level.rawValue, $0) }
    }
}
