@_spi(Testing) import Gateway

/// Runs an app in process against an in-memory gatewayd: no server, no
/// socket, no fork. Each `execute` is one request through the same entry
/// point the server calls (errors answered as the exported app answers
/// them), framed as gatewayd would frame it.
///
///     @Test func createsATodo() throws {
///         let server = try TestServer(TodoApp.self, arguments: ["limit": "10"])
///         let created = try server.execute("POST", "/todos", headers: ["Content-Type": "application/json"],
///                                          body: #"{"title":"milk"}"#)
///         #expect(created.status == .created)
///         #expect(created.framing == .contentLength(created.body.count))
///     }
///
/// One server serves one request at a time, as a worker with `threads = 1`
/// does; separate servers are independent (tests may run in parallel). A
/// native app booted with `threads:` > 1 may be sent requests from that
/// many threads at once, as such a worker calls it.
public final class TestServer {
    /// What answers: a Swift responder, or a native app's shared library.
    private enum Backend {
        case swift(AppHost)
        case native(NativeApp)
    }
    private let backend: Backend
    /// gatewayd's max_body_size: a longer body is refused with 413 (nil: no limit).
    public var maxBodySize: Int?
    public let workerID: Int

    /// Serves `responder` (an app already made, or an app in middleware).
    public init(_ responder: some Responder, workerID: Int = 0) {
        backend = .swift(AppHost(responder))
        self.workerID = workerID
    }

    /// Loads the app in the shared library at `path` (any app built against
    /// gateway.h: C, C++, a Swift app's .so) as a worker does, and boots it
    /// with `arguments` (app_args); a load or init failure is thrown with
    /// the reason a worker would log. `threads` is gateway_init.threads (an
    /// app that does not declare GATEWAY_APP_THREAD_SAFE is refused above 1,
    /// as a worker refuses it).
    ///
    ///     let server = try TestServer(library: "build/apps/hello-c.so")
    ///     #expect(server.execute("GET", "/").text == "Hello, World!")
    public init(library path: String, arguments: [String: String] = [:], workerID: Int = 0, threads: Int = 1) throws {
        let pairs = arguments.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map { ($0.key, $0.value) }
        backend = .native(try NativeApp(path: path, arguments: pairs, workerID: workerID, threads: threads))
        self.workerID = workerID
    }

    /// Boots `type` from `arguments` (app_args, sorted by name as a TOML
    /// table gives them) as a worker would; its init's error is thrown.
    public convenience init<A: Application>(_ type: A.Type, arguments: [String: String] = [:], workerID: Int = 0) throws {
        let pairs = arguments.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map { ($0.key, $0.value) }
        self.init(try A(arguments: Arguments(pairs, workerID: workerID)), workerID: workerID)
    }

    deinit {
        switch backend {
        case .swift(let host): host.shutdown()
        case .native(let app): app.shutdown()
        }
    }

    /// Sends `request`; returns what the client got.
    public func execute(_ request: TestRequest) -> TestResponse {
        let exchange = InMemoryExchange(request, maxBodySize: maxBodySize, workerID: workerID, appData: nil)
        let result = withExtendedLifetime(exchange) {
            switch backend {
            case .swift(let host): return host.call(exchange.raw)
            case .native(let app): return app.call(exchange.raw)
            }
        }
        return exchange.response(callResult: result)
    }

    /// Sends a request whose body is `body`'s pieces, in order.
    public func execute(_ method: String = "GET", _ target: String, headers: Headers = [:],
                        body: String..., chunked: Bool = false) -> TestResponse {
        execute(TestRequest(method, target, headers: headers, body: body.map { Array($0.utf8) }, chunked: chunked))
    }
}
