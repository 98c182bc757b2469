/// Routes under a prefix (see `Router.group(_:)`); groups nest.
public struct RouteGroup {
    let router: Router
    let prefix: RoutePattern

    init(router: Router, prefix: RoutePattern) {
        precondition(prefix.isLiteral, "route group: literal segments only")
        self.router = router
        self.prefix = prefix
    }

    public func on(_ method: String, _ pattern: String, _ responder: some Responder) {
        router.add(method: method, prefix + RoutePattern(pattern), responder, mountedSegments: prefix.segments.count)
    }

    public func on(_ method: String, _ pattern: String, _ handler: @escaping Router.Handler) {
        router.add(method: method, prefix + RoutePattern(pattern), App(handler), handler: handler,
                   mountedSegments: prefix.segments.count)
    }

    public func get(_ pattern: String, _ handler: @escaping Router.Handler) { on("GET", pattern, handler) }
    public func post(_ pattern: String, _ handler: @escaping Router.Handler) { on("POST", pattern, handler) }
    public func put(_ pattern: String, _ handler: @escaping Router.Handler) { on("PUT", pattern, handler) }
    public func patch(_ pattern: String, _ handler: @escaping Router.Handler) { on("PATCH", pattern, handler) }
    public func delete(_ pattern: String, _ handler: @escaping Router.Handler) { on("DELETE", pattern, handler) }

    public func group(_ prefix: String) -> RouteGroup {
        RouteGroup(router: router, prefix: self.prefix + RoutePattern(prefix))
    }
}
