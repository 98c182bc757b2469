import GatewayTesting
import Testing
@testable import TodoApp

/// The todo API through GatewayTesting: no gatewayd, the app as exported
/// (its middleware included).
@Suite struct TodoAppTests {
    func server(_ arguments: [(String, String)] = []) throws -> TestServer {
        TestServer(try TodoApp.make(arguments: Arguments(arguments)))
    }

    let json: Headers = ["Content-Type": "application/json"]

    @Test func crud() throws {
        let server = try server()
        #expect(server.execute("GET", "/todos").text == "[]")
        let created = server.execute("POST", "/todos", headers: json, body: #"{"title":"milk"}"#)
        #expect(created.status == .created)
        #expect(created.headers["Location"] == "/todos/1")
        #expect(created.headers["X-Request-Id"] != nil)
        #expect(created.text.contains(#""title":"milk""#))
        #expect(server.execute("GET", "/todos/1").text.contains(#""done":false"#))
        let patched = server.execute("PATCH", "/todos/1", headers: json, body: #"{"done":true}"#)
        #expect(patched.text.contains(#""done":true"#) && patched.text.contains("milk"))
        let put = server.execute("PUT", "/todos/1", headers: json, body: #"{"title":"eggs","done":false}"#)
        #expect(put.text.contains("eggs"))
        #expect(server.execute("PUT", "/todos/1", headers: json, body: #"{"title":"eggs"}"#).status == .badRequest)
        let deleted = server.execute("DELETE", "/todos/1")
        #expect(deleted.status == .noContent && deleted.framing == .none)
        #expect(server.execute("GET", "/todos/1").status == .notFound)
    }

    @Test func errorsAreJSONProblemsWithTheRequestID() throws {
        let server = try server()
        let missing = server.execute("GET", "/todos/9", headers: ["X-Request-Id": "req-1"])
        #expect(missing.status == .notFound)
        #expect(missing.headers["Content-Type"] == "application/problem+json")
        #expect(missing.headers["X-Request-Id"] == "req-1")
        #expect(missing.text.contains("no todo 9"))
        #expect(server.execute("GET", "/todos/x").status == .badRequest)
        #expect(server.execute("POST", "/todos", headers: json, body: "{").status == .badRequest)
        #expect(server.execute("POST", "/todos", headers: json, body: #"{"title":""}"#).status.code == 422)
        let wrongMethod = server.execute("POST", "/todos/1")
        #expect(wrongMethod.status == .methodNotAllowed)
        #expect(wrongMethod.headers["Allow"] == "DELETE, GET, HEAD, PATCH, PUT")
    }

    @Test func bodyLimitIsA413() throws {
        let server = try server([("max_body", "64")])
        let title = String(repeating: "a", count: 100)
        let response = server.execute("POST", "/todos", headers: json, body: #"{"title":""#, title, #""}"#)
        #expect(response.status == .payloadTooLarge)
        #expect(response.headers["X-Request-Id"] != nil)
    }

    @Test func streamsTheListAsJSONLines() throws {
        let server = try server([("seed", "3")])
        let response = server.execute("GET", "/todos/stream")
        #expect(response.framing == .chunked)
        #expect(response.text.split(separator: "\n").count == 3)
        #expect(server.execute("HEAD", "/todos/stream").body.isEmpty)
    }

    @Test func logsEachRequest() throws {
        let response = try server().execute("POST", "/todos", headers: json.merging(["X-Request-Id": "r2"]), body: #"{"title":"a"}"#)
        #expect(response.logs.map(\.message) == [
            "created method=POST path=/todos request_id=r2 todo=1",
            "response method=POST path=/todos request_id=r2 status=201",
        ])
    }

    @Test func aBadArgumentFailsTheBoot() {
        #expect(throws: GatewayError.invalidArgument(name: "max_body", value: "lots")) {
            try TodoApp(arguments: Arguments([("max_body", "lots")]))
        }
        #expect(throws: GatewayError.invalidArgument(name: "max_body", value: "0")) {
            try TodoApp(arguments: Arguments([("max_body", "0")]))
        }
    }
}

extension Headers {
    func merging(_ other: Headers) -> Headers { Headers((fields + other.fields).map { ($0.name, $0.value) }) }
}
