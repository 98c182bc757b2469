/// Code around an app, as WSGI middleware: it sees the request first,
/// may edit it, answer itself, or call `next` (the rest of the chain) with a
/// changed request or a filtered response writer.
///
///     struct PoweredBy: Middleware {
///         func respond(to request: Request, with response: ResponseWriter,
///                      next: some Responder) throws {
///             try next.respond(to: request, with: response.addingHeaders { ["X-Powered-By": "gatewayd"] })
///         }
///     }
///
///     Gateway.export(name: "site") { args in
///         try Site(arguments: args).with(RequestID(), ServerTiming(), Mount("/api", API()))
///     }
public protocol Middleware {
    func respond(to request: Request, with response: ResponseWriter, next: some Responder) throws

    /// Called once before the worker exits. The default does nothing.
    func shutdown()
}

extension Middleware {
    public func shutdown() {}
}

/// A middleware that gets the errors thrown inside it (by `next`) as
/// thrown errors, to answer, translate or rethrow them itself. For any
/// other middleware the chain answers an error before it gets back to the
/// middleware (see `ErrorResponse`); what such a middleware rethrows is
/// answered with the writer it was given.
///
///     struct FriendlyErrors: ErrorCatchingMiddleware {
///         func respond(to request: Request, with response: ResponseWriter, next: some Responder) throws {
///             do { try next.respond(to: request, with: response) }
///             catch let error as DatabaseError { throw HTTPError(.serviceUnavailable, "try again") }
///         }
///     }
public protocol ErrorCatchingMiddleware: Middleware {}

extension Responder {
    /// This responder behind `middlewares`; the first one listed sees the
    /// request first (it is the outermost), this responder last.
    public func with(_ middlewares: any Middleware...) -> MiddlewareChain {
        MiddlewareChain(middlewares, app: self)
    }

    /// This responder behind one middleware, with static types throughout
    /// (no existentials): `app.wrapped(in: A()).wrapped(in: B())` lets B see
    /// the request first, like `B(A(app))` in WSGI.
    public func wrapped<M: Middleware>(in middleware: M) -> Wrapped<Self, M> {
        Wrapped(inner: self, middleware: middleware)
    }
}

/// An app behind a list of middlewares (see `Responder.with(_:)`).
public struct MiddlewareChain: Responder {
    public let middlewares: [any Middleware]
    public let app: any Responder

    public init(_ middlewares: [any Middleware], app: any Responder) {
        self.middlewares = middlewares
        self.app = app
    }

    public func respond(to request: Request, with response: ResponseWriter) throws {
        try Link(chain: self, index: 0).respond(to: request, with: response)
    }

    public func shutdown() {
        for middleware in middlewares { middleware.shutdown() }
        app.shutdown()
    }

    /// The rest of the chain from middleware `index` on.
    struct Link: Responder {
        let chain: MiddlewareChain
        let index: Int

        // Errors are answered here, with the writer this link was given:
        // the headers of the middlewares outside it stay on the answer.
        func respond(to request: Request, with response: ResponseWriter) throws {
            do {
                guard index < chain.middlewares.count else {
                    return try chain.app.respond(to: request, with: response)
                }
                try chain.middlewares[index].respond(
                    to: request, with: response, next: Link(chain: chain, index: index + 1))
            } catch {
                // The middleware that called this link as `next` may want the error.
                if index > 0 && chain.middlewares[index - 1] is any ErrorCatchingMiddleware { throw error }
                try ErrorResponse.handle(error, request: request, response: response)
            }
        }
    }
}

/// An app behind one middleware (see `Responder.wrapped(in:)`).
public struct Wrapped<Inner: Responder, Outer: Middleware>: Responder {
    public let inner: Inner
    public let middleware: Outer

    public func respond(to request: Request, with response: ResponseWriter) throws {
        do {
            try middleware.respond(to: request, with: response, next: Answering(inner: inner))
        } catch {
            // What the middleware itself threw (or let through).
            try ErrorResponse.handle(error, request: request, response: response)
        }
    }

    /// The inner responder, whose errors are answered with the writer the
    /// middleware handed it (see `MiddlewareChain.Link`).
    struct Answering: Responder {
        let inner: Inner

        func respond(to request: Request, with response: ResponseWriter) throws {
            do {
                try inner.respond(to: request, with: response)
            } catch {
                if Outer.self is any ErrorCatchingMiddleware.Type { throw error }
                try ErrorResponse.handle(error, request: request, response: response)
            }
        }
    }

    public func shutdown() {
        middleware.shutdown()
        inner.shutdown()
    }
}
