import Gateway
import Testing

/// Records what middlewares and apps see, in order.
final class Trace {
    var events: [String] = []
}

struct Tag: Middleware {
    let name: String
    let trace: Trace

    func respond(to request: Request, with response: ResponseWriter, next: some Responder) throws {
        trace.events.append("\(name)>")
        try next.respond(to: request, with: response)
        trace.events.append("<\(name)")
    }

    func shutdown() { trace.events.append("shutdown \(name)") }
}

struct Recorder: Responder {
    let name: String
    let trace: Trace

    func respond(to request: Request, with response: ResponseWriter) throws {
        trace.events.append("\(name) \(request.scriptName)|\(request.path)")
        try response.respond(body: name)
    }

    func shutdown() { trace.events.append("shutdown \(name)") }
}

@Suite struct MiddlewareTests {
    @Test func firstListedSeesTheRequestFirst() throws {
        let trace = Trace()
        let app = Recorder(name: "app", trace: trace).with(Tag(name: "A", trace: trace), Tag(name: "B", trace: trace))
        try app.respond(to: FakeServer(environ: [("PATH_INFO", "/")]).request, with: FakeServer().response)
        #expect(trace.events == ["A>", "B>", "app |/", "<B", "<A"])
        app.shutdown()
        #expect(trace.events.suffix(3) == ["shutdown A", "shutdown B", "shutdown app"])
    }

    @Test func wrappedNestsLikeWSGI() throws {
        let trace = Trace()
        let app = Recorder(name: "app", trace: trace)
            .wrapped(in: Tag(name: "A", trace: trace))
            .wrapped(in: Tag(name: "B", trace: trace))
        try app.respond(to: FakeServer().request, with: FakeServer().response)
        #expect(trace.events == ["B>", "A>", "app |", "<A", "<B"])
    }

