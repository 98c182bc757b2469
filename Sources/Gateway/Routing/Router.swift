#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Routes requests by method and PATH_INFO to handlers: literal segments,
/// `:name` parameters, a trailing `*`; HEAD answered by the GET route; a
/// path with routes but not for this method gets 405 with `Allow`, any
/// other 404 (both as `HTTPError`s, so middleware headers stay).
///
///     let router = Router()
///     router.get("/todos") { request, response in ... }
///     router.get("/todos/:id") { request, response in
///         let id = try request.parameters.require("id", as: Int.self)
///         ...
///     }
///     let api = router.group("/api")          // handlers see SCRIPT_NAME "/api", as under Mount
///     api.post("/items") { request, response in ... }
///     router.mount("/static", Files())        // any method, the rest of the path
///
/// Add every route in the app's init: the routes are read, never changed,
/// while requests are served. Matching walks a trie of flat arrays and
/// allocates nothing; only routes in a group copy the request to move the
/// prefix to SCRIPT_NAME.
public final class Router: Responder {
    public typealias Handler = (Request, ResponseWriter) throws -> Void

    /// A matched route's target: the handler, its parameter names, and the
    /// number of leading path segments its group moves to SCRIPT_NAME.
    @usableFromInline
    final class Endpoint {
        let responder: any Responder
        let handler: Handler
        let names: [String]
        let mountedSegments: Int

        init(_ responder: any Responder, handler: Handler?, names: [String], mountedSegments: Int) {
            self.responder = responder
            self.handler = handler ?? { try responder.respond(to: $0, with: $1) }
            self.names = names
            self.mountedSegments = mountedSegments
        }
    }

    /// The routes, behind a pointer: reading a class's `var` costs a
    /// dynamic exclusivity check per access (about 110 instructions per
    /// request here, measured), a pointer's pointee none. Written only
    /// while routes are added.
    struct Storage {
        var trie = RouteTrie()
        var endpoints: [Endpoint] = []
        var table = RouteTable(RouteTrie(), endpoints: [])
        /// Each node's 405 `Allow` value, made with the table.
        var allow: [String] = [""]
    }

    private let storage: UnsafeMutablePointer<Storage>
    /// What a catch-all route's requests point to: the wildcard is the
    /// whole path, read when asked.
    private let wholePath: UnsafeMutablePointer<Parameters>

    public init() {
        storage = .allocate(capacity: 1)
        storage.initialize(to: Storage())
        wholePath = .allocate(capacity: 1)
        wholePath.initialize(to: Parameters())
        wholePath.pointee.wildcardIsWholePath = true
    }

    deinit {
        wholePath.deallocate()
        storage.pointee.table.deallocate()
        storage.deinitialize(count: 1)
        storage.deallocate()
    }

    // MARK: Adding routes

    /// Routes `method` requests for `pattern` to `responder`.
    public func on(_ method: String, _ pattern: String, _ responder: some Responder) {
        add(method: method, RoutePattern(pattern), responder, mountedSegments: 0)
    }

    /// Routes `method` requests for `pattern` to `handler`.
    public func on(_ method: String, _ pattern: String, _ handler: @escaping Handler) {
        add(method: method, RoutePattern(pattern), App(handler), handler: handler, mountedSegments: 0)
    }

    public func get(_ pattern: String, _ handler: @escaping Handler) { on("GET", pattern, handler) }
    public func post(_ pattern: String, _ handler: @escaping Handler) { on("POST", pattern, handler) }
    public func put(_ pattern: String, _ handler: @escaping Handler) { on("PUT", pattern, handler) }
    public func patch(_ pattern: String, _ handler: @escaping Handler) { on("PATCH", pattern, handler) }
    public func delete(_ pattern: String, _ handler: @escaping Handler) { on("DELETE", pattern, handler) }

    /// Routes requests of every method for `pattern` (a method with its
    /// own route at the same pattern takes that one).
    public func any(_ pattern: String, _ handler: @escaping Handler) {
        add(method: nil, RoutePattern(pattern), App(handler), handler: handler, mountedSegments: 0)
    }

