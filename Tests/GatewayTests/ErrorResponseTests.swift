import Gateway
import Testing

@Suite struct ErrorResponseTests {
    struct Teapot: HTTPResponseError {
        var status: Status { 418 }
        var headers: Headers { ["X-Why": "short and stout"] }
    }

    func failing(_ error: Error) -> App { App { _, _ in throw error } }

    @Test func anHTTPResponseErrorIsItsResponse() throws {
        let server = try serve(failing(Teapot()).with(), "GET", "/")
        #expect(server.calls == [
            .start(status: "418 I'm a teapot",
                   headers: [Pair("X-Why", "short and stout"), Pair("Content-Type", "text/plain; charset=utf-8")], flags: 0),
            .writeLast("I'm a teapot\n"),
        ])
    }

    @Test func middlewareHeadersStayOnErrorResponses() throws {
        let app = failing(HTTPError(.conflict, "taken")).with(RequestID())
        let server = try serve(app, "GET", "/")
        #expect(server.status == "409 Conflict")
        #expect(server.headers.contains { $0.name == "X-Request-Id" })
        #expect(server.sentBody == "taken\n")
        let wrapped = try serve(failing(HTTPError(.conflict)).wrapped(in: RequestID()), "GET", "/")
        #expect(wrapped.headers.contains { $0.name == "X-Request-Id" })
    }

    @Test func anErrorFromAMiddlewareKeepsTheOuterOnesHeaders() throws {
        struct Deny: Middleware {
            func respond(to request: Request, with response: ResponseWriter, next: some Responder) throws {
                throw HTTPError(.unauthorized)
            }
        }
        let server = try serve(App { _, r in try r.respond(body: "no") }.with(RequestID(), Deny()), "GET", "/")
        #expect(server.status == "401 Unauthorized")
        #expect(server.headers.contains { $0.name == "X-Request-Id" })
    }

    @Test func sdkErrorsMapByDefault() throws {
        let tooLarge = try serve(App { request, _ in _ = try request.readAll(limit: 3) }.with(), "POST", "/",
                                 environ: [])
        #expect(tooLarge.status == nil)  // empty body: nothing thrown, nothing sent
        let server = FakeServer(environ: [("REQUEST_METHOD", "POST")], body: "0123456789")
        try App { request, _ in _ = try request.readAll(limit: 3) }.with().respond(to: server.request, with: server.response)
        #expect(server.status == "413 Content Too Large")
        #expect(server.sentBody == "the request body is larger than 3 bytes\n")
    }

    @Test(arguments: [GatewayError.clientGone, .timedOut, .requestBodyTooLarge, .malformedRequestBody, .requestBodyTimedOut])
    func serverAnsweredErrorsWriteNothing(error: GatewayError) throws {
        let server = FakeServer()
        #expect(throws: error) { try failing(error).with().respond(to: server.request, with: server.response) }
        #expect(server.calls.isEmpty)
    }

    @Test func otherErrorsAre500sAndLogged() throws {
        struct Oops: Error {}
        let server = try serve(failing(Oops()).with(), "GET", "/")
        #expect(server.status == "500 Internal Server Error")
        #expect(server.logs.map(\.message) == ["app error: Oops()"])
    }

    @Test func anErrorAfterTheHeadWentOutIsNotAnswered() throws {
        let server = FakeServer()
        let app = App { _, response in
            try response.start(status: .ok)
            try response.write("partial")
            throw HTTPError(.badRequest)
        }.with(RequestID())
        #expect(throws: (any Error).self) { try app.respond(to: server.request, with: server.response) }
        #expect(server.sentBody == "partial")
    }

    @Test func headFilterSeesAndChangesValues() throws {
        var seen: [String] = []
        struct Stamp: Middleware {
            let record: (String) -> Void
            func respond(to request: Request, with response: ResponseWriter, next: some Responder) throws {
                try next.respond(to: request, with: response.filteringHead { head in
                    record("\(head.status.code) \(head.headers["content-type"] ?? "-")")
                    head.headers.add("X-Stamp", "1")
                    if head.status.code == 404 { head.status = .gone }
                })
            }
        }
        let router = Router()
        router.get("/") { _, r in try r.respond(headers: ["Content-Type": "text/html"], body: "home") }
        let app = router.with(Stamp { seen.append($0) })
        let home = try serve(app, "GET", "/")
        #expect(home.headers == [Pair("Content-Type", "text/html"), Pair("X-Stamp", "1")])
        let missing = try serve(app, "GET", "/x")
        #expect(missing.status == "410 Gone")
        #expect(seen == ["200 text/html", "404 text/plain; charset=utf-8"])
    }
}

@Suite struct ErrorCatchingTests {
    struct Translate: ErrorCatchingMiddleware {
        struct Database: Error {}
        func respond(to request: Request, with response: ResponseWriter, next: some Responder) throws {
            do { try next.respond(to: request, with: response) }
            catch is Database { throw HTTPError(.serviceUnavailable, "try again") }
        }
    }

    @Test func anErrorCatchingMiddlewareSeesTheThrownError() throws {
        let failing = App { _, _ in throw Translate.Database() }
        let chained = try serve(failing.with(RequestID(), Translate()), "GET", "/")
        #expect(chained.status == "503 Service Unavailable")
        #expect(chained.sentBody == "try again\n")
        #expect(chained.headers.contains { $0.name == "X-Request-Id" })
        let wrapped = try serve(failing.wrapped(in: Translate()).wrapped(in: RequestID()), "GET", "/")
        #expect(wrapped.status == "503 Service Unavailable")
        #expect(wrapped.headers.contains { $0.name == "X-Request-Id" })
    }

    @Test func otherMiddlewaresGetTheAnswerNotTheError() throws {
        struct Observe: Middleware {
            let seen: (String) -> Void
            func respond(to request: Request, with response: ResponseWriter, next: some Responder) throws {
                do { try next.respond(to: request, with: response); seen("returned") } catch { seen("threw") }
            }
        }
        var events: [String] = []
        let server = try serve(App { _, _ in throw HTTPError(.gone) }.with(Observe { events.append($0) }), "GET", "/")
        #expect(server.status == "410 Gone")
        #expect(events == ["returned"])
    }
}
