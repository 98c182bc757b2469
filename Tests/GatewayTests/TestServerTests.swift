import Gateway
import GatewayTesting
import Testing

@Suite struct TestServerTests {
    func echoRouter() -> Router {
        let router = Router()
        router.post("/echo") { request, response in
            var pieces: [String] = []
            var buffer = [UInt8](repeating: 0, count: 100)
            while case let n = try request.read(into: &buffer), n > 0 { pieces.append(String(decoding: buffer[..<n], as: UTF8.self)) }
            try response.respond(headers: ["Content-Type": "text/plain"], body: pieces.joined(separator: "|"))
        }
        router.get("/stream") { _, response in
            try response.start(status: .ok)
            try response.write("a")
            try response.write("b")
        }
        router.get("/length") { _, response in
            try response.start(status: .ok, headers: ["Content-Length": "2"])
            try response.write("ok")
        }
        router.get("/environ") { request, response in
            try response.respond(body: "\(request.path) \(request.query) \(request.header("X-A") ?? "-") \(request.contentLength ?? -1)")
        }
        router.get("/boom") { _, _ in struct Boom: Error {}; throw Boom() }
        router.get("/nocontent") { _, response in try response.respond(status: .noContent, body: "") }
        return router
    }

    @Test func bodyArrivesInItsPieces() {
        let server = TestServer(echoRouter())
        let response = server.execute("POST", "/echo", body: "ab", "cde")
        #expect(response.status == .ok)
        #expect(response.text == "ab|cde")
        #expect(response.headers["content-type"] == "text/plain")
        #expect(response.framing == .contentLength(6))
    }

    @Test func framing() {
        let server = TestServer(echoRouter())
        #expect(server.execute("GET", "/stream").framing == .chunked)
        #expect(server.execute(TestRequest("GET", "/stream", serverProtocol: "HTTP/1.0")).framing == .close)
        #expect(server.execute("GET", "/length").framing == .contentLength(2))
        let head = server.execute("HEAD", "/length")
        #expect(head.framing == .none && head.body.isEmpty)
        #expect(server.execute("GET", "/nocontent").framing == .none)
    }

    @Test func environFromTheTarget() {
        let response = TestServer(echoRouter()).execute("GET", "/environ?x=%41", headers: ["X-A": "1"])
        #expect(response.text == "/environ x=%41 1 -1")
        #expect(TestServer(echoRouter()).execute("GET", "/%65nviron").text.hasPrefix("/environ "))
    }

    @Test func errorsAndLimits() {
        let server = TestServer(echoRouter())
        let boom = server.execute("GET", "/boom")
        #expect(boom.status == .internalServerError)
        #expect(boom.logs.map(\.message) == ["app error: Boom()"])
        #expect(server.execute("GET", "/missing").status == .notFound)
        server.maxBodySize = 3
        let large = server.execute("POST", "/echo", body: "0123456789")
        #expect(large.status == .payloadTooLarge)
        #expect(large.callResult == GATEWAY_ERROR)
    }

    @Test func serverRulesHold() {
        let router = Router()
        router.get("/hop") { _, response in try response.respond(headers: ["Connection": "close"], body: "x") }
        router.get("/past") { _, response in
            try response.start(status: .ok, headers: ["Content-Length": "3"])
            try response.write("ab")
            try response.write("cd")
        }
        router.get("/complete") { _, response in
            try response.start(status: .ok, headers: ["Content-Length": "2"])
            try response.write("ab")
            try response.write("c")
        }
        router.get("/status") { _, response in try response.respond(status: "99 Odd", body: "") }
        // The server refuses a Status header on every protocol (a second CGI Status line over SCGI and FastCGI).
        router.get("/status-header") { _, response in try response.respond(headers: ["Status": "302 Found"], body: "x") }
        let server = TestServer(router)
        let hop = server.execute("GET", "/hop")
        // The refused head is answered with a 500 the SDK writes itself.
        #expect(hop.status == .internalServerError)
        // What a worker logs: the server's reason, its refusal of the SDK's
        // own 500 (a refused start_response stays refused), the SDK's line,
        // and the server's 500.
        #expect(hop.logs.map(\.message) == ["start_response(): hop-by-hop header Connection is the server's to set",
                                            "start_response() after a refused start_response(): the client gets a 500",
                                            "app error: start_response refused the status or a header",
                                            "500 Internal Server Error: the app returned an error"])
        let past = server.execute("GET", "/past")
        #expect(past.framing == .aborted && past.callResult == GATEWAY_ERROR && past.text == "ab")
        let complete = server.execute("GET", "/complete")
        #expect(complete.framing == .contentLength(2) && complete.text == "ab")
        #expect(server.execute("GET", "/status").status == .internalServerError)
        #expect(server.execute("GET", "/status-header").status == .internalServerError)
    }

    struct Booted: Application {
        let greeting: String
        init(arguments: Arguments) throws { greeting = try arguments.require("greeting") }
        func respond(to request: Request, with response: ResponseWriter) throws {
            try response.respond(body: greeting)
        }
    }

    @Test func bootsAnApplicationFromArguments() throws {
        #expect(try TestServer(Booted.self, arguments: ["greeting": "hi"]).execute("GET", "/").text == "hi")
        #expect(throws: GatewayError.missingArgument("greeting")) { try TestServer(Booted.self) }
    }
}