    /// Routes every method for `prefix` and everything below it to
    /// `responder`, with Mount's semantics: the prefix moves from PATH_INFO
    /// to SCRIPT_NAME. The prefix is literal segments only.
    public func mount(_ prefix: String, _ responder: some Responder) {
        let pattern = RoutePattern(prefix)
        precondition(pattern.isLiteral, "mount \(prefix): literal segments only")
        add(method: nil, pattern + RoutePattern("*"), responder, mountedSegments: pattern.segments.count)
    }

    /// Routes added through the group are under `prefix` (literal
    /// segments), and their handlers see it in SCRIPT_NAME, as under `Mount`.
    public func group(_ prefix: String) -> RouteGroup {
        RouteGroup(router: self, prefix: RoutePattern(prefix))
    }

    func add(method: String?, _ pattern: RoutePattern, _ responder: some Responder, handler: Handler? = nil,
             mountedSegments: Int) {
        storage.pointee.endpoints.append(Endpoint(responder, handler: handler, names: pattern.parameterNames,
                                                  mountedSegments: mountedSegments))
        storage.pointee.trie.insert(pattern, method: method, endpoint: storage.pointee.endpoints.count - 1)
        storage.pointee.table.deallocate()
        storage.pointee.table = RouteTable(storage.pointee.trie, endpoints: storage.pointee.endpoints)
        let table = storage.pointee.table
        storage.pointee.allow = (0..<table.nodes.count).map { table.allowedMethods(at: Int32($0)).joined(separator: ", ") }
    }

    // MARK: Serving

    public func respond(to request: Request, with response: ResponseWriter) throws {
        let table = storage.pointee.table
        if table.catchAll >= 0 {
            var routed = request
            routed._parameters = UnsafePointer(wholePath)
            return try table.endpoints[Int(table.catchAll)]._withUnsafeGuaranteedRef { try $0.handler(routed, response) }
        }
        let path = request.cString("PATH_INFO").map { UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self) }
        let pathBytes = UnsafeBufferPointer(start: path, count: path.map { strlen($0) } ?? 0)
        var parameters = Parameters()
        let node = table.match(pathBytes, into: &parameters)
        guard node >= 0 else { throw HTTPError(.notFound) }
        let method = request.cString("REQUEST_METHOD").map {
            table.methodCode(UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self))
        } ?? RouteTrie.anyMethod - 1
        let index = table.endpoint(at: node, method: method)
        guard index >= 0 else {
            throw HTTPError(.methodNotAllowed, headers: ["Allow": storage.pointee.allow[Int(node)]])
        }
        try table.endpoints[Int(index)]._withUnsafeGuaranteedRef { endpoint in
            try call(endpoint, request, response, path: pathBytes, parameters: &parameters)
        }
    }

    @inline(__always)
    private func call(_ endpoint: Endpoint, _ request: Request, _ response: ResponseWriter,
                      path pathBytes: UnsafeBufferPointer<UInt8>, parameters: inout Parameters) throws {
        var routed = request
        parameters.base = pathBytes.baseAddress
        parameters.endpoint = endpoint
        if endpoint.mountedSegments > 0 {
            let split = Router.offset(after: endpoint.mountedSegments, in: pathBytes)
            routed.scriptName = request.scriptName + String(decoding: UnsafeBufferPointer(rebasing: pathBytes[..<split]), as: UTF8.self)
            routed.path = String(decoding: UnsafeBufferPointer(rebasing: pathBytes[split...]), as: UTF8.self)
        }
        try withUnsafePointer(to: &parameters) { parameters in
            routed._parameters = parameters
            try endpoint.handler(routed, response)
        }
    }

    /// The byte offset in `path` where its first `segments` segments end.
    static func offset(after segments: Int, in path: UnsafeBufferPointer<UInt8>) -> Int {
        var position = 0
        for _ in 0..<segments {
            while position < path.count && path[position] == UInt8(ascii: "/") { position += 1 }
            while position < path.count && path[position] != UInt8(ascii: "/") { position += 1 }
        }
        return position
    }

    public func shutdown() {
        for endpoint in storage.pointee.endpoints { endpoint.responder.shutdown() }
    }
}
