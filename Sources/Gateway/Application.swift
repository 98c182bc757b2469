/// Anything that answers requests: an app, a closure (`App`), an app
/// wrapped in middleware.
public protocol Responder {
    /// Answers one request. Throwing makes the call return GATEWAY_ERROR:
    /// the client gets a 500 when no body byte was sent, else the connection
    /// is aborted; the error is written to the error log.
    func respond(to request: Request, with response: ResponseWriter) throws

    /// Called once before the worker exits. The default does nothing.
    func shutdown()
}

extension Responder {
    public func shutdown() {}
}

/// A gatewayd app written in Swift: created once per worker from the
/// config's app_args, then asked to respond to one request at a time.
///
///     struct Hello: Application {
///         let hello = StaticResponse(headers: ["Content-Type": "text/plain"], body: "Hello, World!")
///         init(arguments: Arguments) {}
///         func respond(to request: Request, with response: ResponseWriter) throws {
///             try response.respond(hello)
///         }
///     }
///
/// Workers are single-threaded and serve one request at a time, so an app
/// needs no locking, and state kept in a class it owns is per worker.
public protocol Application: Responder {
    /// Boots the app in a worker. Throwing fails the boot: the server logs
    /// the error's description and does not start the worker.
    init(arguments: Arguments) throws
}

/// An app from a closure:
///
///     Gateway.export(name: "echo") { _ in
///         App { request, response in
///             try response.respond(body: try request.readAll())
///         }
///     }
public struct App: Responder {
    let handler: (Request, ResponseWriter) throws -> Void
    let onShutdown: () -> Void

    public init(shutdown: @escaping () -> Void = {},
                _ handler: @escaping (Request, ResponseWriter) throws -> Void) {
        self.handler = handler
        self.onShutdown = shutdown
    }

    public func respond(to request: Request, with response: ResponseWriter) throws {
        try handler(request, response)
    }

    public func shutdown() { onShutdown() }
}
