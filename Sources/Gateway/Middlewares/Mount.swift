/// Mounts an app at a path prefix, as WSGI dispatchers do: a request for
/// `prefix` or `prefix/...` goes to `app` with the prefix moved from
/// PATH_INFO to the end of SCRIPT_NAME; any other request goes on down the
/// chain.
///
///     Main().with(Mount("/api", API()), Mount("/static", Files()))
///     // GET /api/users: API sees SCRIPT_NAME "/api", PATH_INFO "/users"
public struct Mount: Middleware {
    /// The prefix, normalised: a leading "/", no trailing "/" ("" mounts at the root).
    public let prefix: String
    public let app: any Responder

    public init(_ prefix: String, _ app: some Responder) {
        var trimmed = Substring(prefix)
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.prefix = trimmed.isEmpty || trimmed.hasPrefix("/") ? String(trimmed) : "/" + trimmed
        self.app = app
    }

    public func respond(to request: Request, with response: ResponseWriter, next: some Responder) throws {
        let path = request.path
        guard let rest = remainder(of: path) else {
            return try next.respond(to: request, with: response)
        }
        var mounted = request
        mounted.scriptName = request.scriptName + prefix
        mounted.path = rest
        try app.respond(to: mounted, with: response)
    }

    /// The path below the prefix, or nil when `path` is not under it.
    func remainder(of path: String) -> String? {
        let prefixBytes = prefix.utf8
        guard path.utf8.starts(with: prefixBytes) else { return nil }
        let rest = path.utf8.dropFirst(prefixBytes.count)
        guard rest.isEmpty || rest.first == UInt8(ascii: "/") else { return nil }
        return String(decoding: rest, as: UTF8.self)
    }

    public func shutdown() { app.shutdown() }
}