    @Test func mountMovesThePrefixToScriptName() throws {
        let trace = Trace()
        let app = Recorder(name: "main", trace: trace)
            .with(Mount("/api", Recorder(name: "api", trace: trace)))
        for path in ["/api/users", "/api", "/api/", "/apix", "/", "/other/api"] {
            let server = FakeServer(environ: [("SCRIPT_NAME", "/root"), ("PATH_INFO", path)])
            try app.respond(to: server.request, with: server.response)
            // The server's own environ is untouched.
            #expect(server.getenv("PATH_INFO").map { String(cString: $0) } == path)
        }
        #expect(trace.events == [
            "api /root/api|/users", "api /root/api|", "api /root/api|/",
            "main /root|/apix", "main /root|/", "main /root|/other/api",
        ])
    }

    @Test func mountsNest() throws {
        let trace = Trace()
        let v1 = Recorder(name: "v1", trace: trace)
        let app = Recorder(name: "main", trace: trace)
            .with(Mount("/api/", Recorder(name: "api", trace: trace).with(Mount("v1", v1))))
        let server = FakeServer(environ: [("SCRIPT_NAME", ""), ("PATH_INFO", "/api/v1/items")])
        try app.respond(to: server.request, with: server.response)
        #expect(trace.events == ["v1 /api/v1|/items"])
        let environ = FakeServer(environ: [("PATH_INFO", "/api/v1")])
        var seen: [String] = []
        try App { request, response in
            seen = request.environ.map { "\($0.key)=\($0.value)" }
            try response.respond(body: "")
        }.with(Mount("/api", App { request, response in
            seen = request.environ.map { "\($0.key)=\($0.value)" }
            try response.respond(body: "")
        })).respond(to: environ.request, with: environ.response)
        #expect(seen == ["PATH_INFO=/v1", "SCRIPT_NAME=/api"])
    }

    @Test func mountNormalisesItsPrefix() {
        let app = App { _, _ in }
        #expect(Mount("api/", app).prefix == "/api")
        #expect(Mount("/a/b//", app).prefix == "/a/b")
        #expect(Mount("/", app).prefix == "")
    }

    @Test func requestIDIsGeneratedSeenAndReturned() throws {
        var seen: [String] = []
        let app = App { request, response in
            seen.append(request.header("X-Request-Id") ?? "none")
            try response.respond(StaticResponse(headers: ["Content-Type": "text/plain"], body: "ok"))
        }.with(RequestID())
        var returned: [String] = []
        for _ in 0..<2 {
            let server = FakeServer()
            try app.respond(to: server.request, with: server.response)
            guard case .start(_, let headers, _)? = server.calls.first else { Issue.record("no start"); return }
            #expect(headers.first == Pair("Content-Type", "text/plain"))
            returned.append(headers.last?.value ?? "")
            #expect(headers.last?.name == "X-Request-Id")
        }
        #expect(seen == returned)
        #expect(seen[0] != seen[1])
        #expect(!seen[0].isEmpty && !seen[0].contains(" "))
    }

    @Test func requestIDKeepsASaneIncomingID() throws {
        func id(incoming: String, trust: Bool = true) throws -> String {
            let server = FakeServer(environ: [("HTTP_X_REQUEST_ID", incoming)])
            try App { _, response in try response.respond(body: "") }
                .with(RequestID(trustIncoming: trust))
                .respond(to: server.request, with: server.response)
            guard case .start(_, let headers, _)? = server.calls.first else { return "" }
            return headers.first { $0.name == "X-Request-Id" }?.value ?? ""
        }
        #expect(try id(incoming: "abc-123") == "abc-123")
        #expect(try id(incoming: "has space") != "has space")
        #expect(try id(incoming: "") != "")
        #expect(try id(incoming: "abc-123", trust: false) != "abc-123")
    }

    @Test func serverTimingHeader() throws {
        let server = FakeServer()
        try App { _, response in try response.respond(body: "") }
            .with(ServerTiming())
            .respond(to: server.request, with: server.response)
        guard case .start(_, let headers, _)? = server.calls.first else { Issue.record("no start"); return }
        #expect(headers.count == 1)
        #expect(headers.first?.name == "Server-Timing")
        let value = headers.first?.value ?? ""
        #expect(try Regex("app;dur=[0-9]+\\.[0-9]{3}").wholeMatch(in: value) != nil, "\(value)")
    }

    @Test func middlewareCanAnswerItself() throws {
        struct Deny: Middleware {
            func respond(to request: Request, with response: ResponseWriter, next: some Responder) throws {
                guard request.method == "GET" else {
                    return try response.respond(status: .methodNotAllowed, headers: ["Allow": "GET"], body: "")
                }
                try next.respond(to: request, with: response)
            }
        }
        let trace = Trace()
        let app = Recorder(name: "app", trace: trace).with(Deny())
        let post = FakeServer(environ: [("REQUEST_METHOD", "POST")])
        try app.respond(to: post.request, with: post.response)
        #expect(post.calls.first == .start(status: "405 Method Not Allowed", headers: [Pair("Allow", "GET")], flags: 0))
        #expect(trace.events.isEmpty)
    }
}

@Suite struct ArgumentsTests {
    @Test func lookups() throws {
        let arguments = Arguments([("a", "1"), ("b", "x"), ("a", "2")], workerID: 1, generation: 9)
        #expect(arguments.count == 3)
        #expect(arguments["a"] == "2")
        #expect(arguments.values(named: "a") == ["1", "2"])
        #expect(try arguments.require("b") == "x")
        #expect(throws: GatewayError.missingArgument("c")) { try arguments.require("c") }
        #expect(try arguments.value("a", as: Int.self) == 2)
        #expect(try arguments.value("c", as: Int.self) == nil)
        #expect(throws: GatewayError.invalidArgument(name: "b", value: "x")) { try arguments.value("b", as: Int.self) }
        #expect(arguments.map(\.name) == ["a", "b", "a"])
        #expect(arguments.workerID == 1 && arguments.generation == 9)
    }
}
