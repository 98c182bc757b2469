import Gateway
import Testing

/// Serves `method path` through `app` on a fake server.
func serve(_ app: some Responder, _ method: String, _ path: String,
           environ: [(String, String)] = []) throws -> FakeServer {
    let server = FakeServer(environ: [("REQUEST_METHOD", method), ("PATH_INFO", path)] + environ)
    try app.respond(to: server.request, with: server.response)
    return server
}

extension FakeServer {
    var status: String? {
        guard case .start(let status, _, _)? = calls.first(where: { if case .start = $0 { return true } else { return false } })
        else { return nil }
        return status
    }

    var headers: [Pair] {
        guard case .start(_, let headers, _)? = calls.last(where: { if case .start = $0 { return true } else { return false } })
        else { return [] }
        return headers
    }
}

@Suite struct RouterTests {
    func todoRouter() -> Router {
        let router = Router()
        router.get("/todos") { _, response in try response.respond(body: "list") }
        router.post("/todos") { _, response in try response.respond(status: .created, body: "created") }
        router.get("/todos/:id") { request, response in
            let id = try request.parameters.require("id", as: Int.self)
            try response.respond(body: "todo \(id)")
        }
        router.delete("/todos/:id") { request, response in
            try response.respond(body: "deleted \(request.parameters["id"] ?? "?")")
        }
        router.get("/todos/special") { _, response in try response.respond(body: "special") }
        router.get("/users/:user/todos/:id") { request, response in
            try response.respond(body: "\(request.parameters["user"]!) \(request.parameters["id"]!)")
        }
        router.get("/static/*") { request, response in
            try response.respond(body: "file \(request.parameters.wildcard ?? "nil")")
        }
        return router
    }

    // Routes answer as HTTPErrors when they do not match: the app (behind
    // no middleware here) is called through the exported entry point in
    // ExportTests; here the chain's links answer them.
    func app() -> some Responder { todoRouter().with() }

    @Test(arguments: [
        ("GET", "/todos", "200 OK", "list"),
        ("GET", "/todos/", "200 OK", "list"),
        ("GET", "//todos", "200 OK", "list"),
        ("POST", "/todos", "201 Created", "created"),
        ("GET", "/todos/42", "200 OK", "todo 42"),
        ("DELETE", "/todos/42", "200 OK", "deleted 42"),
        ("GET", "/todos/special", "200 OK", "special"),
        ("GET", "/users/ann/todos/7", "200 OK", "ann 7"),
        ("GET", "/static/css/site.css", "200 OK", "file css/site.css"),
        ("GET", "/static", "200 OK", "file "),
        ("HEAD", "/todos/1", "200 OK", "todo 1"),
        ("GET", "/todos/abc", "400 Bad Request", "parameter id is not a valid Int: \"abc\"\n"),
        ("GET", "/nothing", "404 Not Found", "Not Found\n"),
        ("GET", "/", "404 Not Found", "Not Found\n"),
        ("GET", "/todos/1/more", "404 Not Found", "Not Found\n"),
        ("PUT", "/todos/1", "405 Method Not Allowed", "Method Not Allowed\n"),
    ])
    func routes(method: String, path: String, status: String, body: String) throws {
        let server = try serve(app(), method, path)
        #expect(server.status == status)
        #expect(server.sentBody == body)
    }

    @Test func methodNotAllowedSaysWhatIsAllowed() throws {
        let server = try serve(app(), "PATCH", "/todos/3")
        #expect(server.headers.contains(Pair("Allow", "DELETE, GET, HEAD")))
        let list = try serve(app(), "DELETE", "/todos")
        #expect(list.headers.contains(Pair("Allow", "GET, HEAD, POST")))
    }

    @Test func literalBeatsParameterAndBacktracks() throws {
        let router = Router()
        router.get("/a/b/c") { _, r in try r.respond(body: "abc") }
        router.get("/a/:x/d") { request, r in try r.respond(body: "x=\(request.parameters["x"]!)") }
        #expect(try serve(router.with(), "GET", "/a/b/c").sentBody == "abc")
        #expect(try serve(router.with(), "GET", "/a/b/d").sentBody == "x=b")
    }

    @Test func explicitHeadRouteWins() throws {
        let router = Router()
        router.get("/") { _, r in try r.respond(body: "get") }
        router.on("HEAD", "/") { _, r in try r.respond(body: "head") }
        #expect(try serve(router.with(), "HEAD", "/").sentBody == "head")
    }

    @Test func groupsMoveTheirPrefixToScriptName() throws {
        let router = Router()
        let api = router.group("/api")
        let v1 = api.group("v1/")
        v1.get("/items/:id") { request, response in
            try response.respond(body: "\(request.scriptName)|\(request.path)|\(request.parameters["id"]!)")
        }
        api.get("/") { request, response in try response.respond(body: "\(request.scriptName)|\(request.path)") }
        let server = try serve(router.with(), "GET", "/api/v1/items/9", environ: [("SCRIPT_NAME", "/root")])
        #expect(server.sentBody == "/root/api/v1|/items/9|9")
        #expect(try serve(router.with(), "GET", "/api").sentBody == "/api|")
    }

    @Test func mountTakesEveryMethodBelowThePrefix() throws {
        let trace = Trace()
        let router = Router()
        router.mount("/files", Recorder(name: "files", trace: trace))
        _ = try serve(router.with(), "POST", "/files/a/b")
        _ = try serve(router.with(), "GET", "/files")
        #expect(trace.events == ["files /files|/a/b", "files /files|"])
        router.shutdown()
        #expect(trace.events.last == "shutdown files")
    }

    @Test func parametersAccessors() throws {
        let router = Router()
        router.get("/p/:a/:b") { request, response in
            let p = request.parameters
            #expect(p.declaredNames == ["a", "b"])
            #expect(p.get("a", as: Int.self) == 1)
            #expect(p.get("b", as: Int.self) == nil)
            #expect(p.wildcard == nil)
            #expect(throws: HTTPError(.internalServerError, "the route has no parameter \"c\"")) { try p.require("c") }
            try response.respond(body: "")
        }
        _ = try serve(router.with(), "GET", "/p/1/x")
    }
}

@Suite struct CatchAllTests {
    @Test func anyStarAloneReadsNoEnvironUntilAsked() throws {
        let router = Router()
        router.any("/*") { request, response in try response.respond(body: request.parameters.wildcard ?? "nil") }
        #expect(try serve(router.with(), "DELETE", "//a/b").sentBody == "a/b")
        #expect(try serve(router.with(), "GET", "/").sentBody == "")
    }

    @Test func anyTakesWhatNoMethodRouteTakes() throws {
        let router = Router()
        router.get("/x") { _, r in try r.respond(body: "get") }
        router.any("/x") { request, r in try r.respond(body: "any \(request.method)") }
        #expect(try serve(router.with(), "GET", "/x").sentBody == "get")
        #expect(try serve(router.with(), "POST", "/x").sentBody == "any POST")
    }
}
